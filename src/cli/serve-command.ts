import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ComfycError, ioError } from "../errors.js";
import { appliedComfyuiRelease } from "../protocol/comfyui-version.js";
import {
  DEFAULT_COMFYUI_VERSION,
  MODEL_FOLDERS,
  startTestServer,
  type TestServer,
} from "../testing/app.js";
import { ensureWritableDir } from "./files.js";
import type { CliIo } from "./io.js";
import {
  collect,
  comfyuiVersionOption,
  didYouMean,
  millisecondsOption,
  portOption,
  usageError,
} from "./options.js";

interface ServeFlags {
  objectInfo?: string;
  port: number;
  host: string;
  nodeDuration?: number;
  previews?: boolean;
  dataDir?: string;
  models: string[];
  modelsFile?: string;
  comfyuiVersion?: string;
  tlsKeyfile?: string;
  tlsCertfile?: string;
}

function readTls(flags: ServeFlags): { key: Buffer; cert: Buffer } {
  if (!flags.tlsKeyfile || !flags.tlsCertfile)
    throw usageError(
      "--tls-keyfile and --tls-certfile go together",
      "Pass both PEM files: --tls-keyfile key.pem --tls-certfile cert.pem.",
    );
  const read = (path: string) => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw ioError(path, cause);
    }
  };
  return { key: read(flags.tlsKeyfile), cert: read(flags.tlsCertfile) };
}

/** Model files per folder, as `startTestServer({ models })` takes them. */
export type ModelFiles = Record<string, string[]>;

function checkFolder(folder: string, source: string): void {
  if ((MODEL_FOLDERS as readonly string[]).includes(folder)) return;
  const guess = didYouMean(folder, MODEL_FOLDERS);
  throw usageError(
    `${source}: "${folder}" is not a ComfyUI model folder${guess ? ` (did you mean "${guess}"?)` : ""}`,
    `Model folders: ${MODEL_FOLDERS.join(", ")}.`,
  );
}

/**
 * Parses `--models <folder>=<file>[,<file>]…` values (repeatable, merged) into files per model
 * folder, e.g. `checkpoints=v1-5-pruned-emaonly.safetensors,sdxl.safetensors`.
 *
 * @throws ComfycError `USAGE` for a malformed value or an unknown folder (with "did you mean").
 */
export function parseModelsFlags(values: readonly string[]): ModelFiles {
  const out: ModelFiles = {};
  for (const value of values) {
    const i = value.indexOf("=");
    const folder = value.slice(0, i).trim();
    const files = value
      .slice(i + 1)
      .split(",")
      .map((f) => f.trim())
      .filter(Boolean);
    if (i <= 0 || files.length === 0)
      throw usageError(
        `--models ${JSON.stringify(value)} is not <folder>=<file>[,<file>]…`,
        "For example --models checkpoints=v1-5-pruned-emaonly.safetensors,sdxl.safetensors --models loras=detail.safetensors.",
      );
    checkFolder(folder, "--models");
    out[folder] = [...new Set([...(out[folder] ?? []), ...files])];
  }
  return out;
}

/**
 * Reads a models file: a JSON object of file lists per model folder, as ComfyUI's
 * `GET /models/{folder}` lists them (`{ "checkpoints": ["a.safetensors"], "loras": [] }`).
 *
 * @throws ComfycError `IO_ERROR` when unreadable, `USAGE` when not that shape.
 */
export function readModelsFile(path: string): ModelFiles {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code) throw ioError(path, cause);
    throw usageError(
      `--models-file ${path} is not valid JSON: ${(cause as Error).message}`,
      'Write a JSON object of file lists per model folder: { "checkpoints": ["a.safetensors"] }.',
    );
  }
  const shape =
    'Write a JSON object of file lists per model folder: { "checkpoints": ["a.safetensors"] }.';
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw usageError(`--models-file ${path} is not a JSON object`, shape);
  const out: ModelFiles = {};
  for (const [folder, files] of Object.entries(raw)) {
    checkFolder(folder, `--models-file ${path}`);
    if (!Array.isArray(files) || !files.every((f) => typeof f === "string" && f.length > 0))
      throw usageError(`--models-file ${path}: "${folder}" is not a list of file names`, shape);
    out[folder] = [...new Set(files as string[])];
  }
  return out;
}

/** What a failure to listen means for the person who typed the command. */
function listenError(flags: ServeFlags, cause: unknown): ComfycError | undefined {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const where = `${flags.host}:${flags.port}`;
  if (code === "EADDRINUSE")
    return new ComfycError(
      "USAGE",
      `Cannot listen on ${where}: the port is in use${flags.port === 8188 ? " (8188 is where ComfyUI itself usually runs)" : ""}`,
      "Pick another port with --port <n>, or --port 0 for any free one (the URL is printed on stdout).",
      { cause },
    );
  if (code === "EACCES" || code === "EPERM")
    return new ComfycError(
      "USAGE",
      `Cannot listen on ${where}: permission denied`,
      "Ports below 1024 need privileges; use --port 8188 or --port 0.",
      { cause },
    );
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN")
    return new ComfycError(
      "USAGE",
      `Cannot listen on ${where}: this machine has no address ${flags.host}`,
      "Use --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface).",
      { cause },
    );
  return undefined;
}

/** `comfyc serve`: the ComfyUI-compatible test server, until interrupted. */
export function registerServe(program: Command, io: CliIo): void {
  program
    .command("serve")
    .description("Start the ComfyUI-compatible test server (no GPU) until Ctrl-C")
    .option("--object-info <file>", "schema to serve (default: the bundled real dump)")
    .option("--port <n>", "port (0 picks a free one)", portOption("--port"), 8188)
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option(
      "--node-duration <ms>",
      "time each node takes",
      millisecondsOption("--node-duration", 0, 50),
    )
    .option("--previews", "send sampler previews")
    .option(
      "--data-dir <dir>",
      "where input/output/temp live (default: a temp folder, removed on exit)",
    )
    .option(
      "--models <folder=files>",
      "model files to list, e.g. checkpoints=a.safetensors,b.safetensors (repeatable)",
      collect,
      [],
    )
    .option(
      "--models-file <file.json>",
      'model files per folder as JSON: { "checkpoints": ["a.safetensors"] }',
    )
    .option("--tls-keyfile <file>", "serve HTTPS/WSS with this PEM key (with --tls-certfile)")
    .option("--tls-certfile <file>", "the PEM certificate for --tls-keyfile")
    .option(
      "--comfyui-version <version>",
      `behave like and report this ComfyUI release (default ${DEFAULT_COMFYUI_VERSION})`,
      comfyuiVersionOption(io),
    )
    .action(async (flags: ServeFlags) => {
      const models = parseModelsFlags(flags.models);
      if (flags.modelsFile)
        for (const [folder, files] of Object.entries(readModelsFile(flags.modelsFile)))
          models[folder] = [...new Set([...(models[folder] ?? []), ...files])];
      // Created here, one level at a time: the server's own recursive mkdir would spin forever
      // on a path such as /proc/x.
      if (flags.dataDir) ensureWritableDir(flags.dataDir, "--data-dir");
      let server: TestServer;
      try {
        server = await startTestServer({
          port: flags.port,
          host: flags.host,
          ...(flags.objectInfo ? { objectInfo: flags.objectInfo } : {}),
          ...(flags.nodeDuration !== undefined ? { nodeDurationMs: flags.nodeDuration } : {}),
          ...(flags.previews ? { previews: true } : {}),
          ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
          ...(Object.keys(models).length ? { models } : {}),
          ...(flags.comfyuiVersion ? { comfyuiVersion: flags.comfyuiVersion } : {}),
          ...(flags.tlsKeyfile || flags.tlsCertfile ? { tls: readTls(flags) } : {}),
        });
      } catch (cause) {
        throw listenError(flags, cause) ?? cause;
      }
      const modelCount = Object.values(models).reduce((n, files) => n + files.length, 0);
      io.info(
        `comfyc test server listening on ${server.url} (${describeBehaviour(server.comfyuiVersion)}, ${server.schema.classes.size} node classes` +
          `${modelCount ? `, ${modelCount} model files` : ""}; files in ${server.folders.root})`,
      );
      io.out(server.url);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
    });
}

/** "ComfyUI 0.3.64 behaviour", or for a release comfyc does not model, whose behaviour it has. */
function describeBehaviour(version: string): string {
  const applied = appliedComfyuiRelease(version);
  return applied === version
    ? `ComfyUI ${version} behaviour`
    : `reports ComfyUI ${version}, behaves like ${applied}`;
}
