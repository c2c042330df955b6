import { basename, extname, join } from "node:path";
import { Option, type Command } from "commander";
import { parseHeaders } from "../codegen/source.js";
import type { ComfyClient } from "../runtime/client.js";
import type { JobResult } from "../runtime/job.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import type { CliIo } from "./io.js";
import { loadWorkflowModule, parseParams } from "./load.js";
import { partialTargets, promptAndBodyFromWorkflowFile } from "./workflow-input.js";
import { progressMode, showProgress } from "./progress.js";
import { isPlainWorkflow } from "../builder/define-workflow.js";
import type { CompileReport } from "../builder/types.js";
import { compileLoaded } from "./compile-command.js";
import { ComfycError, isComfycError } from "../errors.js";
import type { CancelOutcome } from "../runtime/job.js";
import { DEFAULT_UNREACHABLE_TIMEOUT_MS } from "../runtime/tracker.js";
import { ensureWritableDir } from "./files.js";
import {
  collect,
  millisecondsOption,
  noteServerComfyuiVersion,
  serverUrlOption,
} from "./options.js";
import { readServerSchema, serverClient } from "./schema-source.js";

/** How long `comfyc run` waits after Ctrl-C or SIGTERM before exiting anyway. */
export const SIGNAL_GRACE_MS = 10_000;

interface RunFlags {
  unreachableTimeout?: number;
  api?: string;
  token?: string;
  server: string;
  /** `--url`, a hidden synonym of `--server` (codegen, validate, import and convert say `--url`). */
  url?: string;
  header: string[];
  param: string[];
  out: string;
  json?: boolean;
  fresh?: boolean;
  timeout?: number;
  validate: boolean;
}

/** How progress lines name a file: `sd15-txt2img` for `./examples/sd15-txt2img.ts`. */
export function runLabel(file: string): string {
  return basename(file, extname(file));
}

/**
 * Runs one workflow file or prompt file on a server with progress, saving its outputs. Every
 * local check comes first (the file, its parameters, the output folder), then the server's
 * schema is read (unless `schema` is given or validation is off), then the job is submitted.
 */
export async function runFile(
  file: string,
  client: ComfyClient,
  flags: Omit<RunFlags, "server" | "header"> & {
    schema?: NodeSchema;
    comfyuiVersion?: string;
    signal?: AbortSignal;
  },
  io: CliIo,
  label = runLabel(file),
): Promise<{ result: JobResult; saved: string[] }> {
  // Anything that is not a module is data: an API prompt, an editor workflow or an image,
  // converted with this server's own node definitions.
  const workflow = /\.[cm]?[jt]sx?$/i.test(file) ? await loadWorkflowModule(file) : undefined;
  const params = parseParams(
    flags.param,
    workflow && !isPlainWorkflow(workflow) ? workflow.paramsJsonSchema() : undefined,
    file,
  );
  const data = workflow
    ? undefined
    : await promptAndBodyFromWorkflowFile(
        file,
        async () => ({
          schema:
            flags.schema ??
            normalizeObjectInfo(await client.objectInfo(), client.http.baseUrl.origin),
          label: `the server's /object_info (${client.http.baseUrl.origin})`,
        }),
        io,
        // Any JSON object of objects goes to the server, which answers for it as for any prompt.
        { apiPrompt: "server" },
      );
  const prompt = data?.prompt;
  // A saved POST /prompt body runs the outputs its partial_execution_targets names, as posted.
  const targets = data && partialTargets(data.body, data.prompt, file);
  // Before the job runs, not after: a finished job whose outputs cannot be saved is lost work.
  ensureWritableDir(flags.out, "--out");
  // Validate a workflow against what this server has (its model files, its version's rules),
  // not only the schema the node classes were generated from.
  const server =
    flags.schema || flags.validate === false || !workflow ? {} : await serverSchema(client, io);
  // Compiled here, before anything is sent: the runtime takes compiled prompts only.
  const source: Record<string, unknown> | CompileReport =
    prompt ?? compileLoaded(file, workflow!, params, { ...flags, ...server });
  const timeout = flags.timeout;
  const job = client.submit(source, {
    ...(flags.fresh ? { fresh: true } : {}),
    ...(targets ? { partialExecutionTargets: targets } : {}),
    ...(timeout ? { timeouts: { runMs: timeout, queueMs: timeout } } : {}),
    ...(flags.signal ? { signal: flags.signal } : {}),
  });
  const titles = (id: string) =>
    String(
      (job.prompt[id] as { _meta?: { title?: unknown }; class_type?: unknown } | undefined)?._meta
        ?.title ??
        (job.prompt[id] as { class_type?: unknown } | undefined)?.class_type ??
        id,
    );
  const stop = showProgress(job, label, progressMode(flags.json === true), io, titles);
  try {
    const result = await job.result();
    const saved = await client.saveOutputs(result, flags.out);
    return { result, saved };
  } catch (e) {
    // A timeout or a cancel stops the prompt on the server too; say whether that worked
    // before exiting (the outcome settles within the client's cancel budget).
    // (A cancel the job itself ended on, CANCEL_UNDELIVERED, says so in its own error.)
    const outcome = job.cancelOutcome ? await job.cancelOutcome : undefined;
    if (outcome && !isComfycError(e, "CANCEL_UNDELIVERED")) reportCancel(outcome, client, io);
    throw e;
  } finally {
    stop();
  }
}

/** One line on what a cancel did on the server. */
function reportCancel(outcome: CancelOutcome, client: ComfyClient, io: CliIo): void {
  const server = client.http.baseUrl.origin;
  switch (outcome.state) {
    case "dequeued":
      return io.info(`The job was removed from ${server}'s queue.`);
    case "interrupted":
      return io.info(`The job was interrupted on ${server}.`);
    case "not-submitted":
      return io.info("The job was never sent to the server.");
    case "finished":
      return;
    case "undelivered":
      return io.warn(
        `Could not cancel the job on ${server}: ${outcome.error.message.split("\n")[0]}. It may still run there.`,
      );
  }
}

/** `comfyc run`: submit, follow, save. */
export function registerRun(program: Command, io: CliIo): void {
  program
    .command("run")
    .description(
      "Run a workflow file or API-format prompt on a ComfyUI server and save its outputs",
    )
    .argument(
      "<file>",
      "a workflow .ts/.js (default export), a prompt or editor workflow .json, or an image ComfyUI saved",
    )
    .addOption(
      new Option("--server <url>", "ComfyUI server; without it, $COMFYUI_URL")
        .env("COMFYUI_URL")
        .default("http://127.0.0.1:8188")
        .argParser(serverUrlOption("--server")),
    )
    .addOption(new Option("--url <url>").hideHelp().argParser(serverUrlOption("--url")))
    .option("--header <header>", 'extra HTTP header "Name: value" (repeatable)', collect, [])
    .option(
      "--api <api>",
      "job API: classic (ComfyUI's /prompt, WebSocket, /history) or v2 (Comfy API v2: /api/v2/jobs, SSE, assets)",
      "classic",
    )
    .option("--token <token>", "bearer token (Authorization: Bearer …; default $COMFY_API_KEY)")
    .option("--param <name=value>", "a workflow parameter (repeatable)", collect, [])
    .option("--out <dir>", "where to save outputs", "out")
    .option("--json", "JSON lines on stdout instead of progress bars")
    .option("--fresh", "re-execute every node even if an identical prompt ran before")
    .option(
      "--timeout <ms>",
      "fail (and cancel) when queued or running longer than this",
      millisecondsOption("--timeout"),
    )
    .option("--no-validate", "skip offline validation before submitting")
    .option(
      "--unreachable-timeout <ms>",
      `give up when the server has not answered for this long while the job runs (default ${DEFAULT_UNREACHABLE_TIMEOUT_MS})`,
      millisecondsOption("--unreachable-timeout"),
    )
    .action(async (file: string, flags: RunFlags, command: Command) => {
      if (flags.url !== undefined) {
        if (command.getOptionValueSource("server") === "cli" && flags.server !== flags.url)
          throw new ComfycError(
            "USAGE",
            `--url ${flags.url} and --server ${flags.server} name different servers`,
            "Give one of them: --server <url> (--url is the same flag, as in codegen and validate).",
          );
        flags.server = flags.url;
      }
      flags.api ??= "classic";
      if (flags.api !== "classic" && flags.api !== "v2")
        throw new ComfycError(
          "USAGE",
          `--api ${flags.api}: not a job API`,
          "Use --api classic (ComfyUI's own routes, the default) or --api v2 (Comfy API v2).",
        );
      const token = flags.token ?? process.env["COMFY_API_KEY"];
      const client = serverClient(flags.server, parseHeaders(flags.header), {
        api: flags.api,
        ...(token ? { auth: { bearer: token } } : {}),
        ...(flags.unreachableTimeout ? { unreachableTimeoutMs: flags.unreachableTimeout } : {}),
      });
      // Ctrl-C or SIGTERM cancels the job on the server (dequeue or interrupt) and exits once
      // that is done or known to have failed: within the cancel budget, and at the latest after
      // SIGNAL_GRACE_MS. A second signal exits at once.
      const cancel = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        const code = signal === "SIGTERM" ? 143 : 130;
        if (cancel.signal.aborted) process.exit(code);
        io.warn(`Cancelling the job on the server (${signal} again to quit at once)…`);
        cancel.abort();
        setTimeout(() => {
          io.error(`Gave up waiting for the cancel after ${SIGNAL_GRACE_MS} ms.`);
          process.exit(code);
        }, SIGNAL_GRACE_MS).unref();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        // Validate a workflow against what this server has (its model files, its version's
        // rules), not only the schema the node classes were generated from.
        // Comfy API v2 deployments serve no /object_info: the workflow's own schema is used.
        const server =
          flags.validate !== false && flags.api === "classic" && /\.[cm]?[jt]sx?$/.test(file)
            ? await serverSchema(client, io)
            : {};
        const { result, saved } = await runFile(
          file,
          client,
          { ...flags, ...server, signal: cancel.signal },
          io,
        );
        if (flags.json)
          io.out(
            JSON.stringify({
              event: "run.done",
              promptId: result.promptId,
              files: saved,
              texts: result.texts,
            }),
          );
        else {
          io.info(
            `Done: ${result.promptId}${result.cachedNodes.length ? ` (${result.cachedNodes.length} cached nodes)` : ""}`,
          );
          for (const path of saved) io.out(path);
          for (const [node, texts] of Object.entries(result.texts))
            io.out(`text from node ${node}: ${texts.join(" | ")}`);
          if (saved.length === 0 && Object.keys(result.texts).length === 0)
            io.info(`No files; nothing saved to ${join(flags.out)}`);
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await client.close();
      }
    });
}

/** The server's normalized `/object_info` and the version it reports. */
async function serverSchema(
  client: ComfyClient,
  io: CliIo,
): Promise<{ schema: NodeSchema; comfyuiVersion?: string }> {
  const { raw, comfyuiVersion } = await readServerSchema(client);
  noteServerComfyuiVersion(comfyuiVersion, client.http.baseUrl.origin, io);
  return {
    schema: normalizeObjectInfo(raw, client.http.baseUrl.origin),
    ...(comfyuiVersion ? { comfyuiVersion } : {}),
  };
}
