import type { NodeHandle } from "../builder/types.js";
import { ComfycError } from "../errors.js";
import type { NodeOutput } from "../protocol/messages.js";
import { uiOutputKind, UiOutputSchemas } from "../protocol/ui-outputs.js";
import { filesOf, type OutputFile } from "./files.js";

/**
 * Where a job is. `submitting` → `queued` → `running` → one of the five final states; the
 * tracker's state machine (runtime/tracker.ts) is the only code that moves a job.
 */
export type JobStatus =
  | "submitting"
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "interrupted"
  | "cancelled"
  | "lost";

/** Everything a job reports, as listener events and from its async iterator. */
export type JobEvent =
  | { readonly type: "queued"; readonly promptId: string; readonly number?: number }
  | { readonly type: "started"; readonly promptId: string }
  | { readonly type: "cached"; readonly nodes: readonly string[] }
  | { readonly type: "executing"; readonly node: string; readonly displayNode: string }
  | {
      readonly type: "progress";
      readonly node: string | undefined;
      readonly value: number;
      readonly max: number;
    }
  | {
      readonly type: "preview";
      readonly node: string | undefined;
      readonly mime: string;
      readonly image: Uint8Array;
    }
  | { readonly type: "text"; readonly node: string; readonly text: string }
  | { readonly type: "executed"; readonly node: string; readonly output: NodeOutput | null }
  /**
   * An `ExecutionBlocker` with a message stopped a branch (ComfyUI reports it as an
   * `execution_error` of type `ExecutionBlocked`); the prompt keeps running and can succeed.
   */
  | { readonly type: "blocked"; readonly node: string | undefined; readonly message: string }
  | { readonly type: "success"; readonly result: JobResult }
  | { readonly type: "error"; readonly error: ComfycError }
  | { readonly type: "interrupted"; readonly node: string | undefined };

/** A finished job's outputs. */
export interface JobResult {
  readonly promptId: string;
  /** UI outputs by node id (`{ images: [...] }`, `{ text: [...] }`, …). */
  readonly outputs: Readonly<Record<string, NodeOutput>>;
  /** Every file any node produced, classified. */
  readonly files: readonly OutputFile[];
  /** Text outputs by node id (PreviewAny and friends). */
  readonly texts: Readonly<Record<string, readonly string[]>>;
  /** Node ids served from the cache. */
  readonly cachedNodes: readonly string[];
  /**
   * The UI output of one node, by handle or id. With a generated handle of a core output node
   * it is typed: `images` for SaveImage, `audio` for SaveAudio, `text` for PreviewAny, …
   */
  output<H extends NodeHandle | string>(node: H): UiOutputOf<H> | undefined;
  /** Files of one node, by handle or id. */
  filesOf(node: NodeHandle | string): readonly OutputFile[];
}

/**
 * The UI output type a handle declares (generated handles of core output nodes carry a
 * type-only `__ui` member), or the generic {@link NodeOutput}.
 */
export type UiOutputOf<H> = H extends { readonly __ui?: infer U }
  ? unknown extends U
    ? NodeOutput
    : U
  : NodeOutput;

/** Timeouts of one job, in ms on the client's clock (unset: none). */
export interface JobTimeouts {
  /** Waiting in the queue, from acceptance. */
  readonly queueMs?: number;
  /** Running, from `execution_start`. */
  readonly runMs?: number;
  /**
   * No sign of progress while it runs: no WebSocket message about the job (classic); no change
   * in its progress snapshot (another node, a node done, a sampler step) with Comfy API v2,
   * whose stream and polls repeat the same snapshot.
   */
  readonly stallMs?: number;
}

/** One JSON log line per job phase. */
export interface JobLogLine {
  readonly ts: string;
  readonly event: "comfyc.job";
  readonly phase: "queued" | "running" | "done" | "failed";
  readonly promptId: string;
  readonly server: string;
  readonly queuedMs?: number;
  readonly runMs?: number;
  readonly totalMs?: number;
  readonly outputs?: number;
  readonly code?: string;
  readonly message?: string;
}

/**
 * What became of a cancel on the server (from `job.cancel()`, an AbortSignal or a timeout):
 * - `dequeued`: taken off the queue before it ran;
 * - `interrupted`: the server accepted the interrupt while it ran (`POST /interrupt` by prompt
 *   id; from ComfyUI 0.26.0 the atomic `POST /api/jobs/{id}/cancel`);
 * - `not-submitted`: it never reached the server (withdrawn before `POST /prompt`);
 * - `finished`: it had already ended, or the server no longer had it (a restart forgot it):
 *   nothing to stop;
 * - `undelivered`: the server did not take the cancel within the cancel budget
 *   (`cancelTimeoutMs`): `error` is `TIMEOUT` when it did not answer in time, else the request's
 *   own error. The prompt may still be queued or running there; a job cancelled by
 *   `cancel()` or its AbortSignal then ends `failed` with `CancelUndeliveredError`.
 */
export type CancelOutcome =
  | { readonly state: "dequeued" | "interrupted" | "not-submitted" | "finished" }
  | { readonly state: "undelivered"; readonly error: ComfycError };

/**
 * A submitted prompt, read-only: its state changes only through the client's tracker. Follow
 * it with listeners (`job.on("progress", …)`) or `for await (const event of job)`, and get its
 * outputs with `await job.result()`. Each job sees only its own events, matched by prompt id.
 *
 * @example
 * const job = client.submit(wf.compileWithReport());
 * job.on("progress", (e) => console.log(`${e.value}/${e.max}`));
 * const result = await job.result(); // or rejects with a typed ComfycError
 */
export interface Job {
  /** The prompt id (a UUID), ours from the start: known before the server answers. */
  readonly promptId: string;
  /** The API-format prompt as submitted (before uploads replaced local files). */
  readonly prompt: Readonly<Record<string, unknown>>;
  readonly status: JobStatus;
  /** True once the job reached a final state. */
  readonly done: boolean;
  /** The node currently executing, if any. */
  readonly currentNode: string | undefined;
  /** The error the job ended with, once it failed, was interrupted, cancelled or lost. */
  readonly error: ComfycError | undefined;
  /** Output node ids whose `executed` event completes the job without a history read. */
  readonly expectedOutputs: ReadonlySet<string> | undefined;
  /**
   * Where the server-side cancel stands, once one was started by `cancel()`, the submission's
   * AbortSignal or a timeout; undefined before. Settles within the client's `cancelTimeoutMs`.
   */
  readonly cancelOutcome: Promise<CancelOutcome> | undefined;
  /**
   * Resolves to the outputs; rejects with a typed error: `ExecutionFailedError`,
   * `InterruptedError`, `CancelledError`, `CancelUndeliveredError` (a cancel the server did not
   * take: its state there is unknown), `JobLostError`, `JobTimeoutError`, `ServerGoneError`,
   * `PromptRejectedError`, or a transport error from submitting. When the socket delivered every
   * event it resolves on `execution_success`, a moment before the server writes the history
   * entry, so `client.history(id)` may still be empty right then.
   */
  result(): Promise<JobResult>;
  /** Adds a listener for one event type (or `"event"` for all). */
  on<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this;
  off<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this;
  /**
   * Every event from now until the job ends; the last one is `success`, `error` or
   * `interrupted`. Events are buffered, so a slow consumer misses none. A job that has already
   * ended yields nothing.
   */
  [Symbol.asyncIterator](): AsyncGenerator<JobEvent>;
  /**
   * Stops the job: deletes it from the queue if pending, interrupts it if running (one atomic
   * `POST /api/jobs/{id}/cancel` on ComfyUI 0.26.0+, `/queue {delete}` or `/interrupt` before);
   * a job still being submitted is withdrawn as soon as the server accepts it (or never posted). Resolves
   * with what the server did (see {@link CancelOutcome}) within the client's `cancelTimeoutMs`
   * (ms, default 5000), whatever the server does; never rejects. The job then ends `cancelled`
   * (or `succeeded`, if it finished before the interrupt took effect); when the cancel was not
   * delivered, `failed` with `CancelUndeliveredError` (code `CANCEL_UNDELIVERED`), never
   * `cancelled`: the prompt may still run on the server. A job the server lost (it restarted)
   * ends `cancelled` and is never submitted again under `resubmitOnLoss`; one being submitted
   * again is stopped once the server answers that `POST /prompt`. Only this job's prompt id is
   * ever dequeued or interrupted, never whatever else runs.
   */
  cancel(): Promise<CancelOutcome>;
}

/** The result of a finished job, from its UI outputs (history or `executed` events). */
export function jobResult(
  promptId: string,
  outputs: Readonly<Record<string, NodeOutput>>,
  cachedNodes: readonly string[],
): JobResult {
  const files = Object.entries(outputs).flatMap(([node, output]) => filesOf(node, output));
  const texts: Record<string, string[]> = {};
  for (const [node, output] of Object.entries(outputs)) {
    if (Array.isArray(output["text"])) texts[node] = output["text"].map(String);
  }
  const idOf = (n: NodeHandle | string) => (typeof n === "string" ? n : n.nodeId);
  return {
    promptId,
    outputs,
    files,
    texts,
    cachedNodes,
    output: <H extends NodeHandle | string>(n: H) => checkedUi(n, outputs[idOf(n)]),
    filesOf: (n) => files.filter((f) => f.node === idOf(n)),
  };
}

/**
 * Appends a node's later UI output to its earlier one. A file reference already listed is not
 * added twice (a node whose cached UI is re-sent at the end of the run would repeat it).
 */
export function mergeOutputs(a: NodeOutput, b: NodeOutput): NodeOutput {
  const merged: Record<string, unknown[]> = { ...a };
  for (const [key, values] of Object.entries(b)) {
    const before = merged[key];
    if (!Array.isArray(before)) {
      merged[key] = values;
      continue;
    }
    const seen = new Set(before.filter(isObject).map((v) => JSON.stringify(v)));
    merged[key] = [
      ...before,
      ...values.filter((v) => !isObject(v) || !seen.has(JSON.stringify(v))),
    ];
  }
  return merged as NodeOutput;
}

function isObject(v: unknown): v is object {
  return v !== null && typeof v === "object";
}

/**
 * A node's UI output, checked against the shape its handle's type promises (core output nodes),
 * so a typed read never hides a malformed reply.
 */
function checkedUi<H extends NodeHandle | string>(
  node: H,
  output: NodeOutput | undefined,
): UiOutputOf<H> | undefined {
  if (output === undefined || typeof node === "string") return output as UiOutputOf<H> | undefined;
  const kind = uiOutputKind(node.classType);
  if (kind && !UiOutputSchemas[kind].safeParse(output).success) {
    throw new ComfycError(
      "BAD_SERVER_REPLY",
      `The UI output of node "${node.nodeId}" (${node.classType}) does not have the shape of ${kind}: ${JSON.stringify(output).slice(0, 200)}`,
      "Read it untyped with result.outputs instead, or check the server's version.",
    );
  }
  return output as UiOutputOf<H>;
}
