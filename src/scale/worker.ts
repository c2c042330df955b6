import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { DelayedError, UnrecoverableError, Worker, type Job as BullJob } from "bullmq";
import type { Redis } from "ioredis";
import pRetry from "p-retry";
import { pino, type Logger } from "pino";
import { ComfycError, isComfycError } from "../errors.js";
import { stringifyJson } from "../protocol/json.js";
import { ComfyClient, type ClientOptions } from "../runtime/client.js";
import { checkDurations } from "../runtime/durations.js";
import type { Job, JobResult } from "../runtime/job.js";
import { capabilitiesOf, capabilityId, type Capabilities } from "./capabilities.js";
import { ensureInputs, renameInputs } from "./inputs.js";
import { LocalStorage } from "./local-storage.js";
import { ScaleMetrics } from "./metrics.js";
import { ComfyQueue, type WorkerInfo } from "./queue.js";
import {
  inputsOf,
  parseJobData,
  type JobErrorRecord,
  type JobOutcome,
  type JobOutput,
  type JobProgressRecord,
  type QueuedJobData,
} from "./record.js";
import {
  BULL_PREFIX,
  connectRedis,
  laneQueueName,
  queueKeys,
  type RedisConnection,
} from "./redis.js";
import { outputKey, type Storage } from "./storage.js";

/** Settings of a {@link ComfyWorker}. */
export interface ComfyWorkerOptions {
  /** Redis URL or ioredis options. */
  readonly redis: RedisConnection;
  /** The one ComfyUI instance this worker feeds: a URL or full client options (auth, TLS). */
  readonly server: string | ClientOptions;
  /** Queue name (default `comfyc`). */
  readonly queue?: string;
  /** Jobs run at once on the instance (default 1: ComfyUI runs one prompt at a time). */
  readonly concurrency?: number;
  /** Where outputs are copied (default: the folder `comfyc-outputs` in the working directory). */
  readonly storage?: Storage;
  /** A pino logger for the per-phase JSON lines (default: JSON lines on stdout); `false`: none. */
  readonly logger?: Logger | false;
  /** Metrics to record into (default: a fresh {@link ScaleMetrics}). */
  readonly metrics?: ScaleMetrics;
  /**
   * How long a job's lock lasts without renewal, in ms (default 30000). A worker killed
   * mid-job loses its jobs to another worker after about this long.
   */
  readonly lockDurationMs?: number;
  /** How often stalled jobs are looked for, in ms (default: `lockDurationMs`). */
  readonly stalledIntervalMs?: number;
  /** Health probe interval while the instance is up, in ms (default 2000). */
  readonly healthIntervalMs?: number;
  /** Worker id (default: `<host>-<pid>-<random>`). */
  readonly id?: string;
}

/** Codes that end a job for good: retrying would fail the same way. */
const PERMANENT = new Set([
  "PROMPT_REJECTED",
  "PROMPT_INVALID",
  "EXECUTION_FAILED",
  "INTERRUPTED",
  "CANCELLED",
  // The prompt may still run on the instance: running it again could run it twice.
  "CANCEL_UNDELIVERED",
  "UNSAFE_PATH",
  "WORKFLOW_INVALID",
  "AUTH_FAILED",
  "TIMEOUT",
  "USAGE",
  // Data in Redis that is not a comfyc job: every attempt would read the same.
  "JOB_DATA_INVALID",
]);

/** Why an attempt was stopped from outside the job. */
type StopReason = "cancel" | "instance-down" | "hand-back";

interface ActiveJob {
  readonly job: BullJob<QueuedJobData, JobOutcome>;
  readonly token: string | undefined;
  readonly controller: AbortController;
  comfyJob?: Job;
}

/**
 * One worker for one ComfyUI instance: pulls jobs of its capability lane from the BullMQ queue,
 * runs them on the instance through {@link ComfyClient} (whose tracker alone decides a job's
 * outcome), copies the outputs to storage, and records the result in the job.
 *
 * Failures: a rejected prompt, an execution error, an interrupt, a cancel or a timeout end the
 * job (`UnrecoverableError`, ComfyUI's details in the record). A cancel of a running job ends it
 * `cancelled` only when the instance took the cancel; one it did not take within the client's
 * `cancelTimeoutMs` (frozen or unreachable) ends it `failed` with `CANCEL_UNDELIVERED`, the
 * prompt id and instance in `error.details`, since the prompt may still run there. Transient
 * ones (instance unreachable or restarted, job lost, storage errors) are retried by BullMQ with
 * exponential backoff and jitter. Before each attempt posts anything, the worker records the
 * prompt id and instance in the job, so the next attempt, here or on another worker after a
 * crash, first collects a run that finished (no second execution) or follows one still running.
 *
 * @example
 * const worker = new ComfyWorker({ redis: "redis://127.0.0.1:6379", server: "http://127.0.0.1:8188" });
 * await worker.start();
 * process.on("SIGTERM", () => void worker.close());
 */
export class ComfyWorker {
  readonly id: string;
  readonly metrics: ScaleMetrics;
  readonly storage: Storage;
  readonly queue: ComfyQueue;
  /**
   * Job phases as they happen, each also logged as one JSON line: `started`, `running` (ComfyUI
   * started the prompt), `recover`, `done`, `failed`, `retried`, `handed_back`, each with
   * `{ jobId, phase, … }` (the fields of the log line).
   */
  readonly events = new EventEmitter();
  readonly #options: ComfyWorkerOptions;
  readonly #clientOptions: ClientOptions;
  readonly #log: Logger;
  readonly #keys: ReturnType<typeof queueKeys>;
  readonly #active = new Map<string, ActiveJob>();
  /** Input releases under way (awaited by close()). */
  readonly #releasing = new Set<Promise<void>>();
  #client: ComfyClient | undefined;
  #worker: Worker<QueuedJobData, JobOutcome> | undefined;
  #workerConnection: Redis | undefined;
  #subscriber: Redis | undefined;
  #lane: string | undefined;
  #capabilities: Capabilities | undefined;
  #up = false;
  #closing = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #health: NodeJS.Timeout | undefined;
  #recovering: Promise<void> | undefined;
  readonly #startedAt = Date.now();
  readonly #stopped = new AbortController();

  constructor(options: ComfyWorkerOptions) {
    checkDurations(options, ["lockDurationMs", "stalledIntervalMs", "healthIntervalMs"]);
    this.#options = options;
    this.#clientOptions =
      typeof options.server === "string" ? { url: options.server } : options.server;
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.queue = new ComfyQueue({
      redis: options.redis,
      ...(options.queue ? { name: options.queue } : {}),
    });
    this.#keys = queueKeys(this.queue.name);
    this.metrics = options.metrics ?? new ScaleMetrics(this.queue.name, () => this.queue.counts());
    this.storage = options.storage ?? new LocalStorage("comfyc-outputs");
    this.#log =
      options.logger === false
        ? pino({ enabled: false })
        : (options.logger ?? pino({ base: { worker: this.id } }));
  }

  /** The instance's origin URL. */
  get server(): string {
    return new URL(this.#clientOptions.url).origin;
  }

  /** The capability lane this worker serves (after `start()`). */
  get lane(): string | undefined {
    return this.#lane;
  }

  /** Whether the instance answered its last health probe. */
  get instanceUp(): boolean {
    return this.#up;
  }

  /** Jobs running now. */
  get activeJobs(): readonly string[] {
    return [...this.#active.keys()];
  }

  /**
   * Waits for the instance (probing `/object_info` with backoff), registers its capability
   * lane, and starts pulling jobs. Resolves once the worker is consuming.
   */
  async start(): Promise<void> {
    this.#subscriber = connectRedis(this.#options.redis, true);
    this.#subscriber.on("error", () => undefined);
    this.#subscriber.on("message", (_channel: string, id: string) => this.#stop(id, "cancel"));
    await this.#subscriber.subscribe(this.#keys.cancelChannel);
    await this.#connectInstance();
    this.#heartbeat = setInterval(() => void this.#beat(), 2000);
    this.#heartbeat.unref();
    this.#scheduleHealth();
  }

  /** Reads the instance's schema (retrying until it answers), then (re)joins its lane. */
  async #connectInstance(): Promise<void> {
    const objectInfo = await pRetry(
      async () => {
        if (this.#closing)
          throw new ComfycError("CANCELLED", "The worker is closing", "Start it again to resume.");
        const client = new ComfyClient({ ...this.#clientOptions, retry: { retries: 0 } });
        try {
          return await client.objectInfo();
        } finally {
          await client.close();
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 200,
        maxTimeout: 10_000,
        randomize: true,
        signal: this.#stopped.signal,
        shouldRetry: ({ error }) =>
          !this.#closing && isComfycError(error) && error.code !== "AUTH_FAILED",
        onFailedAttempt: ({ error, attemptNumber }) => {
          if (attemptNumber === 1)
            this.#log.warn(
              {
                event: "comfyc.worker",
                phase: "instance_down",
                instance: this.server,
                err: error.message,
              },
              "waiting for the instance",
            );
        },
      },
    );
    this.#client = new ComfyClient(this.#clientOptions);
    this.#capabilities = capabilitiesOf(objectInfo);
    const lane = capabilityId(this.#capabilities);
    this.#setUp(true);
    await this.queue.redis.hset(this.#keys.lanes, lane, JSON.stringify(this.#capabilities));
    if (lane !== this.#lane) {
      const previous = this.#worker;
      this.#worker = undefined;
      if (previous) {
        await previous.close();
        this.#workerConnection?.disconnect();
      }
      this.#lane = lane;
      await this.#beat();
      this.#openWorker(lane);
      this.#log.info(
        { event: "comfyc.worker", phase: "lane", lane, instance: this.server },
        "serving lane",
      );
    } else {
      await this.#beat();
      this.#worker?.resume();
    }
  }

  #openWorker(lane: string): void {
    const lock = this.#options.lockDurationMs ?? 30_000;
    this.#workerConnection = connectRedis(this.#options.redis, true);
    this.#workerConnection.on("error", () => undefined);
    const worker = new Worker<QueuedJobData, JobOutcome>(
      laneQueueName(this.queue.name, lane),
      (job, token) => this.#process(job, token),
      {
        connection: this.#workerConnection,
        prefix: BULL_PREFIX,
        concurrency: this.#options.concurrency ?? 1,
        lockDuration: lock,
        stalledInterval: this.#options.stalledIntervalMs ?? lock,
        // A job whose worker died is taken over up to twice before it fails as stalled.
        maxStalledCount: 2,
      },
    );
    worker.on("error", (e) =>
      this.#log.warn({ event: "comfyc.worker", err: e.message }, "queue error"),
    );
    // After BullMQ has recorded the end (so a job that ends is never left without its files),
    // and only for good: finishedOn is unset on a failed attempt that will be retried.
    worker.on("completed", (job) => this.#releaseInputs(job));
    worker.on("failed", (job) => this.#releaseInputs(job));
    this.#worker = worker;
  }

  /**
   * Releases a job's stored input files once it has ended for good; emits `inputs_released` on
   * {@link ComfyWorker.events} with `{ jobId, phase, deleted }` (`deleted`: the keys no other
   * job needed, now removed from storage).
   */
  #releaseInputs(job: BullJob<QueuedJobData, JobOutcome> | undefined): void {
    const inputs = job ? inputsOf(job.data) : [];
    if (!job?.id || !job.finishedOn || !inputs.length) return;
    const jobId = job.id;
    const release = this.queue
      .releaseInputs(jobId, inputs, this.storage)
      .then(
        (deleted) => {
          this.#log.info(
            { event: "comfyc.job", jobId, phase: "inputs_released", deleted },
            "input files released",
          );
          this.events.emit("inputs_released", { jobId, phase: "inputs_released", deleted });
        },
        (e: Error) =>
          // Left referenced: `comfyc jobs clean` releases them later.
          this.#log.warn(
            { event: "comfyc.job", jobId, phase: "inputs_released", err: e.message },
            "input files not released",
          ),
      )
      .finally(() => this.#releasing.delete(release));
    this.#releasing.add(release);
  }

  async #beat(): Promise<void> {
    if (!this.#lane) return;
    const info: WorkerInfo = {
      id: this.id,
      lane: this.#lane,
      server: this.server,
      host: hostname(),
      pid: process.pid,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
      instance: this.#up ? "up" : "down",
    };
    try {
      const r = this.queue.redis;
      // A Redis restarted without persistence forgot the lane: publish it again.
      if (this.#capabilities && !(await r.hexists(this.#keys.lanes, this.#lane)))
        await r.hset(this.#keys.lanes, this.#lane, JSON.stringify(this.#capabilities));
      await r.hset(this.#keys.workers, this.id, JSON.stringify(info));
    } catch {
      // Redis is unreachable right now; the next beat tries again.
    }
  }

  #setUp(up: boolean): void {
    this.#up = up;
    this.metrics.instanceUp.set({ instance: this.server }, up ? 1 : 0);
  }

  #scheduleHealth(): void {
    if (this.#closing) return;
    this.#health = setTimeout(() => void this.#probe(), this.#options.healthIntervalMs ?? 2000);
    this.#health.unref();
  }

  /**
   * One `/system_stats` probe. Two failures in a row take the instance out: the worker stops
   * taking jobs, stops its running attempts (they are retried with backoff, and a later attempt
   * collects or follows what the instance did) and probes with backoff until it answers; then
   * it re-reads the schema (the instance may have restarted with other nodes or models).
   */
  async #probe(): Promise<void> {
    if (this.#closing || !this.#client) return;
    let ok = false;
    // No retries inside a probe, and a short timeout: a frozen instance counts as down too.
    const probe = new ComfyClient({
      ...this.#clientOptions,
      retry: { retries: 0 },
      timeoutMs: 5000,
    });
    for (let i = 0; i < 2 && !ok && !this.#closing; i++) {
      ok = await probe.systemStats().then(
        () => true,
        () => false,
      );
    }
    await probe.close();
    if (ok || this.#closing) return this.#scheduleHealth();
    await this.#instanceDown();
  }

  async #instanceDown(): Promise<void> {
    if (this.#recovering) return this.#recovering;
    this.#recovering = (async () => {
      this.#log.warn(
        { event: "comfyc.worker", phase: "instance_down", instance: this.server },
        "instance stopped answering",
      );
      this.#setUp(false);
      await this.#beat();
      // Take no new jobs; attempts in progress are stopped and retried later.
      await this.#worker?.pause(true);
      for (const id of this.#active.keys()) this.#stop(id, "instance-down");
      const client = this.#client;
      this.#client = undefined;
      await client?.close();
      try {
        await this.#connectInstance();
        this.#log.info(
          { event: "comfyc.worker", phase: "instance_up", instance: this.server },
          "instance answers again",
        );
      } catch {
        return; // closing
      } finally {
        this.#recovering = undefined;
      }
      this.#scheduleHealth();
    })();
    return this.#recovering;
  }

  /** Logs one JSON line for a job phase and emits it on {@link ComfyWorker.events}. */
  #phase(
    log: Logger,
    jobId: string,
    fields: { phase: string } & Record<string, unknown>,
    msg: string,
  ): void {
    log.info({ event: "comfyc.job", ...fields }, msg);
    this.events.emit(fields.phase, { jobId, ...fields });
  }

  /** Stops one running attempt from outside (cancel, instance down, shutdown). */
  #stop(id: string, reason: StopReason): void {
    const active = this.#active.get(id);
    if (!active || active.controller.signal.aborted) return;
    active.controller.abort(reason);
  }

  async #process(
    job: BullJob<QueuedJobData, JobOutcome>,
    token: string | undefined,
  ): Promise<JobOutcome> {
    // Redis is untrusted: data that is not a comfyc job fails the job for good, clearly.
    let parsed: ReturnType<typeof parseJobData> | undefined;
    let invalid: unknown;
    try {
      parsed = parseJobData(job.data, job.id!);
    } catch (e) {
      invalid = e;
    }
    const data = parsed?.data;
    const workflow = data?.workflow ?? "unnamed";
    const log = this.#log.child({
      jobId: job.id,
      ...(data?.requestId ? { requestId: data.requestId } : {}),
      workflow,
    });
    /** The prompt id of the attempt recorded in the job, if its data is readable. */
    const runPromptId = () => (parsed ? job.data.run?.promptId : undefined);
    const active: ActiveJob = { job, token, controller: new AbortController() };
    this.#active.set(job.id!, active);
    const startedAt = Date.now();
    const attempt = job.attemptsMade + 1;
    if (job.attemptsMade === 0 && !data?.run)
      this.metrics.waitSeconds.observe({ workflow }, (startedAt - job.timestamp) / 1000);
    this.#phase(
      log,
      job.id!,
      {
        phase: "started",
        attempt,
        instance: this.server,
        waitMs: startedAt - job.timestamp,
      },
      "job started",
    );
    try {
      if (await this.queue.redis.exists(this.#keys.cancelMark(job.id!)))
        throw cancelledJob(job.id!);
      if (!parsed) throw invalid;
      const outcome =
        (await this.#recover(job, active, parsed.prompt, log)) ??
        (await this.#runFresh(job, active, parsed.prompt, attempt, log));
      const runMs = Date.now() - startedAt;
      this.metrics.runSeconds.observe({ workflow, outcome: "succeeded" }, runMs / 1000);
      this.metrics.jobs.inc({ workflow, outcome: "succeeded" });
      this.#phase(
        log,
        job.id!,
        {
          phase: "done",
          promptId: outcome.promptId,
          instance: outcome.instance,
          runMs,
          totalMs: Date.now() - job.timestamp,
          outputs: outcome.outputs.length,
          recovered: outcome.recovered,
        },
        "job done",
      );
      return outcome;
    } catch (e) {
      const reason = active.controller.signal.reason as StopReason | undefined;
      const runMs = Date.now() - startedAt;
      if (reason === "hand-back" && token) {
        // Shutdown: hand the job back at once; its run record lets the next worker follow it.
        await job.moveToDelayed(Date.now(), token);
        this.metrics.jobs.inc({ workflow, outcome: "handed_back" });
        this.#phase(
          log,
          job.id!,
          {
            phase: "handed_back",
            promptId: runPromptId(),
            instance: this.server,
            runMs,
          },
          "job handed back",
        );
        throw new DelayedError();
      }
      // A cancel the instance did not take stays what it is: the prompt may still run there.
      const error = toErrorRecord(
        reason === "cancel" && !(isComfycError(e) && e.code === "CANCEL_UNDELIVERED")
          ? cancelledJob(job.id!)
          : e,
      );
      const permanent = PERMANENT.has(error.code);
      const last = attempt >= (job.opts.attempts ?? 1);
      this.metrics.failures.inc({ code: error.code });
      this.metrics.runSeconds.observe(
        { workflow, outcome: permanent || last ? "failed" : "retried" },
        runMs / 1000,
      );
      if (permanent || last) {
        // Malformed data is kept as it was (when an object), with the error beside it.
        const kept: unknown =
          parsed || (typeof job.data === "object" && job.data !== null) ? job.data : {};
        await job.updateData({ ...(kept as QueuedJobData), error });
        this.metrics.jobs.inc({
          workflow,
          outcome: error.code === "CANCELLED" ? "cancelled" : "failed",
        });
        this.#phase(
          log,
          job.id!,
          {
            phase: "failed",
            promptId: runPromptId(),
            instance: this.server,
            runMs,
            code: error.code,
            message: error.message,
          },
          "job failed",
        );
        if (permanent) throw new UnrecoverableError(error.message);
        throw new Error(error.message);
      }
      this.metrics.jobs.inc({ workflow, outcome: "retried" });
      this.#phase(
        log,
        job.id!,
        {
          phase: "retried",
          promptId: runPromptId(),
          instance: this.server,
          runMs,
          code: error.code,
          message: error.message,
          attempt,
        },
        "job will be retried",
      );
      throw new Error(`${error.code}: ${error.message}`);
    } finally {
      this.#active.delete(job.id!);
    }
  }

  /**
   * Where an earlier attempt already posted the prompt, asks that instance about it: a finished
   * run is collected (outputs copied, nothing executed again), a queued or running one is
   * followed to its end. Returns `undefined` when there is nothing to recover (no earlier run,
   * or the instance lost it), so the caller runs the prompt afresh.
   */
  async #recover(
    job: BullJob<QueuedJobData, JobOutcome>,
    active: ActiveJob,
    prompt: Record<string, unknown>,
    log: Logger,
  ): Promise<JobOutcome | undefined> {
    const run = job.data.run;
    if (!run) return undefined;
    const own = run.server === this.server;
    const client = own
      ? this.#requireClient()
      : new ComfyClient({ url: run.server, retry: { retries: 1 } });
    try {
      let known: boolean;
      try {
        known = (await client.history(run.promptId)) !== undefined;
        if (!known) {
          const q = await client.queue();
          known = [...q.queue_running, ...q.queue_pending].some((item) => item[1] === run.promptId);
        }
      } catch (e) {
        // Our own instance unreachable: retry later. Another worker's: run it here instead.
        if (own) throw e;
        this.#phase(
          log,
          job.id!,
          {
            phase: "recover",
            promptId: run.promptId,
            instance: run.server,
            found: "unreachable",
          },
          "earlier instance unreachable; running again",
        );
        return undefined;
      }
      this.#phase(
        log,
        job.id!,
        {
          phase: "recover",
          promptId: run.promptId,
          instance: run.server,
          found: known ? "yes" : "lost",
        },
        known ? "following the earlier run" : "earlier run lost; running again",
      );
      if (!known) return undefined;
      const comfyJob = client.attach(
        run.promptId,
        job.data.expectedOutputs ? { expectedOutputs: job.data.expectedOutputs } : {},
      );
      const result = await this.#follow(job, active, comfyJob, prompt, log);
      return await this.#collect(job, client, result, run.promptId, true);
    } finally {
      if (!own) await client.close();
    }
  }

  async #runFresh(
    job: BullJob<QueuedJobData, JobOutcome>,
    active: ActiveJob,
    parsedPrompt: Record<string, unknown>,
    attempt: number,
    log: Logger,
  ): Promise<JobOutcome> {
    const client = this.#requireClient();
    const data = job.data;
    const promptId = randomUUID();
    let prompt = parsedPrompt;
    if (data.inputs?.length) {
      // Before posting: the instance must have every input file the prompt names.
      const { uploaded, renamed } = await ensureInputs(
        client,
        this.storage,
        data.inputs,
        active.controller.signal,
      );
      prompt = renameInputs(prompt, renamed);
      this.events.emit("inputs", {
        jobId: job.id,
        phase: "inputs",
        uploaded,
        instance: this.server,
      });
    }
    // Recorded before posting: whoever takes this job over can find the run.
    await job.updateData({
      ...data,
      run: { promptId, server: this.server, worker: this.id, attempt, startedAt: Date.now() },
    });
    const comfyJob = client.submit(prompt, {
      promptId,
      ...(data.fresh ? { fresh: true } : {}),
      ...(data.extraData ? { extraData: data.extraData } : {}),
      // Jobs queued before this field existed have none: every output runs, as before.
      ...(Array.isArray(data.partialExecutionTargets)
        ? { partialExecutionTargets: data.partialExecutionTargets }
        : {}),
      ...(data.timeouts ? { timeouts: data.timeouts } : {}),
      ...(data.expectedOutputs ? { expectedOutputs: data.expectedOutputs } : {}),
    });
    const result = await this.#follow(job, active, comfyJob, prompt, log);
    return this.#collect(job, client, result, promptId, false);
  }

  /** Waits for a ComfyUI job, reporting progress; an outside stop ends the wait at once. */
  async #follow(
    job: BullJob<QueuedJobData, JobOutcome>,
    active: ActiveJob,
    comfyJob: Job,
    prompt: Record<string, unknown>,
    log: Logger,
  ): Promise<JobResult> {
    active.comfyJob = comfyJob;
    const total = Object.keys(prompt).length;
    const done = new Set<string>();
    let current: JobProgressRecord = { nodesDone: 0, nodesTotal: total };
    let last = 0;
    let timer: NodeJS.Timeout | undefined;
    const report = () => {
      timer = undefined;
      last = Date.now();
      void job.updateProgress(current as unknown as object).catch(() => undefined);
    };
    // At most four progress writes a second per job: each is a Redis round trip and an event.
    const update = (next: JobProgressRecord) => {
      current = next;
      if (timer) return;
      const wait = 250 - (Date.now() - last);
      if (wait <= 0) report();
      else timer = setTimeout(report, wait);
    };
    comfyJob.on("started", () =>
      this.#phase(
        log,
        job.id!,
        { phase: "running", promptId: comfyJob.promptId, instance: this.server },
        "ComfyUI started the prompt",
      ),
    );
    comfyJob.on("cached", (e) => {
      for (const n of e.nodes) done.add(n);
      update({ nodesDone: done.size, nodesTotal: total });
    });
    comfyJob.on("executing", (e) => {
      update({ node: e.node, nodesDone: done.size, nodesTotal: total });
      done.add(e.node);
    });
    comfyJob.on("progress", (e) =>
      update({
        ...(e.node ? { node: e.node } : {}),
        value: e.value,
        max: e.max,
        nodesDone: done.size,
        nodesTotal: total,
      }),
    );
    const signal = active.controller.signal;
    try {
      return await new Promise<JobResult>((resolve, reject) => {
        const onStop = () => {
          const reason = signal.reason as StopReason;
          if (reason === "cancel") {
            // Interrupt on the instance; the tracker then ends the job as cancelled, or with
            // CANCEL_UNDELIVERED when the instance did not take the cancel in its budget.
            comfyJob.cancel().catch(() => undefined);
            return;
          }
          reject(
            new ComfycError(
              reason === "instance-down" ? "SERVER_UNREACHABLE" : "CANCELLED",
              reason === "instance-down"
                ? `${this.server} stopped answering while job ${job.id} ran`
                : `Job ${job.id} handed back at shutdown`,
              reason === "instance-down"
                ? "The job is retried with backoff, here or on another instance."
                : "Another worker follows it on the same instance.",
            ),
          );
        };
        if (signal.aborted) onStop();
        else signal.addEventListener("abort", onStop, { once: true });
        comfyJob.result().then(resolve, reject);
      });
    } finally {
      if (timer) clearTimeout(timer);
      active.comfyJob = undefined;
    }
  }

  /** Copies every output file to storage under `<job id>/<node id>/<file>` (streamed). */
  async #collect(
    job: BullJob<QueuedJobData, JobOutcome>,
    client: ComfyClient,
    result: JobResult,
    promptId: string,
    recovered: boolean,
  ): Promise<JobOutcome> {
    const outputs: JobOutput[] = [];
    const used = new Set<string>();
    for (const file of result.files) {
      let key = outputKey(job.id!, file.node, file.filename);
      // Two files of one node with one name (different subfolders) get distinct keys.
      for (let n = 2; used.has(key); n++)
        key = outputKey(job.id!, file.node, `${n}_${file.filename}`);
      used.add(key);
      const stored = await this.storage.put(key, await client.stream(file), {
        contentType: contentTypeOf(file.filename),
      });
      outputs.push({
        node: file.node,
        filename: file.filename,
        kind: file.kind,
        key,
        size: stored.size,
        ...(stored.contentType ? { contentType: stored.contentType } : {}),
      });
    }
    return {
      promptId,
      instance: new URL(client.http.baseUrl).origin,
      storage: this.storage.location,
      outputs,
      texts: result.texts,
      recovered,
    };
  }

  #requireClient(): ComfyClient {
    if (!this.#client)
      throw new ComfycError(
        "SERVER_UNREACHABLE",
        `${this.server} is not answering`,
        "The job is retried with backoff once the instance answers.",
      );
    return this.#client;
  }

  /**
   * Graceful shutdown (SIGTERM): takes no new jobs, waits up to `graceMs` (default 30000) for
   * running ones to finish, hands back those still running (another worker follows them on
   * the instance, nothing is run twice), deregisters and closes every connection.
   */
  async close(options: { readonly graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#stopped.abort();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#health) clearTimeout(this.#health);
    const worker = this.#worker;
    if (worker) {
      const closing = worker.close();
      const grace = options.graceMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const id of this.#active.keys()) this.#stop(id, "hand-back");
          resolve();
        }, grace);
      });
      await Promise.race([closing, late]);
      // With Redis unreachable BullMQ's close can wait forever: give it 10 s after the grace.
      let force: NodeJS.Timeout | undefined;
      await Promise.race([
        closing,
        new Promise<void>((resolve) => {
          force = setTimeout(resolve, 10_000);
        }),
      ]);
      if (timer) clearTimeout(timer);
      if (force) clearTimeout(force);
    }
    await Promise.all(this.#releasing);
    if (this.queue.redis.status === "ready")
      await this.queue.redis.hdel(this.#keys.workers, this.id).catch(() => undefined);
    this.#workerConnection?.disconnect();
    this.#subscriber?.disconnect();
    await this.#client?.close();
    await this.queue.close();
    await this.storage.close?.();
  }
}

function cancelledJob(id: string): ComfycError {
  return new ComfycError("CANCELLED", `Job ${id} was cancelled`, "Enqueue it again to run it.");
}

function toErrorRecord(e: unknown): JobErrorRecord {
  if (!isComfycError(e)) return { code: "INTERNAL", message: (e as Error)?.message ?? String(e) };
  const details: Record<string, unknown> = {};
  const x = e as unknown as Record<string, unknown>;
  if (e.code === "PROMPT_REJECTED") {
    details["error"] = x["error"];
    details["node_errors"] = x["nodeErrors"];
    details["partial"] = x["partial"];
  } else if (e.code === "EXECUTION_FAILED") {
    details["node_id"] = x["nodeId"];
    details["node_type"] = x["nodeType"];
    details["exception_type"] = x["exceptionType"];
    details["exception_message"] = x["exceptionMessage"];
    details["traceback"] = x["traceback"];
  } else if (e.code === "CANCEL_UNDELIVERED") {
    // What an operator needs to find the prompt on the instance and stop or follow it there.
    details["prompt_id"] = x["promptId"];
    details["server"] = x["server"];
    const reason = x["reason"];
    if (isComfycError(reason)) details["reason"] = reason.code;
  }
  const message = e.hint
    ? e.message.slice(0, e.message.lastIndexOf("\n  → ")) || e.message
    : e.message;
  return {
    code: e.code,
    message,
    ...(e.hint ? { hint: e.hint } : {}),
    ...(Object.keys(details).length
      ? { details: JSON.parse(stringifyJson(details)) as Record<string, unknown> }
      : {}),
  };
}

function contentTypeOf(filename: string): string {
  const ext = filename.slice(filename.lastIndexOf(".") + 1).toLowerCase();
  return (
    {
      png: "image/png",
      jpg: "image/jpeg",
      jpeg: "image/jpeg",
      webp: "image/webp",
      gif: "image/gif",
      mp4: "video/mp4",
      webm: "video/webm",
      flac: "audio/flac",
      mp3: "audio/mpeg",
      wav: "audio/wav",
      json: "application/json",
      txt: "text/plain",
    }[ext] ?? "application/octet-stream"
  );
}
