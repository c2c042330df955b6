import cliProgress from "cli-progress";
import type { Job, JobEvent } from "../runtime/job.js";
import type { CliIo } from "./io.js";

/** How `comfyc run` shows a job: bars on a terminal, plain lines otherwise, JSON lines with --json. */
export type ProgressMode = "bars" | "lines" | "json";

/** Picks the mode: `--json` wins, then whether stderr is a terminal. */
export function progressMode(
  json: boolean,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressMode {
  return json ? "json" : stream.isTTY ? "bars" : "lines";
}

/**
 * Follows a job's events for a person or a log: nodes done of total, the current node and
 * sampler steps. Returns a function that stops the display.
 */
export function showProgress(
  job: Job,
  label: string,
  mode: ProgressMode,
  io: CliIo,
  titles: (nodeId: string) => string,
  /** Where bars are drawn (a terminal). */
  stream: NodeJS.WritableStream = process.stderr,
): () => void {
  const total = Object.keys(job.prompt).length;
  let done = 0;
  let cached = 0;
  const describe = (node: string | undefined) => (node ? `${titles(node)} #${node}` : "");
  if (mode === "json") {
    const listener = (e: JobEvent) => io.out(JSON.stringify(jsonEvent(label, job.promptId, e)));
    job.on("event", listener);
    return () => job.off("event", listener);
  }
  if (mode === "lines") {
    const listener = (e: JobEvent) => {
      if (e.type === "executing")
        io.info(`[${label}] node ${describe(e.node)} (${++done + cached}/${total})`);
      if (e.type === "cached") {
        cached = e.nodes.length;
        if (cached) io.info(`[${label}] ${cached} node(s) cached`);
      }
      if (
        e.type === "progress" &&
        (e.value === e.max || e.value % Math.max(1, Math.round(e.max / 4)) === 0)
      ) {
        io.info(`[${label}]   step ${e.value}/${e.max}`);
      }
      if (e.type === "queued") io.info(`[${label}] queued as ${job.promptId}`);
      if (e.type === "blocked")
        io.warn(`[${label}] node ${describe(e.node)} blocked: ${e.message}`);
    };
    job.on("event", listener);
    return () => job.off("event", listener);
  }
  const bars = new cliProgress.MultiBar(
    {
      format: " {label} |{bar}| {value}/{total} {what}",
      hideCursor: true,
      clearOnComplete: false,
      stream,
    },
    cliProgress.Presets.shades_classic,
  );
  const nodes = bars.create(total, 0, { label: label.padEnd(14).slice(0, 14), what: "nodes" });
  let steps: cliProgress.SingleBar | undefined;
  const listener = (e: JobEvent) => {
    if (e.type === "cached") {
      cached = e.nodes.length;
      nodes.update(done + cached);
    }
    if (e.type === "executing") {
      done++;
      nodes.update(Math.min(total, done + cached - 1), { what: describe(e.node) });
    }
    if (e.type === "progress") {
      steps ??= bars.create(e.max, 0, { label: "  steps".padEnd(14), what: "" });
      steps.setTotal(e.max);
      steps.update(e.value, { what: describe(e.node) });
    }
    // On failure the count stays where the job stopped.
    if (e.type === "success") nodes.update(total, { what: "done" });
    if (e.type === "error" || e.type === "interrupted") nodes.update({ what: e.type });
  };
  job.on("event", listener);
  return () => {
    job.off("event", listener);
    bars.stop();
  };
}

function jsonEvent(label: string, promptId: string, e: JobEvent): Record<string, unknown> {
  const base = { event: `job.${e.type}`, workflow: label, promptId };
  switch (e.type) {
    case "preview":
      return { ...base, node: e.node, mime: e.mime, bytes: e.image.length };
    case "success":
      return { ...base, files: e.result.files.length };
    case "error":
      return { ...base, code: e.error.code, message: e.error.message };
    default: {
      const { type: _type, ...rest } = e as Record<string, unknown>;
      return { ...base, ...rest };
    }
  }
}
