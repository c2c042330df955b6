import { join } from "node:path";
import type { Command } from "commander";
import { parseHeaders } from "../codegen/source.js";
import { ComfyClient } from "../runtime/client.js";
import type { JobResult } from "../runtime/job.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import type { CliIo } from "./io.js";
import { loadPromptFile, loadWorkflowModule, parseParams } from "./load.js";
import { progressMode, showProgress } from "./progress.js";
import { isPlainWorkflow } from "../builder/define-workflow.js";
import { tryParseComfyuiVersion } from "../protocol/comfyui-version.js";

interface RunFlags {
  server: string;
  header: string[];
  param: string[];
  out: string;
  json?: boolean;
  fresh?: boolean;
  timeout?: string;
  validate: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Runs one workflow file or prompt file on a server with progress, saving its outputs. */
export async function runFile(
  file: string,
  client: ComfyClient,
  flags: Omit<RunFlags, "server" | "header"> & {
    schema?: NodeSchema;
    comfyuiVersion?: string;
    signal?: AbortSignal;
  },
  io: CliIo,
  label = file,
): Promise<{ result: JobResult; saved: string[] }> {
  const isJson = file.endsWith(".json");
  const source = isJson ? await loadPromptFile(file) : await loadWorkflowModule(file);
  const params =
    !isJson && !isPlainWorkflow(source as never)
      ? parseParams(
          flags.param,
          (source as { paramsJsonSchema(): Record<string, unknown> }).paramsJsonSchema(),
        )
      : {};
  const timeout = flags.timeout ? Number(flags.timeout) : undefined;
  const job = client.submit(source, {
    params,
    compile: {
      validate: flags.validate !== false,
      ...(flags.schema ? { schema: flags.schema } : {}),
      ...(flags.comfyuiVersion ? { comfyuiVersion: flags.comfyuiVersion } : {}),
    },
    ...(flags.fresh ? { fresh: true } : {}),
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
  } finally {
    stop();
  }
}

/** `comfyc run`: submit, follow, save. */
export function registerRun(program: Command, io: CliIo): void {
  program
    .command("run")
    .description(
      "Run a workflow file or API-format prompt on a ComfyUI server and save its outputs",
    )
    .argument("<file>", "a workflow .ts/.js (default export) or a prompt .json")
    .option(
      "--server <url>",
      "ComfyUI server",
      process.env["COMFYUI_URL"] ?? "http://127.0.0.1:8188",
    )
    .option("--header <header>", 'extra HTTP header "Name: value" (repeatable)', collect, [])
    .option("--param <name=value>", "a workflow parameter (repeatable)", collect, [])
    .option("--out <dir>", "where to save outputs", "out")
    .option("--json", "JSON lines on stdout instead of progress bars")
    .option("--fresh", "re-execute every node even if an identical prompt ran before")
    .option("--timeout <ms>", "fail (and cancel) when queued or running longer than this")
    .option("--no-validate", "skip offline validation before submitting")
    .action(async (file: string, flags: RunFlags) => {
      const client = new ComfyClient({ url: flags.server, headers: parseHeaders(flags.header) });
      // Ctrl-C cancels the job on the server (dequeue or interrupt) before exiting; a second
      // Ctrl-C exits at once.
      const cancel = new AbortController();
      const onSignal = () => {
        if (cancel.signal.aborted) process.exit(130);
        io.warn("Cancelling the job on the server (Ctrl-C again to quit at once)…");
        cancel.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        // Validate a workflow against what this server has (its model files, its version's
        // rules), not only the schema the node classes were generated from.
        const server =
          flags.validate !== false && !file.endsWith(".json") ? await serverSchema(client) : {};
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
): Promise<{ schema: NodeSchema; comfyuiVersion?: string }> {
  const [raw, stats] = await Promise.all([client.objectInfo(), client.systemStats()]);
  // A server reporting something that is not a version gets the newest rules.
  const version = tryParseComfyuiVersion(stats.system.comfyui_version)?.text;
  return {
    schema: normalizeObjectInfo(raw, client.http.baseUrl.origin),
    ...(version ? { comfyuiVersion: version } : {}),
  };
}
