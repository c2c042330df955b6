import { randomUUID } from "node:crypto";
import { EventEmitter, on } from "node:events";
import { internalError, type ComfycError } from "../errors.js";
import { comfyuiRules, tryParseComfyuiVersion } from "../protocol/comfyui-version.js";
import type { NodeContext } from "../protocol/describe-errors.js";
import type { ServerJobDetail } from "../protocol/jobs.js";
import { stringifyJson } from "../protocol/json.js";
import {
  HistoryEntrySchema,
  type BinaryFrame,
  type HistoryEntry,
  type NodeOutput,
  type WsMessage,
} from "../protocol/messages.js";
import {
  cancelDeadline,
  type CancelDeadline,
  cancelFailure,
  CancelledError,
  CancelUndeliveredError,
  ClientClosedError,
  ExecutionFailedError,
  InterruptedError,
  JobLostError,
  JobTimeoutError,
  PromptRejectedError,
  ServerGoneError,
  undeliveredAtDeadline,
} from "./errors.js";
import type { InputUploads } from "./files.js";
import type { Http } from "./http.js";
import {
  jobResult,
  mergeOutputs,
  type CancelOutcome,
  type Job,
  type JobEvent,
  type JobLogLine,
  type JobResult,
  type JobStatus,
  type JobTimeouts,
} from "./job.js";
import type { PromptReply, Routes } from "./routes.js";
import { ComfySocket } from "./socket.js";

/** Settings of one submission. */
export interface SubmitOptions {
  /** Extra data stored with the prompt (`extra_pnginfo`, partner-node credentials, …). */
  readonly extraData?: Readonly<Record<string, unknown>>;
  /** Jump ahead of the queue. */
  readonly front?: boolean;
  /** Run only these output nodes. */
  readonly partialExecutionTargets?: readonly string[];
  /** Force a fresh execution of every node even if an identical prompt ran before. */
  readonly fresh?: boolean;
  readonly timeouts?: JobTimeouts;
  /** Accept a 200 whose `node_errors` is non-empty (some outputs dropped) instead of failing. */
  readonly allowPartial?: boolean;
  /**
   * When the server loses the job (restart), submit it again (once) instead of failing. A cancel
   * of a lost job ends it `cancelled` and it is not submitted again; a cancel that comes while
   * it is being submitted again waits for that `POST /prompt`'s reply (within the cancel budget)
   * and then stops the new copy by its prompt id.
   */
  readonly resubmitOnLoss?: boolean;
  /** Aborting cancels the job (as `job.cancel()`). */
  readonly signal?: AbortSignal;
  /** Use this prompt id (a UUID) instead of a fresh one. */
  readonly promptId?: string;
  /**
   * Output node ids; when every one has reported over a socket that missed nothing, the job
   * completes without reading history. Default: the compile report's `outputs`.
   */
  readonly expectedOutputs?: Iterable<string>;
}

/** Options of `ComfyClient.attach`. */
export interface AttachOptions {
  readonly expectedOutputs?: Iterable<string>;
  readonly timeouts?: JobTimeouts;
}

/** What the tracker needs from its client. */
export interface TrackerOptions {
  readonly http: Http;
  readonly routes: Routes;
  readonly uploads: InputUploads;
  readonly clientId: string;
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  readonly pollIntervalMs?: number;
  readonly silenceMs?: number;
  readonly unreachableTimeoutMs?: number;
  readonly cancelTimeoutMs?: number;
  readonly onLog?: (line: JobLogLine) => void;
}

/** A prompt ready for submission: compiled, with what the builder knows about its nodes. */
export interface PreparedPrompt {
  readonly prompt: Record<string, unknown>;
  readonly context: (nodeId: string) => NodeContext | undefined;
  readonly expectedOutputs: ReadonlySet<string> | undefined;
}

/** Default of `unreachableTimeoutMs`: a server silent this long while jobs run is gone. */
export const DEFAULT_UNREACHABLE_TIMEOUT_MS = 60_000;
/** Default of `cancelTimeoutMs`: the budget for delivering one cancel. */
export const DEFAULT_CANCEL_TIMEOUT_MS = 5_000;

/** The final job statuses. */
export const FINAL: ReadonlySet<JobStatus> = new Set([
  "succeeded",
  "failed",
  "interrupted",
  "cancelled",
  "lost",
]);

/**
 * Which of ComfyUI's routes the tracker reads a job's status and cancels it with, decided once
 * per server from its release (`/system_stats`' `comfyui_version` against the version table of
 * `protocol/comfyui-version.ts`), or by a probe when it reports none.
 */
export interface ServerRoutes {
  /**
   * ComfyUI 0.6.0+ (`jobsApi`): a job's status by id with `GET /api/jobs/{id}`, and the poll's
   * one list of pending and running jobs with `GET /api/jobs?status=in_progress,pending`;
   * otherwise `GET /history/{id}` and `GET /queue`.
   */
  readonly jobs: boolean;
  /**
   * ComfyUI 0.26.0+ (`jobsCancel`): cancel with the atomic `POST /api/jobs/{id}/cancel`;
   * otherwise `GET /queue`, `POST /queue {delete}` and `POST /interrupt {prompt_id}`.
   */
  readonly cancel: boolean;
  /** The release the server reported, when it did. */
  readonly version: string | undefined;
}

/**
 * How long a cancel with a budget of `budgetMs` waits for the server's routes to be decided (a
 * `GET /system_stats` in flight): a quarter of the budget, at most 1 s (1.25 s of the default
 * 5 s would leave less for the two or three requests of a classic cancel than it needs on a slow
 * server). After that the cancel goes by the classic routes.
 */
function routeWaitMs(budgetMs: number): number {
  return Math.min(budgetMs / 4, 1000);
}

/** The routes every ComfyUI has: used until the server's release is known, and before 0.6.0. */
const CLASSIC_ROUTES: ServerRoutes = { jobs: false, cancel: false, version: undefined };

/** The WebSocket messages jobs use; `status` and `progress_state` are skipped unparsed. */
const JOB_MESSAGES: ReadonlySet<string> = new Set([
  "execution_start",
  "execution_cached",
  "executing",
  "progress",
  "executed",
  "execution_success",
  "execution_error",
  "execution_interrupted",
]);

/** Everything that can happen to a job: each becomes one transition of the state machine. */
type Input =
  | { readonly type: "accepted"; readonly number: number | undefined }
  | { readonly type: "withdrawn" }
  | { readonly type: "submit-failed"; readonly error: ComfycError }
  | { readonly type: "message"; readonly message: WsMessage }
  | { readonly type: "frame"; readonly event: Extract<JobEvent, { type: "preview" | "text" }> }
  | { readonly type: "history"; readonly entry: HistoryEntry }
  | { readonly type: "seen" }
  /** `reposts`: the job's {@link JobState.reposts} when the read that found it absent began. */
  | { readonly type: "absent"; readonly reposts: number }
  | { readonly type: "timeout"; readonly phase: "queue" | "run" | "stall"; readonly ms: number }
  | { readonly type: "dequeued" }
  | { readonly type: "cancel-undelivered"; readonly error: ComfycError }
  | { readonly type: "gone"; readonly silentMs: number }
  | { readonly type: "closed" };

/** A job's mutable state: private to the tracker, read by users through {@link TrackedJob}. */
interface JobState {
  readonly promptId: string;
  readonly prompt: Readonly<Record<string, unknown>>;
  readonly context: (nodeId: string) => NodeContext | undefined;
  readonly timeouts: JobTimeouts;
  readonly expectedOutputs: ReadonlySet<string> | undefined;
  /** Attached jobs' events go to another client id: they are polled every tick. */
  readonly attached: boolean;
  readonly events: EventEmitter;
  readonly result: Promise<JobResult>;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: ComfycError) => void;
  readonly created: number;
  status: JobStatus;
  error: ComfycError | undefined;
  cancelRequested: boolean;
  cancelOutcome: Promise<CancelOutcome> | undefined;
  /** Resolves the outcome of a cancel requested while the prompt was still being posted. */
  settleEarlyCancel: ((outcome: CancelOutcome) => void) | undefined;
  /** The budget of the cancel, once one was asked: every cancel request runs under it. */
  cancelDeadline: CancelDeadline | undefined;
  /** True once `POST /prompt` was sent: before, a cancel withdraws the job at once. */
  posting: boolean;
  outputs: Map<string, NodeOutput | null>;
  cached: readonly string[];
  currentNode: string | undefined;
  queuedAt: number | undefined;
  startedAt: number | undefined;
  lastEventAt: number;
  /** The socket's epoch when the prompt was posted over a connected socket, else undefined. */
  socketEpoch: number | undefined;
  /** The request body, kept for `resubmitOnLoss` until the job ends. */
  resubmitBody: string | undefined;
  /**
   * How often the prompt was posted again (`resubmitOnLoss`). Once it was, `status` says what
   * the server did with the first copy: the new one may wait in the queue while it reads
   * `running`.
   */
  reposts: number;
  /**
   * The `POST /prompt` of a repost, while in flight: resolves `false` when the server rejected
   * it (nothing queued), else `true` (queued, or unknown after a transport error).
   */
  reposting: Promise<boolean> | undefined;
  timers: { queue?: NodeJS.Timeout; run?: NodeJS.Timeout; stall?: NodeJS.Timeout };
}

/**
 * The only code that changes a job's state. Every input (the reply to `POST /prompt`, a socket
 * event, a poll or history result, a timeout, a cancel, the server going silent) becomes one
 * transition of this state machine, applied by {@link Tracker.#apply}:
 *
 * ```text
 * status      input                           next status
 * ----------  ------------------------------  -------------------------------------------------
 * submitting  accepted (200, or 409: exists)  queued (a cancel asked meanwhile is then sent,
 *                                             within what is left of its budget)
 *             withdrawn (cancel before the    cancelled, at once (nothing reached the server)
 *               POST was sent)
 *             cancel-undelivered (the POST    failed (CANCEL_UNDELIVERED: it may have queued
 *               got no reply within the         the prompt; we stop following it)
 *               cancel budget)
 *             submit-failed (400, transport)  failed (cancelled, when a cancel was asked)
 * queued      start event¹                    running
 * queued or   execution_success               succeeded, if the socket missed nothing since the
 *   running                                   POST and every expected output reported;
 *                                             else a history read decides
 *             history entry                   succeeded | failed (execution_error) |
 *                                             interrupted (cancelled, when we asked)
 *             execution_error                 failed (ExecutionBlocked is only an event)
 *             execution_interrupted           interrupted (cancelled, when we asked)
 *             seen (in /queue)                unchanged (it is alive)
 *             absent (neither queued, running unchanged while a repost is in flight, or when
 *               nor in history)               the read began before one; else cancelled when a
 *                                             cancel was asked (nothing runs, it is never posted
 *                                             again); else posted again with resubmitOnLoss (a
 *                                             cancel asked meanwhile waits for that POST's reply,
 *                                             then stops the new copy); else lost
 *             dequeued (our delete worked)    cancelled
 *             cancel-undelivered              failed (CANCEL_UNDELIVERED: the prompt may still
 *                                             run; we stop following it)
 *             timeout (queue, run, stall)     failed (TIMEOUT); a server cancel is started
 *             gone (server silent too long)   failed (SERVER_GONE)
 * not final   closed (client.close())         failed (ClientClosedError, USAGE: the prompt may
 *                                             still run; we stop following it)
 * final²      anything                        unchanged
 * ```
 * ¹ `execution_start`, `execution_cached`, `executing` or `progress`: the first events can beat
 * the reply to `POST /prompt`, so they also move a `submitting` job. ² succeeded, failed,
 * interrupted, cancelled, lost.
 *
 * Completion never depends on the socket alone: `executing: null` and the poll both lead to a
 * history read, the source of truth. It never depends on whether validation ran either: the
 * expected outputs come from the builder's compile report, which has them either way.
 *
 * Timeouts, the unreachable watchdog and the cancel budget run on our clock: a frozen server
 * (one that accepts connections but never answers) cannot delay them. Every request of a cancel
 * runs under one deadline (`cancelTimeoutMs`), also a cancel that waits for the reply to
 * `POST /prompt`.
 */
export class Tracker {
  readonly #options: TrackerOptions;
  readonly #jobs = new Map<string, JobState>();
  readonly #socket: ComfySocket;
  readonly #checking = new Map<JobState, Promise<void>>();
  readonly #cancels = new Set<Promise<CancelOutcome>>();
  readonly #server: string;
  #poller: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #probing = false;
  /** The server's routes, once known; {@link #decideRoutes} fills it in. */
  #routes: ServerRoutes | undefined;
  #decidingRoutes: Promise<ServerRoutes> | undefined;
  #lastActive: JobState | undefined;
  #closed = false;

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#server = options.http.baseUrl.origin;
    this.#socket = new ComfySocket({
      url: options.http.baseUrl,
      clientId: options.clientId,
      headers: options.http.headers,
      dispatcher: options.http.dispatcher,
      ...(options.reconnect?.minDelayMs !== undefined
        ? { minDelayMs: options.reconnect.minDelayMs }
        : {}),
      ...(options.reconnect?.maxDelayMs !== undefined
        ? { maxDelayMs: options.reconnect.maxDelayMs }
        : {}),
      wanted: JOB_MESSAGES,
      onMessage: (m) => this.#dispatch(m),
      onBinary: (frame) => this.#dispatchBinary(frame),
      onOpen: (reconnected) => {
        // Events sent while disconnected are not replayed: read history for every job.
        if (reconnected) for (const job of this.#jobs.values()) void this.#check(job, true);
      },
      onClose: () => this.#schedulePoll(),
    });
  }

  readonly #handles = new WeakMap<JobState, TrackedJob>();

  /** Jobs in flight. */
  get jobs(): readonly Job[] {
    return [...this.#jobs.values()].map((j) => this.#handle(j));
  }

  /** The read-only view of a job (one per job). */
  #handle(job: JobState): Job {
    let handle = this.#handles.get(job);
    if (!handle) this.#handles.set(job, (handle = new TrackedJob(job, () => this.#cancel(job))));
    return handle;
  }

  /** Starts following a prompt and posts it; returns its job at once. */
  submit(prepared: PreparedPrompt, options: SubmitOptions): Job {
    const job = this.#create(options.promptId ?? randomUUID(), prepared, {
      timeouts: options.timeouts ?? {},
      attached: false,
    });
    options.signal?.addEventListener("abort", () => void this.#cancel(job), { once: true });
    if (options.signal?.aborted) void this.#cancel(job);
    void this.#post(job, options);
    return this.#handle(job);
  }

  /** Follows a prompt submitted earlier (by this or another process). */
  attach(promptId: string, options: AttachOptions): Job {
    const existing = this.#jobs.get(promptId);
    if (existing) return this.#handle(existing);
    const job = this.#create(
      promptId,
      {
        prompt: {},
        context: () => undefined,
        expectedOutputs: options.expectedOutputs ? new Set(options.expectedOutputs) : undefined,
      },
      { timeouts: options.timeouts ?? {}, attached: true },
    );
    this.#apply(job, { type: "accepted", number: undefined });
    void this.#socket.connect().catch(() => undefined);
    void this.#check(job, true);
    this.#schedulePoll();
    return this.#handle(job);
  }

  /**
   * Stops a job on the server (see `Job.cancel`): dequeue if pending, interrupt if running,
   * withdraw if still being posted. Resolves with the outcome, within `cancelTimeoutMs`.
   */
  #cancel(job: JobState): Promise<CancelOutcome> {
    if (job.cancelOutcome) return job.cancelOutcome;
    if (FINAL.has(job.status)) return Promise.resolve({ state: "finished" });
    job.cancelRequested = true;
    const deadline = this.#cancelDeadline();
    job.cancelDeadline = deadline;
    if (job.status !== "submitting") {
      job.cancelOutcome = this.#deliverCancel(job, true, deadline);
      return this.#keep(job.cancelOutcome);
    }
    // Settled by #post (sent once the server accepts the prompt), by #finish (withdrawn, or the
    // POST failed), or by the deadline below.
    job.cancelOutcome = new Promise((resolve) => (job.settleEarlyCancel = resolve));
    if (!job.posting) {
      // Still uploading or connecting the socket: nothing reached the server, nothing to wait for.
      this.#apply(job, { type: "withdrawn" });
    } else {
      undeliveredAtDeadline(
        job,
        deadline,
        this.#server,
        "POST /prompt (the cancel needs its reply to know what to stop)",
        (error) => this.#apply(job, { type: "cancel-undelivered", error }),
      );
    }
    return this.#keep(job.cancelOutcome);
  }

  /** A new cancel budget (`cancelTimeoutMs`), on our clock. */
  #cancelDeadline(): CancelDeadline {
    return cancelDeadline(this.#options.cancelTimeoutMs ?? DEFAULT_CANCEL_TIMEOUT_MS);
  }

  /**
   * Stops following every job and closes the socket. Cancels still being delivered get their
   * budget (`cancelTimeoutMs`) to finish first, so a CLI that exits right after a timeout has
   * stopped the prompt on the server, or knows it could not.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poller) clearTimeout(this.#poller);
    this.#stopWatchdog();
    await Promise.allSettled([...this.#cancels]);
    // Jobs still in flight end now: nobody follows them any more, so nothing else would.
    for (const job of [...this.#jobs.values()]) this.#apply(job, { type: "closed" });
    for (const job of this.#jobs.values()) clearTimers(job);
    this.#socket.close();
  }

  // ---- The state machine -------------------------------------------------------------

  /** Applies one input to a job: the only place a job's status changes (see the table above). */
  #apply(job: JobState, input: Input): void {
    if (FINAL.has(job.status)) return;
    switch (input.type) {
      case "accepted":
        if (job.status === "submitting") this.#enterQueued(job, input.number);
        return;
      case "withdrawn":
        return this.#finish(job, "cancelled", new CancelledError(job.promptId));
      case "submit-failed":
        return this.#finish(
          job,
          job.cancelRequested ? "cancelled" : "failed",
          job.cancelRequested ? new CancelledError(job.promptId) : input.error,
        );
      case "message":
        return this.#onMessage(job, input.message);
      case "frame":
        job.lastEventAt = Date.now();
        this.#emit(job, input.event);
        return;
      case "history":
        return this.#onHistory(job, input.entry);
      case "seen":
        job.lastEventAt = Date.now();
        return;
      case "absent":
        // Posted again and not yet answered, or read before the repost landed: not news.
        if (job.reposting || input.reposts !== job.reposts) {
          job.lastEventAt = Date.now();
          return;
        }
        // Asked to stop: the server does not have it, so nothing runs; never post it again.
        if (job.cancelRequested && job.status !== "submitting")
          return this.#finish(job, "cancelled", new CancelledError(job.promptId));
        if (job.resubmitBody !== undefined && job.status !== "submitting") {
          // Posted again by #repost; the job stays where it was until the server has it.
          job.lastEventAt = Date.now();
          this.#repost(job, job.resubmitBody);
          job.resubmitBody = undefined;
          return;
        }
        return this.#finish(job, "lost", new JobLostError(job.promptId));
      case "timeout":
        if (job.status === "submitting") return;
        // Stop the server's work too: a timed-out job should not keep the GPU busy.
        job.cancelOutcome ??= this.#keep(this.#deliverCancel(job, false));
        return this.#finish(
          job,
          "failed",
          new JobTimeoutError(job.promptId, input.phase, input.ms),
        );
      case "dequeued":
        return this.#finish(job, "cancelled", new CancelledError(job.promptId));
      case "cancel-undelivered":
        return this.#finish(
          job,
          "failed",
          new CancelUndeliveredError(job.promptId, this.#server, input.error),
        );
      case "gone":
        if (job.status === "submitting") return;
        return this.#finish(
          job,
          "failed",
          new ServerGoneError(job.promptId, this.#server, input.silentMs),
        );
      case "closed":
        return this.#finish(job, "failed", new ClientClosedError(job.promptId, this.#server));
    }
  }

  #onMessage(job: JobState, message: WsMessage): void {
    job.lastEventAt = Date.now();
    switch (message.type) {
      case "execution_start":
        return this.#enterRunning(job);
      case "execution_cached":
        this.#enterRunning(job);
        job.cached = message.data.nodes;
        this.#emit(job, { type: "cached", nodes: message.data.nodes });
        return;
      case "executing": {
        const node = message.data.node;
        // `executing: null` follows the history write: read it (unless already done).
        if (node === null) return void this.#check(job, true);
        this.#enterRunning(job);
        job.currentNode = node;
        this.#emit(job, {
          type: "executing",
          node,
          displayNode: message.data.display_node ?? node,
        });
        return;
      }
      case "progress":
        this.#enterRunning(job);
        this.#emit(job, {
          type: "progress",
          node: message.data.node ?? job.currentNode,
          value: message.data.value,
          max: message.data.max,
        });
        return;
      case "executed": {
        // A node that runs more than once (loops, expansion) adds files, as history does.
        const key = message.data.display_node ?? message.data.node;
        const before = job.outputs.get(key);
        const output = message.data.output;
        job.outputs.set(
          key,
          before && output ? mergeOutputs(before, output) : (output ?? before ?? null),
        );
        this.#emit(job, { type: "executed", node: message.data.node, output });
        return;
      }
      case "execution_success": {
        const complete =
          job.socketEpoch !== undefined &&
          job.socketEpoch === this.#socket.epoch &&
          this.#socket.connected &&
          [...(job.expectedOutputs ?? [])].every((id) => job.outputs.has(id));
        // Otherwise `executing: null` (or the poll) reads history.
        if (complete) {
          const outputs = Object.fromEntries(
            [...job.outputs].filter(([, v]) => v !== null) as [string, NodeOutput][],
          );
          this.#succeed(job, jobResult(job.promptId, outputs, job.cached));
        }
        return;
      }
      case "execution_error": {
        const d = message.data;
        if (d.exception_type === "ExecutionBlocked") {
          this.#emit(job, {
            type: "blocked",
            node: d.node_id ?? undefined,
            message: d.exception_message.trim(),
          });
          return;
        }
        return this.#finish(
          job,
          "failed",
          new ExecutionFailedError(
            job.promptId,
            d.node_id ?? undefined,
            d.node_type ?? undefined,
            d.exception_type,
            d.exception_message,
            d.traceback,
            d.node_id ? job.context(d.node_id) : undefined,
          ),
        );
      }
      case "execution_interrupted":
        return this.#interrupted(job, message.data.node_id ?? undefined);
      default:
        return;
    }
  }

  /** History is the source of truth: it ends the job one way or the other. */
  #onHistory(job: JobState, entry: HistoryEntry): void {
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
      return this.#finish(
        job,
        "failed",
        new ExecutionFailedError(
          job.promptId,
          d.node_id,
          d.node_type,
          String(d.exception_type ?? "Error"),
          String(d.exception_message ?? ""),
          Array.isArray(d.traceback) ? d.traceback : [],
          d.node_id ? job.context(d.node_id) : undefined,
        ),
      );
    }
    if (interrupted || entry.status?.status_str === "error")
      return this.#interrupted(job, (interrupted as { node_id?: string } | undefined)?.node_id);
    const cached = messages.find(([event]) => event === "execution_cached")?.[1] as
      { nodes?: unknown } | undefined;
    if (Array.isArray(cached?.nodes)) job.cached = cached.nodes.map(String);
    this.#succeed(job, jobResult(job.promptId, entry.outputs, job.cached));
  }

  #interrupted(job: JobState, node: string | undefined): void {
    if (job.cancelRequested) this.#finish(job, "cancelled", new CancelledError(job.promptId));
    else this.#finish(job, "interrupted", new InterruptedError(job.promptId, node));
  }

  #enterQueued(job: JobState, number: number | undefined): void {
    job.status = "queued";
    job.queuedAt = Date.now();
    job.lastEventAt = job.queuedAt;
    this.#emit(job, {
      type: "queued",
      promptId: job.promptId,
      ...(number !== undefined ? { number } : {}),
    });
    this.#log(job, "queued");
    this.#arm(job, "queue", job.timeouts.queueMs);
    this.#startWatchdog();
    // The server has a job: learn its routes now, before a check or a cancel needs them.
    void this.#decideRoutes();
  }

  #enterRunning(job: JobState): void {
    if (job.status === "running") return this.#arm(job, "stall", job.timeouts.stallMs);
    if (job.status === "submitting") this.#enterQueued(job, undefined);
    job.status = "running";
    job.startedAt = Date.now();
    this.#emit(job, { type: "started", promptId: job.promptId });
    this.#log(job, "running", job.queuedAt ? { queuedMs: job.startedAt - job.queuedAt } : {});
    clearTimers(job);
    this.#arm(job, "run", job.timeouts.runMs);
    this.#arm(job, "stall", job.timeouts.stallMs);
  }

  #succeed(job: JobState, result: JobResult): void {
    job.status = "succeeded";
    clearTimers(job);
    const now = Date.now();
    this.#log(job, "done", {
      outputs: result.files.length,
      totalMs: now - job.created,
      ...(job.startedAt ? { runMs: now - job.startedAt } : {}),
    });
    this.#emit(job, { type: "success", result });
    job.resolve(result);
    this.#release(job);
  }

  #finish(
    job: JobState,
    status: Exclude<JobStatus, "submitting" | "queued" | "running" | "succeeded">,
    error: ComfycError,
  ): void {
    job.status = status;
    job.error = error;
    clearTimers(job);
    this.#log(job, "failed", {
      code: error.code,
      message: error.message.split("\n")[0]!,
      totalMs: Date.now() - job.created,
    });
    if (status === "interrupted" || status === "cancelled")
      this.#emit(job, { type: "interrupted", node: job.currentNode });
    else this.#emit(job, { type: "error", error });
    job.reject(error);
    // A cancel asked while submitting, for a job that never got queued, had nothing to stop.
    job.settleEarlyCancel?.({ state: "not-submitted" });
    this.#release(job);
  }

  // ---- Effects -----------------------------------------------------------------------

  #create(
    promptId: string,
    prepared: PreparedPrompt,
    how: { timeouts: JobTimeouts; attached: boolean },
  ): JobState {
    let resolve!: (r: JobResult) => void;
    let reject!: (e: ComfycError) => void;
    const result = new Promise<JobResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Unhandled if the caller only listens to events; result() re-exposes it.
    result.catch(() => undefined);
    const events = new EventEmitter();
    events.setMaxListeners(100);
    const now = Date.now();
    const job: JobState = {
      promptId,
      prompt: prepared.prompt,
      context: prepared.context,
      timeouts: how.timeouts,
      expectedOutputs: prepared.expectedOutputs,
      attached: how.attached,
      events,
      result,
      resolve,
      reject,
      created: now,
      status: "submitting",
      error: undefined,
      cancelRequested: false,
      cancelOutcome: undefined,
      settleEarlyCancel: undefined,
      cancelDeadline: undefined,
      posting: false,
      outputs: new Map(),
      cached: [],
      currentNode: undefined,
      queuedAt: undefined,
      startedAt: undefined,
      lastEventAt: now,
      socketEpoch: undefined,
      resubmitBody: undefined,
      reposts: 0,
      reposting: undefined,
      timers: {},
    };
    this.#jobs.set(promptId, job);
    return job;
  }

  /** Uploads, subscribes and posts a new job. */
  async #post(job: JobState, options: SubmitOptions): Promise<void> {
    try {
      // Withdrawn before it started (an AbortSignal aborted already): nothing to do.
      if (FINAL.has(job.status)) return;
      let prompt = await this.#options.uploads.resolve(
        job.prompt as Record<string, unknown>,
        options.signal,
      );
      if (options.fresh) {
        if (prompt === job.prompt) prompt = structuredClone(prompt);
        // Undeclared constants are ignored by nodes but are part of ComfyUI's cache key.
        const nonce = randomUUID();
        for (const node of Object.values(prompt))
          ((node as { inputs: Record<string, unknown> }).inputs ??= {})["comfyc_nonce"] = nonce;
      }
      // Subscribe before posting: the first events can race the HTTP reply.
      await this.#socket.connect().catch(() => undefined);
      if (this.#socket.connected) job.socketEpoch = this.#socket.epoch;
      const body = stringifyJson({
        prompt,
        client_id: this.#options.clientId,
        prompt_id: job.promptId,
        extra_data: { ...options.extraData },
        ...(options.front ? { front: true } : {}),
        ...(options.partialExecutionTargets
          ? { partial_execution_targets: options.partialExecutionTargets }
          : {}),
      });
      if (job.cancelRequested || FINAL.has(job.status)) {
        this.#apply(job, { type: "withdrawn" });
        return;
      }
      job.posting = true;
      // Not aborted by the signal: a POST cut short may still have queued the prompt, and
      // the cancel withdraws it once accepted, which an aborted request could not.
      const reply = await this.#postPrompt(job, body);
      if (reply.status === "rejected") {
        this.#apply(job, this.#rejected(job, reply));
        return;
      }
      this.#apply(job, {
        type: "accepted",
        number: reply.status === "accepted" ? reply.number : undefined,
      });
      const settle = job.settleEarlyCancel;
      if (settle) {
        // A cancel asked while posting: now that the server has the prompt, stop it there.
        job.settleEarlyCancel = undefined;
        // Within what is left of the budget that started with the cancel.
        settle(await this.#deliverCancel(job, true, job.cancelDeadline));
        return;
      }
      if (
        reply.status === "accepted" &&
        Object.keys(reply.nodeErrors).length > 0 &&
        !options.allowPartial
      ) {
        job.cancelOutcome ??= this.#keep(this.#deliverCancel(job, false));
        this.#apply(job, {
          type: "submit-failed",
          error: new PromptRejectedError(
            undefined,
            reply.nodeErrors,
            true,
            job.context,
            this.#server,
          ),
        });
        return;
      }
      if (options.resubmitOnLoss && !FINAL.has(job.status)) job.resubmitBody = body;
      this.#schedulePoll();
    } catch (e) {
      this.#apply(job, { type: "submit-failed", error: internalError(e, "submitting a prompt") });
    }
  }

  /** A `POST /prompt` the server refused (400 with `node_errors`), as the job's failure. */
  #rejected(job: JobState, reply: Extract<PromptReply, { status: "rejected" }>): Input {
    return {
      type: "submit-failed",
      error: new PromptRejectedError(
        reply.error,
        reply.nodeErrors,
        false,
        job.context,
        this.#server,
      ),
    };
  }

  /**
   * `POST /prompt`, idempotent under the transport's retries: the prompt id is ours, so before
   * posting again the history and the queue are checked for it (single attempts: the retry
   * loop is the transport's).
   */
  #postPrompt(job: JobState, body: string): Promise<PromptReply> {
    return this.#options.routes.postPrompt(body, {
      recover: async () =>
        (await this.#knownToServer(job.promptId)) ? { status: "exists" } : undefined,
    });
  }

  /** Whether the server has the prompt (queued, running or in history); false when it cannot say. */
  async #knownToServer(promptId: string): Promise<boolean> {
    const routes = this.#options.routes;
    try {
      // Before any prompt was accepted the routes are unknown: the classic ones work everywhere.
      if (this.#routes?.jobs)
        return (await routes.serverJob(promptId, { retry: false })) !== undefined;
      if (await routes.history(promptId, { retry: false })) return true;
      const q = await routes.queue({ retry: false });
      return [...q.queue_running, ...q.queue_pending].some((item) => item[1] === promptId);
    } catch {
      // Unknown: posting again is all that is left (newer servers answer 409 to a duplicate).
      return false;
    }
  }

  /**
   * Posts a lost job again (`resubmitOnLoss`). Until the server answers, `job.reposting` is set:
   * a cancel (or a timeout's cancel) waits for the answer, since before it the server has
   * nothing to stop and after it the new copy would run unseen.
   */
  #repost(job: JobState, body: string): void {
    job.reposts++;
    const posted = this.#postPrompt(job, body);
    job.reposting = posted.then(
      (reply) => reply.status !== "rejected",
      // The POST may still have queued it: a cancel must try.
      () => true,
    );
    posted.then(
      (reply) => {
        job.reposting = undefined;
        this.#apply(
          job,
          reply.status === "rejected" ? this.#rejected(job, reply) : { type: "seen" },
        );
      },
      (e: unknown) => {
        job.reposting = undefined;
        this.#apply(job, {
          type: "submit-failed",
          error: internalError(e, "resubmitting a prompt"),
        });
      },
    );
  }

  /**
   * Delivers a cancel within `cancelTimeoutMs`: off the queue if pending, else an interrupt by
   * prompt id. `endJob` lets the outcome end the job (a user's cancel); after a timeout the job
   * has ended already and only the outcome is reported.
   */
  async #deliverCancel(
    job: JobState,
    endJob: boolean,
    deadline: CancelDeadline = this.#cancelDeadline(),
  ): Promise<CancelOutcome> {
    const routes = this.#options.routes;
    const { signal } = deadline;
    try {
      // Posted again and not answered yet: the server has nothing to stop until it answers.
      if (job.reposting && !(await settledWithin(job.reposting, signal)))
        return { state: "not-submitted" };
      if ((await this.#serverRoutes(deadline)).cancel)
        return await this.#cancelAtomically(job, endJob, signal);
      // A reposted job's status is the first copy's: the new one may be pending.
      if (job.status !== "running" || job.reposts > 0) {
        const q = await routes.queue({ signal });
        if (q.queue_pending.some((item) => item[1] === job.promptId)) {
          await routes.deleteQueued([job.promptId], { signal });
          const after = await routes.queue({ signal });
          const still = [...after.queue_pending, ...after.queue_running].some(
            (item) => item[1] === job.promptId,
          );
          if (!still) {
            if (endJob) this.#apply(job, { type: "dequeued" });
            return { state: "dequeued" };
          }
        }
      }
      await routes.interrupt(job.promptId, { signal });
      return { state: "interrupted" };
    } catch (e) {
      const error = cancelFailure(
        e,
        deadline,
        this.#server,
        `the cancel of prompt ${job.promptId}`,
      );
      if (endJob) this.#apply(job, { type: "cancel-undelivered", error });
      return { state: "undelivered", error };
    }
  }

  /**
   * The cancel of ComfyUI 0.26.0+: one `POST /api/jobs/{id}/cancel` interrupts the job if it
   * runs or dequeues it if it waits, under the server's queue lock (no window between reading
   * the queue and acting on it). The reply only says whether it did either; when the job was not
   * known to be running, `GET /api/jobs/{id}` tells the two apart (a dequeued job is gone).
   */
  async #cancelAtomically(
    job: JobState,
    endJob: boolean,
    signal: AbortSignal,
  ): Promise<CancelOutcome> {
    const routes = this.#options.routes;
    if (!(await routes.cancelServerJob(job.promptId, { signal }))) {
      // Neither running nor pending: it ended on the server; the check reads how.
      void this.#check(job, true);
      return { state: "finished" };
    }
    if (job.status === "running" && job.reposts === 0) return { state: "interrupted" };
    if ((await routes.serverJob(job.promptId, { signal })) !== undefined)
      return { state: "interrupted" };
    if (endJob) this.#apply(job, { type: "dequeued" });
    return { state: "dequeued" };
  }

  /**
   * The server's routes (see {@link ServerRoutes}): the classic ones until a first job was
   * queued (which starts {@link #decideRoutes}), then the decided ones. While the decision is on
   * its way, a cancel waits for it at most {@link routeWaitMs} of its budget (`deadline`), then
   * takes the classic routes, which every ComfyUI serves: a `GET /system_stats` that never
   * answers cannot spend the whole budget and leave nothing for the cancel itself.
   */
  async #serverRoutes(deadline?: CancelDeadline): Promise<ServerRoutes> {
    if (this.#routes) return this.#routes;
    const deciding = this.#decidingRoutes;
    if (!deciding) return CLASSIC_ROUTES;
    if (!deadline) return deciding;
    const { signal } = deadline;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        deciding,
        new Promise<ServerRoutes>((resolve) => {
          onAbort = () => resolve(CLASSIC_ROUTES);
          if (signal.aborted) return onAbort();
          signal.addEventListener("abort", onAbort, { once: true });
          timer = setTimeout(onAbort, routeWaitMs(deadline.ms));
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Decides once per client (one server) which routes to use: `GET /system_stats` and the
   * version table (`jobsApi` from 0.6.0, `jobsCancel` from 0.26.0). A server that reports no
   * release it can parse (a fork, a proxy) gets the classic routes. Single attempts: when the server cannot answer now, the classic routes serve meanwhile
   * and the next queued job asks again.
   */
  #decideRoutes(): Promise<ServerRoutes> {
    if (this.#routes) return Promise.resolve(this.#routes);
    this.#decidingRoutes ??= this.#readRoutes()
      .then((found) => (this.#routes = found))
      .catch(() => CLASSIC_ROUTES)
      .finally(() => (this.#decidingRoutes = undefined));
    return this.#decidingRoutes;
  }

  async #readRoutes(): Promise<ServerRoutes> {
    const routes = this.#options.routes;
    const once = { retry: false, timeoutMs: POLL_TIMEOUT_MS } as const;
    const stats = await routes.systemStats(once);
    const reported = stats.system.comfyui_version;
    const version = tryParseComfyuiVersion(reported);
    if (version) {
      // Routes only: a newer release has them too, nothing to warn about.
      const rules = comfyuiRules(version, { warn: false });
      return { jobs: rules.has("jobsApi"), cancel: rules.has("jobsCancel"), version: version.text };
    }
    // No release to go by (a fork, a proxy): the routes every ComfyUI has.
    return CLASSIC_ROUTES;
  }

  /** Tracks a cancel in flight so `close()` can wait for it. */
  #keep(outcome: Promise<CancelOutcome>): Promise<CancelOutcome> {
    this.#cancels.add(outcome);
    void outcome.finally(() => this.#cancels.delete(outcome));
    return outcome;
  }

  #dispatch(message: WsMessage): void {
    const promptId = (message.data as { prompt_id?: unknown }).prompt_id;
    if (typeof promptId !== "string") return;
    const job = this.#jobs.get(promptId);
    if (!job) return;
    if (message.type === "executing" || message.type === "progress") this.#lastActive = job;
    this.#apply(job, { type: "message", message });
  }

  #dispatchBinary(frame: BinaryFrame): void {
    if (frame.kind === "preview") {
      const job =
        (frame.meta?.prompt_id && this.#jobs.get(frame.meta.prompt_id)) || this.#lastActive;
      if (job)
        this.#apply(job, {
          type: "frame",
          event: {
            type: "preview",
            node: frame.meta?.display_node_id ?? frame.meta?.node_id ?? job.currentNode,
            mime: frame.mime,
            image: frame.image,
          },
        });
      return;
    }
    const job =
      [...this.#jobs.values()].find((j) => j.currentNode === frame.nodeId) ?? this.#lastActive;
    if (job)
      this.#apply(job, {
        type: "frame",
        event: { type: "text", node: frame.nodeId, text: frame.text },
      });
  }

  #schedulePoll(): void {
    if (this.#poller || this.#closed || this.#jobs.size === 0) return;
    const interval = this.#socket.connected
      ? (this.#options.pollIntervalMs ?? 1000)
      : Math.min(250, this.#options.pollIntervalMs ?? 250);
    this.#poller = setTimeout(() => {
      void this.#poll().finally(() => {
        this.#poller = undefined;
        this.#schedulePoll();
      });
    }, interval);
  }

  /**
   * One poll for every job that is silent (or all, while the socket is down): a single
   * `GET /queue` covers the jobs still queued or running, and only the others read history,
   * so a hundred waiting jobs cost one request per tick, not two hundred. One attempt each: the
   * poll is itself the retry loop.
   */
  async #poll(): Promise<void> {
    const silence = this.#options.silenceMs ?? 3000;
    const now = Date.now();
    const due = [...this.#jobs.values()].filter(
      (j) =>
        (j.status === "queued" || j.status === "running") &&
        (!this.#socket.connected || j.attached || now - j.lastEventAt > silence),
    );
    if (due.length === 0) return;
    let queued: Set<string>;
    try {
      queued = await this.#activeIds(POLL_TIMEOUT_MS);
    } catch {
      return; // unreachable right now (restarting?): the watchdog decides when it is gone
    }
    await Promise.allSettled(
      due.map((job) =>
        queued.has(job.promptId) ? this.#apply(job, { type: "seen" }) : this.#check(job, false),
      ),
    );
  }

  /**
   * The ids of the running and pending prompts, in one request: `GET /api/jobs?status=…` where
   * the server has the jobs API (its items carry no prompt, unlike `/queue`'s), else `GET /queue`.
   * A single attempt: the poll and the watchdog are retry loops of their own.
   */
  async #activeIds(timeoutMs: number): Promise<Set<string>> {
    const routes = this.#options.routes;
    const once = { retry: false, timeoutMs } as const;
    if ((await this.#serverRoutes()).jobs) {
      const page = await routes.serverJobs({ ...once, status: ["in_progress", "pending"] });
      return new Set(page.jobs.map((j) => j.id));
    }
    const q = await routes.queue(once);
    return new Set([...q.queue_running, ...q.queue_pending].map((item) => String(item[1])));
  }

  /**
   * Reads history (and the queue) for a job: finishes it, or notices that it was lost. Checks of
   * one job never overlap: two concurrent ones could both see it lost and resubmit twice.
   */
  #check(job: JobState, retry: boolean): Promise<void> {
    const running = this.#checking.get(job);
    if (running) return running;
    const check = this.#checkOnce(job, retry).finally(() => this.#checking.delete(job));
    this.#checking.set(job, check);
    return check;
  }

  async #checkOnce(job: JobState, retry: boolean): Promise<void> {
    if (FINAL.has(job.status) || job.status === "submitting") return;
    const routes = this.#options.routes;
    // A repost that lands while we read makes "absent" stale.
    const absent = { type: "absent", reposts: job.reposts } as const;
    const options = retry ? {} : { retry: false, timeoutMs: POLL_TIMEOUT_MS };
    try {
      if ((await this.#serverRoutes()).jobs) {
        // One request, and no gap: `get_job` reads the queue, then history, so a prompt that
        // finishes in between is still found in one of them.
        const found = await routes.serverJob(job.promptId, options);
        if (!found) return this.#apply(job, absent);
        const entry = finishedEntry(found);
        return this.#apply(job, entry ? { type: "history", entry } : { type: "seen" });
      }
      const entry = await routes.history(job.promptId, options);
      if (entry) return this.#apply(job, { type: "history", entry });
      const q = await routes.queue(options);
      if ([...q.queue_running, ...q.queue_pending].some((item) => item[1] === job.promptId))
        return this.#apply(job, { type: "seen" });
      // It may have finished between the two reads.
      const again = await routes.history(job.promptId, options);
      this.#apply(job, again ? { type: "history", entry: again } : absent);
    } catch {
      // Unreachable right now (restarting?): the next poll tries again.
    }
  }

  /**
   * While jobs are in flight, checks on our own clock whether the server has gone silent: no
   * HTTP reply and no socket message for `unreachableTimeoutMs` ends them with `SERVER_GONE`.
   * Silence alone proves nothing (a long node sends no message), so after half the limit the
   * watchdog asks the server itself (one `GET /queue`, a single attempt): a live server answers
   * and resets the clock, a dead or frozen one does not. Requests that hang (a frozen server)
   * cannot hold it up.
   */
  #startWatchdog(): void {
    if (this.#watchdog || this.#closed) return;
    const limit = this.#options.unreachableTimeoutMs ?? DEFAULT_UNREACHABLE_TIMEOUT_MS;
    this.#watchdog = setInterval(
      () => {
        const active = [...this.#jobs.values()].filter((j) => j.status !== "submitting");
        if (active.length === 0) return this.#stopWatchdog();
        const contact = Math.max(this.#options.http.lastReplyAt, this.#socket.lastMessageAt);
        const now = Date.now();
        let quiet = false;
        for (const job of active) {
          const silentMs = now - Math.max(contact, job.queuedAt ?? job.created);
          if (silentMs >= limit) this.#apply(job, { type: "gone", silentMs });
          else if (silentMs >= limit / 2) quiet = true;
        }
        if (quiet) this.#probe(limit);
      },
      Math.max(10, Math.min(1000, limit / 4)),
    );
  }

  /**
   * One probe at a time (the poll's list of active prompts): any reply of the server counts as
   * contact (`Http.lastReplyAt`).
   */
  #probe(timeoutMs: number): void {
    if (this.#probing) return;
    this.#probing = true;
    void this.#activeIds(timeoutMs)
      .catch(() => undefined)
      .finally(() => (this.#probing = false));
  }

  #stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #arm(job: JobState, phase: "queue" | "run" | "stall", ms: number | undefined): void {
    if (!ms) return;
    if (job.timers[phase]) clearTimeout(job.timers[phase]);
    job.timers[phase] = setTimeout(() => this.#apply(job, { type: "timeout", phase, ms }), ms);
  }

  #release(job: JobState): void {
    job.resubmitBody = undefined;
    this.#jobs.delete(job.promptId);
    if (this.#lastActive === job) this.#lastActive = undefined;
    if (this.#jobs.size === 0) this.#stopWatchdog();
  }

  #emit(job: JobState, event: JobEvent): void {
    emitJobEvent(job.events, event);
  }

  #log(job: JobState, phase: JobLogLine["phase"], extra: Partial<JobLogLine> = {}): void {
    this.#options.onLog?.(logLine(phase, job.promptId, this.#server, extra));
  }
}

/** Emits a job event to its listeners (`job:<type>` and `job:event`). */
export function emitJobEvent(events: EventEmitter, event: JobEvent): void {
  // Prefixed names: a plain "error" event would throw on an emitter without listeners.
  events.emit(`job:${event.type}`, event);
  events.emit("job:event", event);
}

/** One `onLog` line. */
export function logLine(
  phase: JobLogLine["phase"],
  promptId: string,
  server: string,
  extra: Partial<JobLogLine> = {},
): JobLogLine {
  return { ts: new Date().toISOString(), event: "comfyc.job", phase, promptId, server, ...extra };
}

/** Per-attempt timeout of poll and history requests: a frozen server must not stall the poll. */
const POLL_TIMEOUT_MS = 10_000;

/** The statuses of `GET /api/jobs/{id}` for a job that is not over yet. */
const UNFINISHED_SERVER_JOB: ReadonlySet<string> = new Set(["pending", "in_progress"]);

/**
 * A finished job of `GET /api/jobs/{id}` as the history entry it was built from (its
 * `execution_status` and `outputs`), or `undefined` while it is pending or running. The
 * outputs are the jobs API's normalised ones: a 3D file given as a bare name is a file item.
 */
function finishedEntry(job: ServerJobDetail): HistoryEntry | undefined {
  if (UNFINISHED_SERVER_JOB.has(job.status) && !job.execution_status) return undefined;
  const failed = job.status === "failed" || job.status === "cancelled";
  return HistoryEntrySchema.parse({
    prompt: [],
    outputs: job.outputs ?? {},
    status: job.execution_status ?? {
      status_str: failed ? "error" : "success",
      completed: !failed,
      messages: [],
    },
    meta: {},
  });
}

/**
 * Whether `promise` settled before `signal` aborted: its value when it did, else a rejection with
 * the signal's reason (the cancel's deadline, which `cancelFailure` reports as `TIMEOUT`).
 */
function settledWithin<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function clearTimers(job: JobState): void {
  for (const t of Object.values(job.timers)) if (t) clearTimeout(t);
  job.timers = {};
}

/** What {@link TrackedJob} reads of a job's state (the classic tracker's and the v2 one's). */
export interface JobView {
  readonly promptId: string;
  readonly prompt: Readonly<Record<string, unknown>>;
  readonly status: JobStatus;
  readonly error: ComfycError | undefined;
  readonly currentNode: string | undefined;
  readonly expectedOutputs: ReadonlySet<string> | undefined;
  readonly cancelOutcome: Promise<CancelOutcome> | undefined;
  readonly result: Promise<JobResult>;
  /** Emits `job:<type>` and `job:event` for every {@link JobEvent}. */
  readonly events: EventEmitter;
}

/** The read-only view of a job users get: getters over a tracker's state, nothing to set. */
export class TrackedJob implements Job {
  readonly #state: JobView;
  readonly #cancel: () => Promise<CancelOutcome>;

  constructor(state: JobView, cancel: () => Promise<CancelOutcome>) {
    this.#state = state;
    this.#cancel = cancel;
  }

  get promptId(): string {
    return this.#state.promptId;
  }
  get prompt(): Readonly<Record<string, unknown>> {
    return this.#state.prompt;
  }
  get status(): JobStatus {
    return this.#state.status;
  }
  get done(): boolean {
    return FINAL.has(this.#state.status);
  }
  get currentNode(): string | undefined {
    return this.#state.currentNode;
  }
  get error(): ComfycError | undefined {
    return this.#state.error;
  }
  get expectedOutputs(): ReadonlySet<string> | undefined {
    return this.#state.expectedOutputs;
  }
  get cancelOutcome(): Promise<CancelOutcome> | undefined {
    return this.#state.cancelOutcome;
  }

  result(): Promise<JobResult> {
    return this.#state.result;
  }

  on<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this {
    this.#state.events.on(`job:${type}`, listener as (e: unknown) => void);
    return this;
  }

  off<T extends JobEvent["type"]>(
    type: T | "event",
    listener: (event: Extract<JobEvent, { type: T }>) => void,
  ): this {
    this.#state.events.off(`job:${type}`, listener as (e: unknown) => void);
    return this;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<JobEvent> {
    if (this.done) return;
    const controller = new AbortController();
    try {
      for await (const [event] of on(this.#state.events, "job:event", {
        signal: controller.signal,
      })) {
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

  cancel(): Promise<CancelOutcome> {
    return this.#cancel();
  }
}
