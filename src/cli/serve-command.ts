import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ComfycError, ioError } from "../errors.js";
import { DEFAULT_COMFYUI_VERSION, startTestServer } from "../testing/app.js";
import type { CliIo } from "./io.js";
import { parseComfyuiVersion } from "../protocol/comfyui-version.js";

interface ServeFlags {
  objectInfo?: string;
  port: string;
  host: string;
  nodeDuration?: string;
  previews?: boolean;
  dataDir?: string;
  tlsKeyfile?: string;
  tlsCertfile?: string;
  comfyuiVersion?: string;
}

function readTls(flags: ServeFlags): { key: Buffer; cert: Buffer } {
  if (!flags.tlsKeyfile || !flags.tlsCertfile)
    throw new ComfycError(
      "USAGE",
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

/** `comfyc serve`: the ComfyUI-compatible test server, until interrupted. */
export function registerServe(program: Command, io: CliIo): void {
  program
    .command("serve")
    .description("Start the ComfyUI-compatible test server (no GPU) until Ctrl-C")
    .option("--object-info <file>", "schema to serve (default: the bundled real dump)")
    .option("--port <n>", "port (0 picks a free one)", "8188")
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option("--node-duration <ms>", "time each node takes")
    .option("--previews", "send sampler previews")
    .option("--data-dir <dir>", "where input/output/temp live (default: a temp folder)")
    .option("--tls-keyfile <file>", "serve HTTPS/WSS with this PEM key (with --tls-certfile)")
    .option("--tls-certfile <file>", "the PEM certificate for --tls-keyfile")
    .option(
      "--comfyui-version <version>",
      `behave like and report this ComfyUI release (default ${DEFAULT_COMFYUI_VERSION})`,
      (v: string) => parseComfyuiVersion(v, "--comfyui-version").text,
    )
    .action(async (flags: ServeFlags) => {
      const server = await startTestServer({
        port: Number(flags.port),
        host: flags.host,
        ...(flags.objectInfo ? { objectInfo: flags.objectInfo } : {}),
        ...(flags.nodeDuration ? { nodeDurationMs: Number(flags.nodeDuration) } : {}),
        ...(flags.previews ? { previews: true } : {}),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.comfyuiVersion ? { comfyuiVersion: flags.comfyuiVersion } : {}),
        ...(flags.tlsKeyfile || flags.tlsCertfile ? { tls: readTls(flags) } : {}),
      });
      io.info(
        `comfyc test server listening on ${server.url} (ComfyUI ${server.comfyuiVersion} behaviour, ${server.schema.classes.size} node classes; files in ${server.folders.root})`,
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
