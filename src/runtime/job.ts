import { EventEmitter, on } from "node:events";
import type { NodeHandle } from "../builder/types.js";
import { ComfycError } from "../errors.js";
import type { NodeContext } from "../protocol/describe-errors.js";
import type { HistoryEntry, NodeOutput, WsMessage } from "../protocol/messages.js";
import { uiOutputKind, UiOutputSchemas } from "../protocol/ui-outputs.js";
import {
  CancelledError,
  ExecutionFailedError,
  InterruptedError,
  JobTimeoutError,
} from "./errors.js";
import { filesOf, type OutputFile } from "./outputs.js";

/** Where a job is. */
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

/** Timeouts of one job, in ms (unset: none). */
export interface JobTimeouts {
  /** Waiting in the queue. */
  readonly queueMs?: number;
  /** Running, from `execution_start`. */
  readonly runMs?: number;
  /** No message about the job while it runs. */
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

/** What the client provides to a job. */
export interface JobHost {
  readonly server: string;
  cancelPending(promptId: string): Promise<boolean>;
  interruptRunning(promptId: string): Promise<void>;
  log(line: JobLogLine): void;
  release(job: Job): void;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set([
  "succeeded",
  "failed",
  "interrupted",
  "cancelled",
  "lost",
]);

/**
 * A submitted prompt. Follow it with listeners (`job.on("progress", …)`) or
 * `for await (const event of job)`, and get its outputs with `await job.result()`. Each job
 * sees only its own events, matched by prompt id.
 */
export class Job {
  status: JobStatus = "submitting";
  /** Expected output node ids, when known (builder graphs): completion then needs no history read. */
  expectedOutputs: ReadonlySet<string> | undefined;
  /**
   * @internal True while every WebSocket event of this job has been received (the socket was
   * connected before the job started and has not dropped since).
   */
  eventsComplete: () => boolean = () => false;
  /**
   * @internal Checked on every poll tick, not only after a silence: an attached job's events go
   * to the client id that submitted it, so this socket may never hear about it.
   */
  pollEveryTick = false;
  readonly #events = new EventEmitter();
  readonly #outputs = new Map<string, NodeOutput | null>();
  #cached: readonly string[] = [];
  #sawStart = false;
  #cancelRequested = false;
  #currentNode: string | undefined;
  readonly #result: Promise<JobResult>;
  #resolve!: (r: JobResult) => void;
  #reject!: (e: ComfycError) => void;
  readonly #timers: NodeJS.Timeout[] = [];
  #stallTimer: NodeJS.Timeout | undefined;
  readonly #created = Date.now();
  #queuedAt: number | undefined;
  #startedAt: number | undefined;
  lastEventAt = Date.now();

  constructor(
    readonly promptId: string,
    readonly prompt: Readonly<Record<string, unknown>>,
    readonly host: JobHost,
    readonly timeouts: JobTimeouts = {},
    readonly context: (nodeId: string) => NodeContext | undefined = () => undefined,
  ) {
    this.#events.setMaxListeners(100);
    this.#result = new Promise<JobResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Unhandled if the caller only listens to events; result() re-exposes it.
    this.#result.catch(() => undefined);
  }

  /** The node currently executing, if any. */
  get currentNode(): string | undefined {
    return this.#currentNode;
  }

  get done(): boolean {
    return TERMINAL.has(this.status);
  }

  /**
   * Resolves to the outputs; rejects with a typed error (execution failed, interrupted, lost…).
   * When the socket delivered every event it resolves on `execution_success`, a moment before
   * the server writes the history entry, so `client.history(id)` may still be empty right then.
   */
  result(): Promise<JobResult> {
    return this.#result;
  }

  /** Adds a listener for one event type (or `"event"` for all). */
  on<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this {
    this.#events.on(`job:${type}`, listener as (e: unknown) => void);
    return this;
  }

  off<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this {
    this.#events.off(`job:${type}`, listener as (e: unknown) => void);
    return this;
  }

  /**
   * Every event from now until the job ends; the last one is `success`, `error` or
   * `interrupted`. Events are buffered, so a slow consumer misses none. A job that has already
   * ended yields nothing.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<JobEvent> {
    if (this.done) return;
    const controller = new AbortController();
    try {
      for await (const [event] of on(this.#events, "job:event", { signal: controller.signal })) {
        yield event as JobEvent;
        const type = (event as JobEvent).type;
        if (type === "success" || type === "error" || type === "interrupted") return;
      }
    } catch (e) {
      if ((e as Error).name !== "AbortError") throw e;
    } finally {
      controller.abort();
    }
  }

  /**
   * Deletes the job from the queue if pending, or interrupts it if running. A job still being
   * submitted is withdrawn as soon as the server accepts it (or never posted, if not yet sent).
   */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.#cancelRequested = true;
    if (this.status === "submitting") return;
    if (this.status !== "running" && (await this.host.cancelPending(this.promptId))) {
      this.fail(new CancelledError(this.promptId), "cancelled");
      return;
    }
    await this.host.interruptRunning(this.promptId);
  }

  /** @internal Whether `cancel()` was called. */
  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }

  /** @internal Submission accepted. */
  markQueued(number: number | undefined): void {
    if (this.status !== "submitting") return;
    this.status = "queued";
    this.#queuedAt = Date.now();
    this.#emit({
      type: "queued",
      promptId: this.promptId,
      ...(number !== undefined ? { number } : {}),
    });
    this.host.log(this.#logLine("queued"));
    if (this.timeouts.queueMs)
      this.#timers.push(
        setTimeout(() => this.#timeout("queue", this.timeouts.queueMs!), this.timeouts.queueMs),
      );
  }

  /** @internal A WebSocket message for this prompt. Returns true when it ends the job's run. */
  handle(message: WsMessage): void {
    if (this.done) return;
    this.lastEventAt = Date.now();
    this.#touchStall();
    switch (message.type) {
      case "execution_start":
        this.#start();
        return;
      case "execution_cached":
        this.#start();
        this.#cached = message.data.nodes;
        this.#emit({ type: "cached", nodes: message.data.nodes });
        return;
      case "executing": {
        const node = message.data.node;
        if (node === null) {
          this.#finishedSignal();
          return;
        }
        this.#start();
        this.#currentNode = node;
        this.#emit({ type: "executing", node, displayNode: message.data.display_node ?? node });
        return;
      }
      case "progress":
        this.#start();
        this.#emit({
          type: "progress",
          node: message.data.node ?? this.#currentNode,
          value: message.data.value,
          max: message.data.max,
        });
        return;
      case "executed": {
        // A node that runs more than once (loops, expansion) adds files, as history does.
        const key = message.data.display_node ?? message.data.node;
        const before = this.#outputs.get(key);
        const output = message.data.output;
        this.#outputs.set(
          key,
          before && output ? mergeOutputs(before, output) : (output ?? before ?? null),
        );
        this.#emit({ type: "executed", node: message.data.node, output: message.data.output });
        return;
      }
      case "execution_success":
        // Complete without reading history when every expected output has reported, or when
        // the socket delivered every event (`executed` then covers every UI output).
        if (
          this.expectedOutputs
            ? [...this.expectedOutputs].every((id) => this.#outputs.has(id))
            : this.eventsComplete()
        ) {
          this.succeed(
            this.#resultFrom(
              Object.fromEntries(
                [...this.#outputs].filter(([, v]) => v !== null) as [string, NodeOutput][],
              ),
            ),
          );
        }
        return;
      case "execution_error": {
        const d = message.data;
        if (d.exception_type === "ExecutionBlocked") {
          this.#emit({
            type: "blocked",
            node: d.node_id ?? undefined,
            message: d.exception_message.trim(),
          });
          return;
        }
        this.fail(
          new ExecutionFailedError(
            this.promptId,
            d.node_id ?? undefined,
            d.node_type ?? undefined,
            d.exception_type,
            d.exception_message,
            d.traceback,
            d.node_id ? this.context(d.node_id) : undefined,
          ),
          "failed",
        );
        return;
      }
      case "execution_interrupted":
        this.#interrupted(message.data.node_id ?? undefined);
        return;
      default:
        return;
    }
  }

  /** @internal A preview or text frame attributed to this job. */
  binary(event: Extract<JobEvent, { type: "preview" } | { type: "text" }>): void {
    if (this.done) return;
    this.lastEventAt = Date.now();
    this.#emit(event);
  }

  /** @internal `executing: null` arrived: the history entry exists now. */
  onFinishedSignal: () => void = () => undefined;

  #finishedSignal(): void {
    if (!this.done) this.onFinishedSignal();
  }

  /** @internal Completes from a history entry (the source of truth). */
  finishFromHistory(entry: HistoryEntry): void {
    if (this.done) return;
    const messages = entry.status?.messages ?? [];
    const error = messages.find(([event]) => event === "execution_error")?.[1];
    const interrupted = messages.find(([event]) => event === "execution_interrupted")?.[1];
    if (error) {
      const d = error as {
        node_id?: string;
        node_type?: string;
        exception_type?: string;
        exception_message?: string;
        traceback?: string[];
      };
      this.fail(
        new ExecutionFailedError(
          this.promptId,
          d.node_id,
          d.node_type,
          String(d.exception_type ?? "Error"),
          String(d.exception_message ?? ""),
          Array.isArray(d.traceback) ? d.traceback : [],
          d.node_id ? this.context(d.node_id) : undefined,
        ),
        "failed",
      );
      return;
    }
    if (interrupted || entry.status?.status_str === "error") {
      this.#interrupted((interrupted as { node_id?: string } | undefined)?.node_id);
      return;
    }
    const cached = messages.find(([event]) => event === "execution_cached")?.[1] as
      { nodes?: unknown } | undefined;
    if (Array.isArray(cached?.nodes)) this.#cached = cached.nodes.map(String);
    this.succeed(this.#resultFrom(entry.outputs));
  }

  /** @internal */
  succeed(result: JobResult): void {
    if (this.done) return;
    this.status = "succeeded";
    this.#clearTimers();
    const now = Date.now();
    this.host.log({
      ...this.#logLine("done"),
      outputs: result.files.length,
      totalMs: now - this.#created,
      ...(this.#startedAt ? { runMs: now - this.#startedAt } : {}),
    });
    this.#emit({ type: "success", result });
    this.#resolve(result);
    this.host.release(this);
  }

  /** @internal */
  fail(
    error: ComfycError,
    status: Exclude<JobStatus, "submitting" | "queued" | "running" | "succeeded">,
  ): void {
    if (this.done) return;
    this.status = status;
    this.#clearTimers();
    this.host.log({
      ...this.#logLine("failed"),
      code: error.code,
      message: error.message.split("\n")[0]!,
      totalMs: Date.now() - this.#created,
    });
    if (status === "interrupted" || status === "cancelled")
      this.#emit({ type: "interrupted", node: this.#currentNode });
    else this.#emit({ type: "error", error });
    this.#reject(error);
    this.host.release(this);
  }

  #start(): void {
    if (this.#sawStart) return;
    this.#sawStart = true;
    // The first events can beat the reply to POST /prompt.
    if (this.status === "submitting") {
      this.#queuedAt = Date.now();
      this.#emit({ type: "queued", promptId: this.promptId });
      this.host.log(this.#logLine("queued"));
    }
    this.status = "running";
    this.#startedAt = Date.now();
    this.#emit({ type: "started", promptId: this.promptId });
    this.host.log({
      ...this.#logLine("running"),
      ...(this.#queuedAt ? { queuedMs: this.#startedAt - this.#queuedAt } : {}),
    });
    this.#clearTimers();
    if (this.timeouts.runMs)
      this.#timers.push(
        setTimeout(() => this.#timeout("run", this.timeouts.runMs!), this.timeouts.runMs),
      );
    this.#touchStall();
  }

  #interrupted(node: string | undefined): void {
    if (this.#cancelRequested) this.fail(new CancelledError(this.promptId), "cancelled");
    else this.fail(new InterruptedError(this.promptId, node), "interrupted");
  }

  #touchStall(): void {
    if (!this.timeouts.stallMs || this.status !== "running") return;
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(
      () => this.#timeout("stall", this.timeouts.stallMs!),
      this.timeouts.stallMs,
    );
  }

  #timeout(phase: "queue" | "run" | "stall", ms: number): void {
    if (this.done) return;
    const error = new JobTimeoutError(this.promptId, phase, ms);
    // Stop the server's work too: a timed-out job should not keep the GPU busy.
    void this.cancelQuietly();
    this.fail(error, "failed");
  }

  /** @internal Best-effort cancel that never throws. */
  async cancelQuietly(): Promise<void> {
    try {
      if (!(await this.host.cancelPending(this.promptId)))
        await this.host.interruptRunning(this.promptId);
    } catch {
      // The timeout is what the caller sees.
    }
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.length = 0;
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
  }

  #emit(event: JobEvent): void {
    // Prefixed names: a plain "error" event would throw on an emitter without listeners.
    this.#events.emit(`job:${event.type}`, event);
    this.#events.emit("job:event", event);
  }

  #logLine(phase: JobLogLine["phase"]): JobLogLine {
    return {
      ts: new Date().toISOString(),
      event: "comfyc.job",
      phase,
      promptId: this.promptId,
      server: this.host.server,
    };
  }

  #resultFrom(outputs: Readonly<Record<string, NodeOutput>>): JobResult {
    const files = Object.entries(outputs).flatMap(([node, output]) => filesOf(node, output));
    const texts: Record<string, string[]> = {};
    for (const [node, output] of Object.entries(outputs)) {
      if (Array.isArray(output["text"])) texts[node] = output["text"].map(String);
    }
    const idOf = (n: NodeHandle | string) => (typeof n === "string" ? n : n.nodeId);
    return {
      promptId: this.promptId,
      outputs,
      files,
      texts,
      cachedNodes: this.#cached,
      output: <H extends NodeHandle | string>(n: H) => checkedUi(n, outputs[idOf(n)]),
      filesOf: (n) => files.filter((f) => f.node === idOf(n)),
    };
  }
}

/**
 * Appends a node's later UI output to its earlier one. A file reference already listed is not
 * added twice (a node whose cached UI is re-sent at the end of the run would repeat it).
 */
function mergeOutputs(a: NodeOutput, b: NodeOutput): NodeOutput {
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
