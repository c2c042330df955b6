import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import type { ApiPrompt, CompileReport, SourceLocation } from "../builder/types.js";
import type { CompileOptions } from "../builder/workflow.js";
import { ComfycError } from "../errors.js";
import type { NodeContext } from "../protocol/describe-errors.js";
import type { FileRef, UploadReply } from "../protocol/messages.js";
import { checkDurations } from "./durations.js";
import { InputUploads, readFileRef, readLocal, saveAll, saveFileRef } from "./files.js";
import { Http, type HttpOptions } from "./http.js";
import type { Job, JobLogLine, JobResult } from "./job.js";
import { Routes, type RouteOptions } from "./routes.js";
import { Tracker, type AttachOptions, type PreparedPrompt, type SubmitOptions } from "./tracker.js";
import { V2Jobs } from "./v2.js";

/** Settings of a {@link ComfyClient}. */
export interface ClientOptions extends HttpOptions {
  /**
   * Which job API to use: `"classic"` (the default) is ComfyUI's own `POST /prompt`, WebSocket
   * and `/history`; `"v2"` is Comfy API v2 (`POST /api/v2/jobs`, `GET /api/v2/jobs/{id}`, SSE
   * events, `…/cancel`, outputs as assets), served by Comfy Cloud, serverless deployments and
   * the self-hosted proxy in front of a ComfyUI. Authenticate with `auth: { bearer }`. The
   * typed routes (`objectInfo()`, `queue()`, …) stay ComfyUI's own.
   */
  readonly api?: "classic" | "v2";
  /** The WebSocket client id (default: a fresh UUID per client). */
  readonly clientId?: string;
  /** WebSocket reconnect delays, exponential with jitter. */
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /** How often to check `/queue` for jobs whose socket is silent or gone (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** After how long without a message a running job is checked over HTTP (default 3000 ms). */
  readonly silenceMs?: number;
  /**
   * How long the server may stay silent (no HTTP reply, no WebSocket frame) while jobs are in
   * flight before they fail with `SERVER_GONE` (default 60000 ms). Long enough for a restart;
   * jobs of a server that died for good never wait forever.
   */
  readonly unreachableTimeoutMs?: number;
  /**
   * The budget for delivering a cancel (dequeue or interrupt), in ms (default 5000), on our
   * clock: every request of a cancel, and a cancel's wait for the reply to a pending
   * `POST /prompt`, run under it. A cancel not delivered within it resolves `undelivered`
   * (`TIMEOUT`) and ends the job `failed` with `CancelUndeliveredError`.
   */
  readonly cancelTimeoutMs?: number;
  /** Receives one JSON-ready line per job phase (queued, running, done, failed). */
  readonly onLog?: (line: JobLogLine) => void;
}

/** What {@link ComfyClient.submit} takes: an API-format prompt or the builder's compile report. */
export type Submittable = ApiPrompt | CompileReport | Readonly<Record<string, unknown>>;

/** Settings of {@link ComfyClient.run}: a submission, plus how to compile a workflow. */
export interface RunOptions extends SubmitOptions {
  /** Parameters of a parameterized workflow. */
  readonly params?: Record<string, unknown>;
  /** How to compile a builder workflow (validation is on by default). */
  readonly compile?: CompileOptions;
}

/**
 * A client for one ComfyUI server: the typed routes (inherited from {@link Routes}), files, and
 * jobs followed over one shared WebSocket with `/history` as the source of truth.
 *
 * @example
 * const client = new ComfyClient({ url: "http://127.0.0.1:8188" });
 * const job = client.submit(wf.compileWithReport());
 * job.on("progress", (e) => console.log(e.value, "/", e.max));
 * const result = await job.result();
 * await client.saveOutputs(result, "out");
 * await client.close();
 */
export class ComfyClient extends Routes {
  readonly clientId: string;
  /** Which job API this client uses (see {@link ClientOptions.api}). */
  readonly api: "classic" | "v2";
  readonly #tracker: Pick<Tracker, "submit" | "attach" | "jobs" | "close">;
  readonly #uploads: InputUploads;
  #closed = false;

  constructor(options: ClientOptions) {
    checkDurations(options, [
      "timeoutMs",
      "pollIntervalMs",
      "silenceMs",
      "unreachableTimeoutMs",
      "cancelTimeoutMs",
    ]);
    super(new Http(options));
    this.clientId = options.clientId ?? randomUUID();
    this.#uploads = new InputUploads(this);
    this.api = options.api ?? "classic";
    if (this.api !== "classic" && this.api !== "v2")
      throw new ComfycError(
        "USAGE",
        `Unknown job API ${JSON.stringify(options.api)}`,
        'Use api: "classic" (ComfyUI\'s own routes) or api: "v2" (Comfy API v2).',
      );
    this.#tracker =
      this.api === "v2"
        ? new V2Jobs({ ...options, http: this.http })
        : new Tracker({
            ...options,
            http: this.http,
            routes: this,
            uploads: this.#uploads,
            clientId: this.clientId,
          });
  }

  // ---- Files -------------------------------------------------------------------------

  /** Uploads an image (bytes or a local path) to the input folder; returns the stored name. */
  async uploadImage(
    data: Uint8Array | string,
    options: RouteOptions & {
      name?: string;
      subfolder?: string;
      type?: "input" | "temp" | "output";
      overwrite?: boolean;
    } = {},
  ): Promise<UploadReply> {
    const bytes = typeof data === "string" ? await readLocal(data) : data;
    return this.uploadImageBytes(bytes, options.name ?? nameOf(data), options);
  }

  /** Uploads a mask for `original`: its alpha replaces the original's alpha channel. */
  async uploadMask(
    data: Uint8Array | string,
    original: FileRef,
    options: RouteOptions & { name?: string; subfolder?: string; overwrite?: boolean } = {},
  ): Promise<UploadReply> {
    const bytes = typeof data === "string" ? await readLocal(data) : data;
    return this.uploadMaskBytes(bytes, options.name ?? nameOf(data), original, options);
  }

  /** Downloads a file as a stream (`GET /view`); big outputs never sit in memory. */
  async stream(ref: FileRef, options: RouteOptions = {}): Promise<Readable> {
    return this.view(ref, options);
  }

  /** Downloads a file into memory. */
  async read(ref: FileRef, options: RouteOptions = {}): Promise<Buffer> {
    return readFileRef(this, ref, options);
  }

  /**
   * Streams a file to `dir/<subfolder>/<filename>`. Server-supplied names are untrusted: a
   * name that would land outside `dir` throws `UNSAFE_PATH` before anything is written.
   */
  async save(ref: FileRef, dir: string, options: RouteOptions = {}): Promise<string> {
    return saveFileRef(this, ref, dir, options);
  }

  /**
   * Saves every file of a result under `dir`; returns the written paths. A file whose
   * server-supplied name would escape `dir` is skipped, the others are still saved, and then
   * one `UNSAFE_PATH` error names every skipped file.
   */
  async saveOutputs(result: JobResult, dir: string, options: RouteOptions = {}): Promise<string[]> {
    return saveAll(this, result.files, dir, options);
  }

  // ---- Jobs --------------------------------------------------------------------------

  /**
   * Submits a compiled prompt (an API-format prompt, or the builder's compile report with its
   * node titles, source lines and output nodes) and returns its job at once. Upload, HTTP and
   * server errors surface through `job.result()` and the job's `error` event. Each job is its own
   * `POST /prompt`: jobs submitted at once reach the server's queue in no set order (await a
   * job's `queued` event before submitting the next to order them).
   *
   * @example
   * const job = client.submit(wf.compileWithReport(), { timeouts: { runMs: 120_000 } });
   */
  submit(source: Submittable, options: SubmitOptions = {}): Job {
    this.#assertOpen();
    checkDurations(options.timeouts, JOB_TIMEOUTS, "timeouts.");
    return this.#tracker.submit(prepare(source, options), options);
  }

  /**
   * Compiles a workflow (or takes a compiled prompt), submits it and waits for the result.
   * Compiling happens first, here: a validation error or an exception thrown by the workflow's
   * own code rejects as it is, before anything is sent.
   */
  async run(source: AnyWorkflow | Submittable, options: RunOptions = {}): Promise<JobResult> {
    const compiled = isCompilable(source) ? compileWorkflow(source, options) : source;
    return this.submit(compiled, options).result();
  }

  /** Follows a prompt submitted earlier (for example by a process that restarted). */
  attach(promptId: string, options: AttachOptions = {}): Job {
    this.#assertOpen();
    checkDurations(options.timeouts, JOB_TIMEOUTS, "timeouts.");
    return this.#tracker.attach(promptId, options);
  }

  /** Jobs in flight. */
  get jobs(): readonly Job[] {
    return this.#tracker.jobs;
  }

  /**
   * Stops following jobs, closes the socket and the connection pool. Cancels still being
   * delivered (a timeout's, Ctrl-C's) finish first, within `cancelTimeoutMs`; then every job
   * still in flight ends with `ClientClosedError` (`USAGE`: the prompt may still run on the
   * server; `attach()` on a new client follows it). Requests to a server that does not answer
   * are then aborted after a short grace.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tracker.close();
    await this.http.close();
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new ComfycError(
        "USAGE",
        "This ComfyClient is closed",
        "Create a new ComfyClient, or close it only after its last job.",
      );
  }
}

/** The fields of `JobTimeouts`. */
const JOB_TIMEOUTS = ["queueMs", "runMs", "stallMs"] as const;

function nameOf(data: Uint8Array | string): string {
  return typeof data === "string" ? data.split(/[\\/]/).pop()! : "upload.png";
}

/** True for a builder workflow (plain or parameterized), by shape: runtime never imports builder code. */
function isCompilable(source: unknown): source is AnyWorkflow {
  return (
    typeof (source as { compileWithReport?: unknown } | null)?.compileWithReport === "function"
  );
}

/** Compiles a workflow with `run()`'s options; its errors (and the user's own) propagate as they are. */
function compileWorkflow(wf: AnyWorkflow, options: RunOptions): CompileReport {
  if ("parseParams" in wf && typeof wf.parseParams === "function")
    return (wf as Extract<AnyWorkflow, { parseParams: unknown }>).compileWithReport(
      options.params ?? {},
      options.compile,
    );
  return (wf as Exclude<AnyWorkflow, { parseParams: unknown }>).compileWithReport(options.compile);
}

function isCompileReport(source: unknown): source is CompileReport {
  const r = source as Partial<CompileReport> | null;
  return (
    typeof r?.prompt === "object" &&
    r.prompt !== null &&
    r.sources instanceof Map &&
    Array.isArray(r.unreachable)
  );
}

/** A prompt or compile report, as the tracker takes it: prompt, node context, expected outputs. */
function prepare(source: Submittable, options: SubmitOptions): PreparedPrompt {
  if (isCompilable(source))
    throw new ComfycError(
      "USAGE",
      "submit() takes a compiled prompt, not a workflow",
      "Pass wf.compileWithReport() (or wf.compile()), or use client.run(wf) to compile and wait.",
    );
  if (source === null || typeof source !== "object" || Array.isArray(source))
    throw new ComfycError(
      "WORKFLOW_INVALID",
      "submit() needs an API-format prompt object or a compile report",
      "Pass wf.compileWithReport(), or a prompt object read from an API-format JSON file.",
    );
  const report = isCompileReport(source) ? source : undefined;
  const prompt = (report?.prompt ?? source) as Record<string, unknown>;
  const sources: ReadonlyMap<string, SourceLocation> | undefined = report?.sources;
  const context = (id: string): NodeContext | undefined => {
    const title = (prompt[id] as { _meta?: { title?: unknown } } | undefined)?._meta?.title;
    const at = sources?.get(id);
    return {
      ...(typeof title === "string" && title ? { title } : {}),
      ...(at ? { source: `${at.file}:${at.line}:${at.column}` } : {}),
    };
  };
  const expected = options.expectedOutputs
    ? new Set(options.expectedOutputs)
    : report
      ? new Set(report.outputs)
      : undefined;
  if (expected && options.partialExecutionTargets) {
    const targets = new Set(options.partialExecutionTargets);
    for (const id of expected) if (!targets.has(id)) expected.delete(id);
  }
  return { prompt, context, expectedOutputs: expected };
}
