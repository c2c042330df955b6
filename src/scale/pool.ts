import { EventEmitter, on } from "node:events";
import { randomUUID } from "node:crypto";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import { ComfycError, internalError } from "../errors.js";
import { ComfyClient, type ClientOptions, type RunOptions } from "../runtime/client.js";
import { CancelledError } from "../runtime/errors.js";
import type { Job, JobEvent, JobResult } from "../runtime/job.js";
import {
  capabilitiesOf,
  missingFrom,
  NoCapableServerError,
  requirementsOf,
  type Capabilities,
  type Requirements,
} from "./capabilities.js";
import { compileSource } from "./prompt-source.js";
import { checkDurations } from "../runtime/durations.js";

/** Settings of a {@link ComfyPool}. */
export interface PoolOptions {
  /** The instances: URLs or full client options (auth, TLS, retries). */
  readonly servers: readonly (string | ClientOptions)[];
  /** Jobs this process runs at once on one instance (default 1); more wait in the pool. */
  readonly maxJobsPerServer?: number;
  /** Health probe interval while an instance is up, in ms (default 2000). */
  readonly healthIntervalMs?: number;
  /** Failed probes in a row before an instance is taken out (default 2). */
  readonly failuresBeforeDown?: number;
  /** Longest delay between probes of an instance that is down, in ms (default 10000). */
  readonly maxProbeDelayMs?: number;
  /** Submissions of one job in all, moves to other instances included (default 4). */
  readonly maxSubmissions?: number;
}

/** Where an instance of the pool stands. */
export interface PoolServerState {
  readonly url: string;
  readonly up: boolean;
  /** Jobs this pool runs there now. */
  readonly inFlight: number;
  /** Running + pending on the instance at the last probe (all clients). */
  readonly queueLength: number;
  /** Whether its schema has been read. */
  readonly ready: boolean;
}

/** Codes after which a job may run elsewhere: the instance, not the prompt, was the problem. */
const MOVABLE = new Set(["SERVER_UNREACHABLE", "SERVER_GONE", "SERVER_ERROR", "JOB_LOST"]);

class Member {
  readonly client: ComfyClient;
  readonly url: string;
  up = false;
  capabilities: Capabilities | undefined;
  inFlight = 0;
  queueLength = 0;
  failures = 0;
  /** Read the schema again at the next probe (the instance restarted). */
  reread = false;
  probeDelay: number;
  timer: NodeJS.Timeout | undefined;
  /** Prompt ids abandoned while the instance was out: cancelled there when it answers again. */
  readonly abandoned = new Set<string>();
  readonly jobs = new Set<PoolJob>();

  constructor(
    readonly options: ClientOptions,
    interval: number,
  ) {
    this.client = new ComfyClient(options);
    this.url = this.client.http.baseUrl.origin;
    this.probeDelay = interval;
  }
}

/**
 * A job of a {@link ComfyPool}: the same surface as the runtime's `Job` (events, async
 * iteration, `result()`, `cancel()`), followed across the instances it may move between. It
 * ends exactly once; the instance's own tracker decides each run's outcome.
 */
export class PoolJob {
  /** Set when the job has been placed on an instance. */
  server: string | undefined;
  /** The prompt id of the current (or last) run. */
  promptId: string | undefined;
  /** Submissions made so far (1 unless the job moved). */
  submissions = 0;
  readonly #events = new EventEmitter();
  readonly #result: Promise<JobResult>;
  #resolve!: (r: JobResult) => void;
  #reject!: (e: ComfycError) => void;
  #done = false;
  #cancelRequested = false;
  /** @internal */ current: Job | undefined;
  /** @internal */ member: Member | undefined;

  constructor(
    readonly prompt: Readonly<Record<string, unknown>>,
    /** @internal */ readonly requirements: Requirements,
    /** @internal */ readonly options: RunOptions,
    readonly expectedOutputs: readonly string[] | undefined,
  ) {
    this.#events.setMaxListeners(100);
    this.#result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#result.catch(() => undefined);
  }

  get done(): boolean {
    return this.#done;
  }

  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }

  /** Resolves to the outputs; rejects with the typed error that ended the job. */
  result(): Promise<JobResult> {
    return this.#result;
  }

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

  /** Every event until the job ends, buffered (as the runtime's `Job`). */
  async *[Symbol.asyncIterator](): AsyncGenerator<JobEvent> {
    if (this.#done) return;
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

  /** Cancels the job: withdrawn from the pool if not placed yet, cancelled on its instance otherwise. */
  async cancel(): Promise<void> {
    if (this.#done) return;
    this.#cancelRequested = true;
    if (!this.current) {
      this.finish(new CancelledError(this.promptId ?? "(not submitted)"));
      return;
    }
    await this.current.cancel();
  }

  /** @internal Forwards an event of the current run. */
  emit(event: JobEvent): void {
    if (this.#done) return;
    this.#events.emit(`job:${event.type}`, event);
    this.#events.emit("job:event", event);
  }

  /** @internal Ends the job, once. */
  finish(outcome: JobResult | ComfycError): void {
    if (this.#done) return;
    this.#done = true;
    if (outcome instanceof ComfycError) {
      this.#events.emit("job:error", { type: "error", error: outcome });
      this.#events.emit("job:event", { type: "error", error: outcome });
      this.#reject(outcome);
    } else {
      this.#events.emit("job:success", { type: "success", result: outcome });
      this.#events.emit("job:event", { type: "success", result: outcome });
      this.#resolve(outcome);
    }
  }
}

/**
 * Many ComfyUI instances in one process, no Redis: each job goes to the least-loaded healthy
 * instance that can run it (its `/object_info` has every class and combo value the prompt uses),
 * at most `maxJobsPerServer` at once per instance; the rest wait in the pool, first come first
 * served. Each instance is probed (`/system_stats`, backoff while down); when one stops
 * answering it is taken out and its unfinished jobs move to another instance, and when it
 * answers again its schema is re-read and it is used again. A job lost by a restart is
 * resubmitted (on whichever instance fits). Every job ends exactly once.
 *
 * @example
 * const pool = new ComfyPool({ servers: ["http://gpu0:8188", "http://gpu1:8188"] });
 * const results = await Promise.all(prompts.map((p) => pool.run(p)));
 * await pool.close();
 */
export class ComfyPool {
  readonly #members: Member[];
  readonly #waiting: PoolJob[] = [];
  readonly #options: PoolOptions;
  readonly #ready: Promise<void>;
  #closed = false;

  constructor(options: PoolOptions) {
    checkDurations(options, ["healthIntervalMs", "maxProbeDelayMs"]);
    if (options.servers.length === 0)
      throw new ComfycError(
        "USAGE",
        "A ComfyPool needs at least one server",
        "Pass { servers: [url, …] }.",
      );
    const max = options.maxJobsPerServer ?? 1;
    if (!Number.isInteger(max) || max < 1)
      throw new ComfycError(
        "USAGE",
        `maxJobsPerServer must be a positive integer, got ${max}`,
        "ComfyUI runs one prompt at a time: 1 (the default) or 2 to keep the next one queued.",
      );
    this.#options = options;
    const interval = options.healthIntervalMs ?? 2000;
    this.#members = options.servers.map(
      (s) => new Member(typeof s === "string" ? { url: s } : s, interval),
    );
    this.#ready = Promise.all(this.#members.map((m) => this.#probe(m))).then(() => undefined);
  }

  /** Resolves once every instance has been probed once (up or not). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Each instance's state. */
  get servers(): readonly PoolServerState[] {
    return this.#members.map((m) => ({
      url: m.url,
      up: m.up,
      inFlight: m.inFlight,
      queueLength: m.queueLength,
      ready: m.capabilities !== undefined,
    }));
  }

  /**
   * Submits a builder workflow or an API-format prompt; returns its job at once. Compiling
   * happens here; a prompt no instance can run fails at once with `NO_CAPABLE_SERVER`, naming
   * what each instance lacks.
   */
  submit(
    source: AnyWorkflow | Readonly<Record<string, unknown>>,
    options: RunOptions = {},
  ): PoolJob {
    if (this.#closed)
      throw new ComfycError("USAGE", "This ComfyPool is closed", "Create a new ComfyPool.");
    let job: PoolJob;
    try {
      checkDurations(options.timeouts, ["queueMs", "runMs", "stallMs"], "timeouts.");
      const compiled = compileSource(source, options);
      job = new PoolJob(
        compiled.prompt,
        requirementsOf(compiled.prompt),
        options,
        compiled.expectedOutputs,
      );
    } catch (e) {
      job = new PoolJob({}, { classes: [], combos: [] }, options, undefined);
      job.finish(asError(e));
      return job;
    }
    options.signal?.addEventListener("abort", () => void job.cancel().catch(() => undefined), {
      once: true,
    });
    void this.#ready.then(() => this.#enqueue(job));
    return job;
  }

  /** Submits and waits for the result. */
  run(
    source: AnyWorkflow | Readonly<Record<string, unknown>>,
    options: RunOptions = {},
  ): Promise<JobResult> {
    return this.submit(source, options).result();
  }

  /** Follows a prompt submitted earlier to one of the pool's instances. */
  attach(promptId: string, server: string): Job {
    const member = this.#members.find((m) => m.url === new URL(server).origin);
    if (!member)
      throw new ComfycError(
        "USAGE",
        `${server} is not one of this pool's servers`,
        `Use one of: ${this.#members.map((m) => m.url).join(", ")}.`,
      );
    return member.client.attach(promptId);
  }

  /** Stops probing, closes every client; jobs in flight stop being followed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const m of this.#members) if (m.timer) clearTimeout(m.timer);
    // Jobs not placed yet never ran anywhere: they end now instead of waiting forever.
    for (const job of this.#waiting.splice(0)) job.finish(closedPool());
    // Jobs running on an instance end with their client's ClientClosedError.
    await Promise.all(this.#members.map((m) => m.client.close()));
  }

  #enqueue(job: PoolJob): void {
    if (job.done) return;
    if (this.#closed) return job.finish(closedPool());
    // Fail at once when no instance whose schema is known could ever run it.
    const known = this.#members.filter((m) => m.capabilities);
    if (
      known.length > 0 &&
      known.every((m) => missingFrom(job.requirements, m.capabilities!).length > 0)
    ) {
      job.finish(
        new NoCapableServerError(
          known.map((m) => ({
            where: m.url,
            missing: missingFrom(job.requirements, m.capabilities!),
          })),
        ),
      );
      return;
    }
    // Otherwise it waits until a capable instance has a free slot (or answers again).
    this.#waiting.push(job);
    this.#dispatch();
  }

  /** Places waiting jobs, oldest first, on the least-loaded capable instance with a free slot. */
  #dispatch(): void {
    if (this.#closed) return;
    const max = this.#options.maxJobsPerServer ?? 1;
    for (let i = 0; i < this.#waiting.length;) {
      const job = this.#waiting[i]!;
      if (job.done) {
        this.#waiting.splice(i, 1);
        continue;
      }
      const candidates = this.#members.filter(
        (m) =>
          m.up &&
          m.capabilities &&
          m.inFlight < max &&
          missingFrom(job.requirements, m.capabilities).length === 0,
      );
      if (candidates.length === 0) {
        i++;
        continue;
      }
      candidates.sort(
        (a, b) =>
          a.inFlight + a.queueLength - (b.inFlight + b.queueLength) || a.inFlight - b.inFlight,
      );
      this.#waiting.splice(i, 1);
      this.#place(job, candidates[0]!);
    }
  }

  #place(job: PoolJob, member: Member): void {
    const max = this.#options.maxSubmissions ?? 4;
    if (job.submissions >= max) {
      job.finish(
        new ComfycError(
          "JOB_LOST",
          `The job was submitted ${job.submissions} times and lost each time`,
          "Check the instances' health.",
        ),
      );
      return;
    }
    job.submissions++;
    member.inFlight++;
    member.jobs.add(job);
    job.member = member;
    job.server = member.url;
    const promptId = randomUUID();
    job.promptId = promptId;
    // The prompt is compiled already; the pool, not the client, cancels and resubmits.
    const {
      signal: _signal,
      params: _params,
      compile: _compile,
      resubmitOnLoss: _resubmit,
      promptId: _promptId,
      ...options
    } = job.options;
    let run: Job;
    try {
      run = member.client.submit(job.prompt, {
        ...options,
        promptId,
        ...(job.expectedOutputs ? { expectedOutputs: job.expectedOutputs } : {}),
      });
    } catch (e) {
      // Refused before anything was sent (bad options, a closed client): the job ends with it.
      member.inFlight--;
      member.jobs.delete(job);
      job.finish(internalError(e, "submitting the job"));
      return;
    }
    this.#follow(job, member, run);
  }

  #follow(job: PoolJob, member: Member, run: Job): void {
    job.current = run;
    const forward = (e: JobEvent) => {
      if (e.type !== "success" && e.type !== "error") job.emit(e);
    };
    run.on("event", forward);
    if (job.cancelRequested) void run.cancel().catch(() => undefined);
    run.result().then(
      (result) => this.#release(job, member, run, forward, result),
      (error: ComfycError) => this.#release(job, member, run, forward, error),
    );
  }

  #release(
    job: PoolJob,
    member: Member,
    run: Job,
    forward: (e: JobEvent) => void,
    outcome: JobResult | ComfycError,
  ): void {
    run.off("event", forward);
    if (job.current !== run) return; // superseded: the job moved on while this run was ending
    job.current = undefined;
    member.inFlight--;
    member.jobs.delete(job);
    if (!(outcome instanceof ComfycError)) job.finish(outcome);
    else if (!job.cancelRequested && MOVABLE.has(outcome.code)) {
      // The instance, not the prompt, failed: try again on whichever instance fits.
      if (outcome.code !== "JOB_LOST") this.#markDown(member);
      // Lost: the instance restarted between two probes; read its schema again.
      else member.reread = true;
      this.#waiting.unshift(job);
    } else job.finish(outcome);
    this.#dispatch();
  }

  /** Takes an instance out: its unfinished jobs move elsewhere; their runs are cancelled there later. */
  #markDown(member: Member): void {
    if (!member.up) return;
    member.up = false;
    member.failures = 0;
    for (const job of [...member.jobs]) {
      const run = job.current;
      if (!run) continue;
      member.abandoned.add(run.promptId);
      job.current = undefined;
      member.inFlight--;
      member.jobs.delete(job);
      this.#waiting.unshift(job);
    }
    this.#dispatch();
  }

  async #probe(member: Member): Promise<void> {
    if (this.#closed) return;
    const interval = this.#options.healthIntervalMs ?? 2000;
    let ok = false;
    try {
      const probe = new ComfyClient({ ...member.options, retry: { retries: 0 }, timeoutMs: 5000 });
      try {
        await probe.systemStats();
        const q = await probe.queue();
        member.queueLength = q.queue_running.length + q.queue_pending.length;
        ok = true;
        if (!member.up || !member.capabilities || member.reread) {
          member.reread = false;
          // New, or back after being out (maybe restarted with other nodes or models).
          member.capabilities = capabilitiesOf(await probe.objectInfo());
          for (const id of member.abandoned) {
            await probe.deleteQueued([id]).catch(() => undefined);
            await probe.interrupt(id).catch(() => undefined);
          }
          member.abandoned.clear();
        }
      } finally {
        await probe.close();
      }
    } catch {
      ok = false;
    }
    if (ok) {
      member.failures = 0;
      member.probeDelay = interval;
      if (!member.up) {
        member.up = true;
        this.#dispatch();
      }
    } else {
      member.failures++;
      if (member.failures >= (this.#options.failuresBeforeDown ?? 2) || !member.capabilities)
        this.#markDown(member);
      if (!member.up)
        member.probeDelay = Math.min(
          member.probeDelay * 2,
          this.#options.maxProbeDelayMs ?? 10_000,
        );
    }
    if (this.#closed) return;
    member.timer = setTimeout(
      () => void this.#probe(member),
      member.up ? interval : member.probeDelay,
    );
    member.timer.unref();
  }
}

/** The end of a job that a closing pool never placed on an instance. */
function closedPool(): ComfycError {
  return new ComfycError(
    "USAGE",
    "The ComfyPool was closed before this job was placed on an instance; it never ran",
    "Await job.result() before pool.close(), or submit the job again to a new pool.",
  );
}

function asError(e: unknown): ComfycError {
  return internalError(e, "compiling the job");
}
