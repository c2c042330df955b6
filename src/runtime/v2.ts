import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { createParser } from "eventsource-parser";
import { ComfycError, internalError, isComfycError } from "../errors.js";
import {
  V2ErrorEnvelopeSchema,
  V2JobSchema,
  V2SseEventSchemas,
  V2_TERMINAL,
  type V2Job,
  type V2Output,
  type V2PreviewEvent,
  type V2Progress,
} from "../protocol/comfy-api-v2.js";
import { parseJsonLossless, stringifyJson } from "../protocol/json.js";
import type { NodeOutput } from "../protocol/messages.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";
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
import { parseReply, ReplyTooLargeError, type Http } from "./http.js";
import { V2Assets } from "./v2-assets.js";
import {
  jobResult,
  type CancelOutcome,
  type Job,
  type JobEvent,
  type JobLogLine,
  type JobResult,
  type JobStatus,
  type JobTimeouts,
} from "./job.js";
import {
  DEFAULT_CANCEL_TIMEOUT_MS,
  DEFAULT_UNREACHABLE_TIMEOUT_MS,
  emitJobEvent,
  FINAL,
  logLine,
  TrackedJob,
  type AttachOptions,
  type JobView,
  type PreparedPrompt,
  type SubmitOptions,
} from "./tracker.js";

/** What the v2 jobs need from their client. */
export interface V2JobsOptions {
  readonly http: Http;
  /** How often a job is polled while its event stream is down (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** How often a job is polled while its event stream is up, in case it went quiet (default 3000 ms). */
  readonly silenceMs?: number;
  readonly unreachableTimeoutMs?: number;
  readonly cancelTimeoutMs?: number;
  readonly onLog?: (line: JobLogLine) => void;
}

/** A v2 job's mutable state; users read it through {@link TrackedJob}. */
interface V2State extends JobView {
  promptId: string;
  status: JobStatus;
  error: ComfycError | undefined;
  currentNode: string | undefined;
  cancelOutcome: Promise<CancelOutcome> | undefined;
  readonly context: PreparedPrompt["context"];
  readonly timeouts: JobTimeouts;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: ComfycError) => void;
  readonly created: number;
  readonly stop: AbortController;
  /** `urls` of the job as the server gave them. */
  urls: V2Job["urls"] | undefined;
  cancelRequested: boolean;
  settleEarlyCancel: ((o: CancelOutcome) => void) | undefined;
  /** The budget of the cancel, once one was asked: every cancel request runs under it. */
  cancelDeadline: CancelDeadline | undefined;
  /** True once `POST /api/v2/jobs` was sent: before, a cancel withdraws the job at once. */
  posting: boolean;
  lastContact: number;
  queuedAt: number | undefined;
  startedAt: number | undefined;
  /** The last progress snapshot seen, as a key: the stall timer restarts when it changes. */
  progressKey: string | undefined;
  timers: { queue?: NodeJS.Timeout; run?: NodeJS.Timeout; stall?: NodeJS.Timeout };
}

/**
 * Jobs over Comfy API v2 (`../shared/comfy-api-v2-openapi.yaml`): the same {@link Job} as the
 * classic transport, submitted with `POST /api/v2/jobs` (an `Idempotency-Key` per submission),
 * followed with `GET /api/v2/jobs/{id}` as the source of truth and the SSE stream
 * `GET …/events` as a live enhancement (a stream that drops or is not served, 501, only slows
 * updates to the poll interval), cancelled with `POST …/cancel`. The stream's `progress`
 * snapshots become `executing` and `progress` events, its `preview` events (base64 images)
 * `preview` events; `timeouts.stallMs` counts from the last change of the progress snapshot.
 *
 * Mapping to the classic job: `queued` → queued; `running`, `canceling` → running;
 * `succeeded` → succeeded; `failed` → failed (`ExecutionFailedError` from `job.error`);
 * `canceled` → cancelled when this client asked, else interrupted; `expired` → lost. Outputs
 * are v2 assets: each becomes a file reference carrying its asset `url`, so `client.save()` and
 * `saveOutputs()` download it from there; text outputs are read into `result.texts`. Input
 * files (`localFile()`, `fileBytes()`) are uploaded as assets and referenced as `core/ASSET`
 * ({@link V2Assets}).
 *
 * Errors: 422 `invalid_workflow` → `PromptRejectedError` with ComfyUI's `node_errors`;
 * `workflow_format_ui`, `missing_asset` → `PromptRejectedError` naming the code; a 429 is
 * retried after its `Retry-After` within the transport's budget; 401/403 → `AUTH_FAILED`.
 */
export class V2Jobs {
  readonly #options: V2JobsOptions;
  readonly #jobs = new Set<V2State>();
  readonly #assets: V2Assets;
  readonly #handles = new WeakMap<V2State, TrackedJob>();
  readonly #cancels = new Set<Promise<CancelOutcome>>();
  readonly #server: string;
  #closed = false;

  constructor(options: V2JobsOptions) {
    this.#options = options;
    this.#assets = new V2Assets(options.http);
    this.#server = options.http.baseUrl.origin;
  }

  get jobs(): readonly Job[] {
    return [...this.#jobs].map((j) => this.#handle(j));
  }

  /**
   * Submits a prompt as a v2 job. Until the server accepts it, `job.promptId` is the
   * submission's `Idempotency-Key`; from the `queued` event on it is the v2 job id.
   */
  submit(prepared: PreparedPrompt, options: SubmitOptions): Job {
    const job = this.#create(randomUUID(), prepared.prompt, prepared, options.timeouts ?? {});
    options.signal?.addEventListener("abort", () => void this.#cancel(job), { once: true });
    if (options.signal?.aborted) void this.#cancel(job);
    void this.#post(job, prepared, options);
    return this.#handle(job);
  }

  /** Follows a v2 job submitted earlier, by its id. */
  attach(id: string, options: AttachOptions): Job {
    const job = this.#create(
      id,
      {},
      { context: () => undefined, expectedOutputs: undefined },
      options.timeouts ?? {},
    );
    this.#enterQueued(job, id);
    void this.#follow(job);
    return this.#handle(job);
  }

  /** Stops following every job; cancels being delivered finish first (within their budget). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#cancels]);
    for (const job of [...this.#jobs]) {
      // Still in flight: nobody follows it any more, so nothing else would end it.
      if (!FINAL.has(job.status))
        this.#finish(job, "failed", new ClientClosedError(job.promptId, this.#server));
      job.stop.abort();
      clearTimers(job);
    }
  }

  #handle(job: V2State): Job {
    let h = this.#handles.get(job);
    if (!h) this.#handles.set(job, (h = new TrackedJob(job, () => this.#cancel(job))));
    return h;
  }

  #create(
    id: string,
    prompt: Readonly<Record<string, unknown>>,
    prepared: Pick<PreparedPrompt, "context" | "expectedOutputs">,
    timeouts: JobTimeouts,
  ): V2State {
    let resolve!: (r: JobResult) => void;
    let reject!: (e: ComfycError) => void;
    const result = new Promise<JobResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // An unobserved failure must not crash the process: the caller reads it from result().
    result.catch(() => undefined);
    const job: V2State = {
      promptId: id,
      prompt,
      status: "submitting",
      error: undefined,
      currentNode: undefined,
      expectedOutputs: prepared.expectedOutputs,
      cancelOutcome: undefined,
      result,
      events: new EventEmitter(),
      context: prepared.context,
      timeouts,
      resolve,
      reject,
      created: Date.now(),
      stop: new AbortController(),
      urls: undefined,
      cancelRequested: false,
      settleEarlyCancel: undefined,
      cancelDeadline: undefined,
      posting: false,
      lastContact: Date.now(),
      queuedAt: undefined,
      startedAt: undefined,
      progressKey: undefined,
      timers: {},
    };
    this.#jobs.add(job);
    return job;
  }

  // ---- Submission --------------------------------------------------------------------

  async #post(job: V2State, prepared: PreparedPrompt, options: SubmitOptions): Promise<void> {
    try {
      const unsupported = [
        ...(options.front ? ["front"] : []),
        ...(options.partialExecutionTargets ? ["partialExecutionTargets"] : []),
        ...(options.fresh ? ["fresh"] : []),
        ...(options.resubmitOnLoss ? ["resubmitOnLoss"] : []),
        ...Object.keys(options.extraData ?? {})
          .filter((k) => k !== "api_key_comfy_org")
          .map((k) => `extraData.${k}`),
      ];
      if (unsupported.length > 0)
        throw new ComfycError(
          "USAGE",
          `Comfy API v2 has no ${unsupported.join(", ")}: its jobs take a workflow and extra_data.api_key_comfy_org only`,
          'Drop these options, or submit to the ComfyUI server itself (api: "classic").',
        );
      if (job.cancelRequested)
        return this.#finish(job, "cancelled", new CancelledError(job.promptId));
      const key = job.promptId;
      const apiKey = options.extraData?.["api_key_comfy_org"];
      const workflow = await this.#assets.resolve(prepared.prompt, options.signal);
      const body = stringifyJson({
        workflow,
        ...(typeof apiKey === "string" ? { extra_data: { api_key_comfy_org: apiKey } } : {}),
      });
      if (job.cancelRequested || FINAL.has(job.status))
        return this.#finish(job, "cancelled", new CancelledError(job.promptId));
      job.posting = true;
      let attempts = 0;
      const reply = await this.#options.http.request(
        {
          method: "POST",
          path: "api/v2/jobs",
          body,
          headers: { "content-type": "application/json", "idempotency-key": key },
          accept: (s) => s === 201 || s === 400 || s === 402 || s === 409 || s === 422,
          honourRetryAfter: true,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        async (res) => ({ status: res.status, text: await res.body.text(), attempt: ++attempts }),
      );
      if (reply.status !== 201) throw this.#rejection(job, reply.text, reply.attempt);
      const v2 = parseReply(
        reply.text,
        V2JobSchema,
        `POST ${this.#options.http.url("api/v2/jobs")}`,
      );
      job.lastContact = Date.now();
      // The cancel's budget ran out before this reply: the job ended CANCEL_UNDELIVERED.
      if (FINAL.has(job.status)) return;
      this.#enterQueued(job, v2.id);
      if (job.settleEarlyCancel) {
        const settle = job.settleEarlyCancel;
        job.settleEarlyCancel = undefined;
        // Within what is left of the budget that started with the cancel.
        settle(await this.#deliverCancel(job, true, job.cancelDeadline));
      }
      this.#apply(job, v2);
      void this.#follow(job);
    } catch (e) {
      const error = isComfycError(e) ? e : internalError(e, "submitting a v2 job");
      if (job.settleEarlyCancel) {
        job.settleEarlyCancel({ state: "not-submitted" });
        job.settleEarlyCancel = undefined;
      }
      this.#finish(
        job,
        job.cancelRequested ? "cancelled" : "failed",
        job.cancelRequested ? new CancelledError(job.promptId) : error,
      );
    }
  }

  /** The typed error for a rejected submission (an `ErrorEnvelope`). */
  #rejection(job: V2State, text: string, attempt: number): ComfycError {
    const what = `POST ${this.#options.http.url("api/v2/jobs")}`;
    const envelope = parseReply(text, V2ErrorEnvelopeSchema, what).error;
    const details = envelope.details ?? {};
    if (envelope.code === "idempotency_key_reuse" && attempt > 1)
      return new ComfycError(
        "JOB_LOST",
        `${what}: an earlier attempt of this submission may have created the job, but the server did not say its id (idempotency_key_reuse on attempt ${attempt})`,
        "Look for the job on the server before submitting it again; keys are single-use, so comfyc cannot resubmit it safely.",
      );
    const nodeErrors = (details["node_errors"] ?? {}) as NodeErrors;
    const error = (details["error"] as ErrorObj | undefined) ?? {
      type: envelope.code,
      message: envelope.message,
      details: "",
      extra_info: {},
    };
    return new PromptRejectedError(error, nodeErrors, false, job.context, this.#server);
  }

  // ---- Following ---------------------------------------------------------------------

  /** Polls the job (the source of truth) while its event stream, when served, pushes updates. */
  async #follow(job: V2State): Promise<void> {
    let streaming = false;
    let streamServed = true;
    const stream = async () => {
      while (streamServed && !FINAL.has(job.status) && !this.#closed) {
        try {
          streaming = true;
          streamServed = await this.#stream(job);
        } catch (e) {
          // Dropped: the poll carries on; reconnect after a pause. An event past
          // limits.messageBytes would come again: polling alone follows the job then.
          if (e instanceof ReplyTooLargeError) streamServed = false;
        } finally {
          streaming = false;
        }
        if (!FINAL.has(job.status))
          await pause(this.#options.pollIntervalMs ?? 1000, job.stop.signal);
      }
    };
    void stream();
    const unreachable = this.#options.unreachableTimeoutMs ?? DEFAULT_UNREACHABLE_TIMEOUT_MS;
    while (!FINAL.has(job.status) && !this.#closed) {
      await pause(
        streaming ? (this.#options.silenceMs ?? 3000) : (this.#options.pollIntervalMs ?? 1000),
        job.stop.signal,
      );
      if (FINAL.has(job.status) || this.#closed) break;
      // A poll of a frozen server ends when the watchdog's limit is reached, not later.
      const heard = () => Math.max(job.lastContact, this.#options.http.lastReplyAt);
      await this.#poll(job, Math.min(10_000, Math.max(100, unreachable - (Date.now() - heard()))));
      const silent = Date.now() - heard();
      if (silent >= unreachable)
        this.#finish(job, "failed", new ServerGoneError(job.promptId, this.#server, silent));
    }
  }

  /** One `GET /api/v2/jobs/{id}`; a failure is left to the next poll and the watchdog. */
  async #poll(job: V2State, timeoutMs = 10_000): Promise<void> {
    try {
      const v2 = await this.#options.http.json(
        {
          method: "GET",
          path: this.#link(job, "self"),
          retry: false,
          timeoutMs,
          signal: job.stop.signal,
        },
        V2JobSchema,
      );
      job.lastContact = Date.now();
      await this.#apply(job, v2);
    } catch (e) {
      if (isComfycError(e, "NOT_FOUND"))
        this.#finish(job, "lost", new JobLostError(job.promptId, "v2"));
    }
  }

  /**
   * Reads the job's SSE stream until it ends. Returns false when the server does not serve
   * streams (501, or 429 `too_many_streams`): polling alone follows the job then.
   */
  async #stream(job: V2State): Promise<boolean> {
    const res = await this.#options.http.send({
      method: "GET",
      path: this.#link(job, "events"),
      headers: { accept: "text/event-stream" },
      retry: false,
      timeoutMs: 0,
      signal: job.stop.signal,
      accept: (s) => s === 200 || s === 429 || s === 501,
      // An event stream is endless by design; each event is bounded below.
      limit: "none",
    });
    if (res.status !== 200) {
      await res.body.dump();
      return false;
    }
    let terminal = false;
    let tooLarge = false;
    const pending: Promise<void>[] = [];
    const maxEvent = this.#options.http.limits.messageBytes;
    const parser = createParser({
      // One event (its field lines up to the blank line that ends it) past the limit: the
      // parser drops what it holds and stops, and the stream is dropped below.
      maxBufferSize: maxEvent,
      onError: (e) => {
        if (e.type === "max-buffer-size-exceeded") tooLarge = true;
      },
      onEvent: (message) => {
        job.lastContact = Date.now();
        const name = message.event ?? "message";
        const schema = V2SseEventSchemas[name as keyof typeof V2SseEventSchemas];
        if (!schema) return;
        let data: unknown;
        try {
          data = parseJsonLossless(message.data);
        } catch {
          return;
        }
        const parsed = schema.safeParse(data);
        if (!parsed.success) return;
        if (name === "status") {
          const status = (parsed.data as { status: V2Job["status"] }).status;
          if (V2_TERMINAL.has(status)) {
            // The terminal snapshot: the job itself is the source of truth, read it.
            terminal = true;
            pending.push(this.#poll(job));
          } else this.#status(job, status);
        } else if (name === "progress") this.#progress(job, parsed.data as V2Progress);
        else if (name === "preview" && !FINAL.has(job.status)) {
          const p = parsed.data as V2PreviewEvent;
          this.#emit(job, {
            type: "preview",
            node: p.node_id,
            mime: p.content_type,
            image: Buffer.from(p.data_base64, "base64"),
          });
        }
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      if (tooLarge) {
        const url = this.#options.http.url(this.#link(job, "events")).toString();
        const error = new ReplyTooLargeError("GET", url, maxEvent, "limits.messageBytes");
        res.body.destroy(error);
        throw error;
      }
      if (terminal) break;
    }
    await Promise.all(pending);
    return true;
  }

  /** A job snapshot from `GET` (or a submission's 201): one transition. */
  async #apply(job: V2State, v2: V2Job): Promise<void> {
    if (FINAL.has(job.status)) return;
    job.urls = v2.urls;
    if (!V2_TERMINAL.has(v2.status)) {
      this.#status(job, v2.status);
      if (v2.progress) this.#progress(job, v2.progress);
      return;
    }
    switch (v2.status) {
      case "succeeded":
        return this.#succeed(job, v2.outputs);
      case "failed": {
        const e = v2.error;
        return this.#finish(
          job,
          "failed",
          new ExecutionFailedError(
            job.promptId,
            e?.node_id ?? undefined,
            e?.class_type ?? undefined,
            e?.code ?? "failed",
            e?.message ?? "The job failed",
            e?.traceback ? [e.traceback] : [],
            e?.node_id ? job.context(e.node_id) : undefined,
          ),
        );
      }
      case "canceled":
        return job.cancelRequested
          ? this.#finish(job, "cancelled", new CancelledError(job.promptId))
          : this.#finish(job, "interrupted", new InterruptedError(job.promptId, job.currentNode));
      default:
        return this.#finish(job, "lost", new JobLostError(job.promptId, "v2"));
    }
  }

  #status(job: V2State, status: V2Job["status"]): void {
    if (FINAL.has(job.status)) return;
    if ((status === "running" || status === "canceling") && job.status !== "running") {
      if (job.status === "submitting") return;
      job.status = "running";
      job.startedAt = Date.now();
      if (job.timers.queue) clearTimeout(job.timers.queue);
      this.#arm(job, "run", job.timeouts.runMs);
      this.#arm(job, "stall", job.timeouts.stallMs);
      this.#emit(job, { type: "started", promptId: job.promptId });
      this.#log(job, "running", { queuedMs: job.startedAt - (job.queuedAt ?? job.created) });
    }
  }

  #progress(job: V2State, p: V2Progress): void {
    if (FINAL.has(job.status) || job.status === "submitting") return;
    if (job.status === "queued") this.#status(job, "running");
    // Snapshots repeat (the stream sends one about twice a second, every poll reads one): only
    // a change (another node, a node done, a step) is progress: it restarts the stall timer and
    // becomes events; a repeat is dropped.
    const key = `${p.nodes_done}/${p.nodes_total} ${p.current_node ?? ""} ${p.step ?? ""}/${p.steps ?? ""}`;
    if (key === job.progressKey) return;
    job.progressKey = key;
    if (job.status === "running") this.#arm(job, "stall", job.timeouts.stallMs);
    const node = p.current_node ?? undefined;
    if (node !== undefined && node !== job.currentNode) {
      job.currentNode = node;
      this.#emit(job, { type: "executing", node, displayNode: node });
    }
    const stepped = p.step != null && p.steps != null && p.steps > 0;
    this.#emit(job, {
      type: "progress",
      node,
      value: stepped ? p.step! : p.nodes_done,
      max: stepped ? p.steps! : p.nodes_total,
    });
  }

  #enterQueued(job: V2State, id: string): void {
    job.promptId = id;
    job.status = "queued";
    job.queuedAt = Date.now();
    this.#arm(job, "queue", job.timeouts.queueMs);
    this.#emit(job, { type: "queued", promptId: id });
    this.#log(job, "queued");
  }

  /** Ends a job with its outputs (text assets read into `texts`). */
  async #succeed(job: V2State, outputs: readonly V2Output[]): Promise<void> {
    const byNode: Record<string, Record<string, unknown[]>> = {};
    for (const o of outputs) {
      const ui = (byNode[o.node_id] ??= {});
      if (o.type === "text" && o.size_bytes <= MAX_TEXT_BYTES) {
        try {
          // Read whole: the transport stops reading past MAX_TEXT_BYTES (a size_bytes that lied).
          const res = await this.#options.http.send({
            method: "GET",
            path: o.url,
            retry: true,
            maxBytes: MAX_TEXT_BYTES,
          });
          (ui["text"] ??= []).push(await res.body.text());
          continue;
        } catch {
          // Kept as a file below: it can still be downloaded later.
        }
      }
      (ui[UI_KEY[o.type]] ??= []).push({
        filename: o.name,
        subfolder: "",
        type: "output",
        url: o.url,
        asset_id: o.id,
        content_type: o.content_type,
        size_bytes: o.size_bytes,
      });
    }
    if (FINAL.has(job.status)) return;
    const result = jobResult(job.promptId, byNode as Record<string, NodeOutput>, []);
    job.status = "succeeded";
    clearTimers(job);
    this.#jobs.delete(job);
    this.#log(job, "done", {
      runMs: Date.now() - (job.startedAt ?? job.created),
      totalMs: Date.now() - job.created,
      outputs: result.files.length,
    });
    job.stop.abort();
    this.#emit(job, { type: "success", result });
    job.resolve(result);
  }

  #finish(job: V2State, status: JobStatus, error: ComfycError): void {
    if (FINAL.has(job.status)) return;
    job.status = status;
    job.error = error;
    clearTimers(job);
    this.#jobs.delete(job);
    job.stop.abort();
    this.#log(job, "failed", { code: error.code, message: error.message });
    if (status === "interrupted") this.#emit(job, { type: "interrupted", node: job.currentNode });
    this.#emit(job, { type: "error", error });
    job.reject(error);
  }

  // ---- Cancel and timeouts -----------------------------------------------------------

  #cancel(job: V2State): Promise<CancelOutcome> {
    if (job.cancelOutcome) return job.cancelOutcome;
    if (FINAL.has(job.status)) return Promise.resolve({ state: "finished" });
    job.cancelRequested = true;
    const deadline = this.#cancelDeadline();
    job.cancelDeadline = deadline;
    if (job.status !== "submitting") {
      job.cancelOutcome = this.#deliverCancel(job, true, deadline);
      return this.#keep(job.cancelOutcome);
    }
    job.cancelOutcome = new Promise((resolve) => (job.settleEarlyCancel = resolve));
    if (!job.posting) {
      // Nothing reached the server yet (uploading assets): withdrawn at once.
      job.settleEarlyCancel?.({ state: "not-submitted" });
      job.settleEarlyCancel = undefined;
      this.#finish(job, "cancelled", new CancelledError(job.promptId));
    } else {
      const server = this.#options.http.baseUrl.origin;
      undeliveredAtDeadline(
        job,
        deadline,
        server,
        "POST /api/v2/jobs (the cancel waits for the job's id)",
        (error) =>
          this.#finish(job, "failed", new CancelUndeliveredError(job.promptId, server, error)),
      );
    }
    return this.#keep(job.cancelOutcome);
  }

  /** A new cancel budget (`cancelTimeoutMs`), on our clock. */
  #cancelDeadline(): CancelDeadline {
    return cancelDeadline(this.#options.cancelTimeoutMs ?? DEFAULT_CANCEL_TIMEOUT_MS);
  }

  /**
   * `POST …/cancel` within the cancel budget (`budget`, a new one by default); the reply says
   * what became of the job. Not delivered in time: the job ends `CANCEL_UNDELIVERED`.
   */
  async #deliverCancel(
    job: V2State,
    endJob: boolean,
    budget: CancelDeadline = this.#cancelDeadline(),
  ): Promise<CancelOutcome> {
    const wasQueued = job.status === "queued";
    const server = this.#options.http.baseUrl.origin;
    try {
      const v2 = await this.#options.http.json(
        { method: "POST", path: this.#link(job, "cancel"), signal: budget.signal },
        V2JobSchema,
      );
      job.lastContact = Date.now();
      if (v2.status === "succeeded" || v2.status === "failed" || v2.status === "expired") {
        if (endJob) await this.#apply(job, v2);
        return { state: "finished" };
      }
      if (v2.status === "canceled" && endJob)
        this.#finish(job, "cancelled", new CancelledError(job.promptId));
      return { state: wasQueued && v2.status === "canceled" ? "dequeued" : "interrupted" };
    } catch (e) {
      const error = cancelFailure(e, budget, server, `the cancel of job ${job.promptId}`);
      if (endJob)
        this.#finish(job, "failed", new CancelUndeliveredError(job.promptId, server, error));
      return { state: "undelivered", error };
    }
  }

  #keep(outcome: Promise<CancelOutcome>): Promise<CancelOutcome> {
    this.#cancels.add(outcome);
    void outcome.finally(() => this.#cancels.delete(outcome));
    return outcome;
  }

  #arm(job: V2State, phase: "queue" | "run" | "stall", ms: number | undefined): void {
    if (!ms) return;
    if (job.timers[phase]) clearTimeout(job.timers[phase]);
    job.timers[phase] = setTimeout(() => {
      if (FINAL.has(job.status)) return;
      job.cancelOutcome ??= this.#keep(this.#deliverCancel(job, false));
      this.#finish(job, "failed", new JobTimeoutError(job.promptId, phase, ms));
    }, ms);
  }

  /**
   * A follow-up link of the job (`urls`), resolved against the server's origin. A link to
   * another origin is not followed: every request carries the client's credentials, which never
   * leave the server they were given for (as for assets); the job's route under the client's
   * URL (its path prefix kept) is used instead, and so when the server gave no link.
   */
  #link(job: V2State, name: "self" | "events" | "cancel"): string {
    const given = job.urls?.[name];
    const origin = this.#options.http.baseUrl.origin;
    if (given !== undefined) {
      const url = URL.canParse(given, origin) ? new URL(given, origin) : undefined;
      if (url?.origin === origin) return url.href;
    }
    const path = `api/v2/jobs/${encodeURIComponent(job.promptId)}${name === "self" ? "" : `/${name}`}`;
    return this.#options.http.url(path).href;
  }

  #emit(job: V2State, event: JobEvent): void {
    emitJobEvent(job.events, event);
  }

  #log(job: V2State, phase: JobLogLine["phase"], extra: Partial<JobLogLine> = {}): void {
    this.#options.onLog?.(logLine(phase, job.promptId, this.#server, extra));
  }
}

/** Text outputs up to this size are read into `result.texts`; larger ones stay files. */
const MAX_TEXT_BYTES = 1024 * 1024;

/** The UI output key a v2 output type is listed under (the keys ComfyUI's nodes use). */
const UI_KEY: Record<V2Output["type"], string> = {
  image: "images",
  video: "images",
  audio: "audio",
  text: "text_files",
  file: "files",
  latent: "latents",
};

function clearTimers(job: V2State): void {
  for (const t of Object.values(job.timers)) if (t) clearTimeout(t);
  job.timers = {};
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
