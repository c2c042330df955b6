import { randomUUID } from "node:crypto";
import { Job as BullJob, Queue, QueueEvents, type JobState } from "bullmq";
import type { Redis } from "ioredis";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import type { CompileOptions } from "../builder/workflow.js";
import { ComfycError } from "../errors.js";
import { stringifyJson } from "../protocol/json.js";
import { checkDurations } from "../runtime/durations.js";
import {
  missingFrom,
  NoCapableServerError,
  requirementsOf,
  type Capabilities,
} from "./capabilities.js";
import {
  PINNED,
  referenceInput,
  releaseInputs,
  sweepInputs,
  type SweepReport,
} from "./input-refs.js";
import { INPUTS_PREFIX, stageUploads, type StagedInput } from "./inputs.js";
import { compileSource } from "./prompt-source.js";
import {
  inputsOf,
  recordOf,
  type JobOutcome,
  type JobRecord,
  type QueueJobState,
  type QueuedJobData,
} from "./record.js";
import {
  BULL_PREFIX,
  checkQueueName,
  connectRedis,
  laneQueueName,
  queueKeys,
  type ConnectRedisOptions,
  type RedisConnection,
} from "./redis.js";
import type { Storage } from "./storage.js";

/** Settings of a {@link ComfyQueue}. */
export interface ComfyQueueOptions {
  /** Redis URL (`redis://127.0.0.1:6379`) or ioredis options. */
  readonly redis: RedisConnection;
  /** Queue name shared by producers and workers (default `comfyc`). */
  readonly name?: string;
  /**
   * Where input files of queued jobs (`localFile()`/`fileBytes()` given to `LoadImage`) are kept
   * until a worker uploads them to its instance: the same storage the workers use
   * (`comfyc worker --storage`). Without it, enqueueing a prompt with such a file is `USAGE`.
   */
  readonly storage?: Storage;
  /**
   * How hard to try reaching Redis at start (ioredis options, see `ConnectRedisOptions`): with
   * `{ startRetries: 2 }` a Redis that is not there fails the first commands after about 0.6 s
   * ("Connection is closed.") instead of ioredis's 20 retries per command (14–17 s), which is
   * what one-shot commands (`comfyc enqueue`, `comfyc jobs`) want. Once connected, the
   * connection reconnects through a Redis restart either way. Default: ioredis's (no limit).
   */
  readonly connect?: Pick<ConnectRedisOptions, "startRetries" | "startConnectTimeoutMs">;
}

/** Settings of one {@link ComfyQueue.enqueue}. */
export interface EnqueueOptions {
  /** Parameters of a parameterized workflow. */
  readonly params?: Record<string, unknown>;
  /** How to compile a builder workflow (validation is on by default). */
  readonly compile?: CompileOptions;
  /** Name for logs and metric labels (default: the workflow's name). */
  readonly workflow?: string;
  /** BullMQ priority: 1 is the highest, larger runs later; unset runs in arrival order before none. */
  readonly priority?: number;
  /** Attempts in all, retries of transient failures included (default 5). */
  readonly attempts?: number;
  /** First retry delay in ms, doubled per retry with jitter (default 1000). */
  readonly backoffMs?: number;
  /** Use this job id (1-128 letters, digits, `_`, `-`) instead of a fresh UUID. */
  readonly jobId?: string;
  /** Force a fresh execution on ComfyUI even if an identical prompt ran before. */
  readonly fresh?: boolean;
  /** Extra data stored with the prompt (`extra_pnginfo`, partner-node credentials, …). */
  readonly extraData?: Readonly<Record<string, unknown>>;
  /**
   * Output node ids to run, sent as the `POST /prompt` body's `partial_execution_targets`
   * (ComfyUI 0.3.64+): only these outputs run and are validated; unset runs every output.
   */
  readonly partialExecutionTargets?: readonly string[];
  /** Per-attempt timeouts on the instance, in ms. */
  readonly timeouts?: { readonly queueMs?: number; readonly runMs?: number };
  /** A request id that follows the job into the worker's logs. */
  readonly requestId?: string;
  /** Caller data kept with the job and returned in its record. */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * Input files already in storage ({@link storeInput}) that the prompt names by
   * `StagedInput.name`: the worker uploads each to its instance before posting the prompt.
   */
  readonly inputs?: readonly StagedInput[];
}

/** Filter of {@link ComfyQueue.listJobs}. */
export interface ListJobsOptions {
  readonly states?: readonly QueueJobState[];
  /** At most this many records (default 100), newest first. */
  readonly limit?: number;
}

/** A capability lane: the instances that share one set of classes and combo values. */
export interface LaneInfo {
  readonly id: string;
  /** Workers whose heartbeat is recent. */
  readonly workers: readonly WorkerInfo[];
}

/** What a worker publishes about itself. */
export interface WorkerInfo {
  readonly id: string;
  readonly lane: string;
  /** The ComfyUI instance it serves (origin URL). */
  readonly server: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly heartbeatAt: number;
  /** `up` while its instance answers, `down` while it does not. */
  readonly instance: "up" | "down";
}

/** Job counts of one lane by BullMQ state. */
export interface LaneCounts {
  readonly lane: string;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  readonly completed: number;
  readonly prioritized: number;
}

/** How long `enqueue()` routes with the lanes and workers it read last, in ms. */
const ROUTING_CACHE_MS = 1000;

/** A worker whose heartbeat is older than this is not counted as live. */
export const WORKER_STALE_MS = 15_000;

const QUEUED_STATES: JobState[] = ["waiting", "prioritized", "delayed", "waiting-children"];

/**
 * The producer side of the durable queue: enqueue prompts, read job records, cancel. Jobs are
 * BullMQ jobs on Redis. Routing by capability uses one BullMQ queue per **capability lane**:
 * every worker publishes the classes and combo values of its ComfyUI instance, instances with
 * identical sets share a lane, and `enqueue()` puts a job on the least-loaded lane whose
 * instances can run it (or fails at once with {@link NoCapableServerError} naming what each
 * lane lacks). A worker only ever pulls from its own lane, so no job is taken by an instance
 * that cannot run it and none waits behind such a job.
 *
 * @example
 * const queue = new ComfyQueue({ redis: "redis://127.0.0.1:6379" });
 * const { id } = await queue.enqueue(txt2img, { params: { prompt: "a red fox" } });
 * console.log(await queue.getJob(id)); // { state: "queued", … }
 * await queue.close();
 */
export class ComfyQueue {
  readonly name: string;
  readonly redis: Redis;
  readonly #keys: ReturnType<typeof queueKeys>;
  readonly #queues = new Map<string, Queue<QueuedJobData, JobOutcome>>();
  /** One event reader per lane, shared by every waiter (a promise: waiters may come at once). */
  readonly #events = new Map<string, Promise<QueueEvents>>();
  readonly #lanes = new Map<string, Capabilities>();
  #laneView: { at: number; lanes: ReadonlyMap<string, Capabilities> } | undefined;
  #workerView: { at: number; workers: WorkerInfo[] } | undefined;
  readonly #connection: RedisConnection;
  readonly #owned: Redis[] = [];
  readonly #openEvents: QueueEvents[] = [];
  #closed = false;
  /** Ends each pending {@link waitFor} when the queue closes. */
  readonly #waiters = new Set<() => void>();
  readonly #storage: Storage | undefined;

  constructor(options: ComfyQueueOptions) {
    this.name = checkQueueName(options.name ?? "comfyc");
    this.#connection = options.redis;
    this.redis = connectRedis(options.redis, { ...options.connect });
    // Errors surface on the commands that fail; an idle connection's errors are not fatal.
    this.redis.on("error", () => undefined);
    this.#keys = queueKeys(this.name);
    this.#storage = options.storage;
  }

  /** The BullMQ queue of a lane (created on first use; all share one connection). */
  laneQueue(lane: string): Queue<QueuedJobData, JobOutcome> {
    let q = this.#queues.get(lane);
    if (!q) {
      q = new Queue<QueuedJobData, JobOutcome>(laneQueueName(this.name, lane), {
        connection: this.redis,
        prefix: BULL_PREFIX,
      });
      q.on("error", () => undefined);
      this.#queues.set(lane, q);
    }
    return q;
  }

  /**
   * Compiles `source` (a builder workflow, with `params`, or an API-format prompt), routes it
   * to a lane that can run it and adds it to the queue. Resolves once Redis acknowledged the
   * job, with its id and lane; the job runs when a worker of that lane takes it.
   *
   * Local files for upload inputs (`localFile()`, `fileBytes()`) are copied into the queue's
   * storage under content-addressed keys (`inputs/<sha256>.<ext>`) and named in the prompt by
   * their content-hash name; the worker that takes the job uploads them to its own instance.
   *
   * Throws `PARAMS_INVALID`/`PROMPT_INVALID` (the builder's errors; also a prompt node without
   * `class_type`, which no lane can be chosen for), `NO_CAPABLE_SERVER` (no
   * lane can run it, or no worker ever registered), `USAGE` (bad options, or upload inputs
   * without `storage`), `IO_ERROR` (a local file that cannot be read, storage errors).
   */
  async enqueue(
    source: AnyWorkflow | Readonly<Record<string, unknown>>,
    options: EnqueueOptions = {},
  ): Promise<{ id: string; lane: string }> {
    const compiled = compileSource(source, options);
    const id = options.jobId ?? randomUUID();
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id) || id === INPUTS_PREFIX)
      throw new ComfycError(
        "USAGE",
        `Job id ${JSON.stringify(id)} is not allowed`,
        `Use 1-128 letters, digits, '_' or '-' (not "${INPUTS_PREFIX}": input files live under it).`,
      );
    const attempts = options.attempts ?? 5;
    if (!Number.isInteger(attempts) || attempts < 1)
      throw new ComfycError(
        "USAGE",
        `attempts must be a positive integer, got ${attempts}`,
        "1 means no retry; the default is 5.",
      );
    if (
      options.priority !== undefined &&
      (!Number.isInteger(options.priority) || options.priority < 0 || options.priority > 2_097_152)
    )
      throw new ComfycError(
        "USAGE",
        `priority must be an integer from 0 to 2097152, got ${options.priority}`,
        "1 is the highest priority; 0 or unset means none.",
      );
    checkDurations(options.timeouts, ["queueMs", "runMs"], "timeouts.");
    checkDurations(options, ["backoffMs"]);
    const targets = options.partialExecutionTargets;
    if (
      targets !== undefined &&
      (!Array.isArray(targets) || targets.some((t) => typeof t !== "string"))
    )
      throw new ComfycError(
        "USAGE",
        `partialExecutionTargets must be a list of node ids (strings), got ${JSON.stringify(targets)}`,
        'Name the output nodes to run, e.g. ["9"]; leave it unset to run every output.',
      );
    const lane = await this.#route(compiled.prompt);
    // Every input file this job needs is referenced before it is looked for in storage, so a
    // job with the same file that ends meanwhile cannot delete it (see input-refs.ts).
    const referenced: string[] = [];
    const reference = async (key: string) => {
      referenced.push(key);
      return referenceInput(this.redis, this.#keys.inputs, id, key);
    };
    try {
      // After routing: a prompt no instance can run stores nothing.
      const staged = await stageUploads(compiled.prompt, this.#storage, reference);
      for (const given of options.inputs ?? []) await this.#pinGiven(given);
      await this.#add(
        id,
        lane,
        compiled,
        staged.prompt,
        mergeInputs(staged.inputs, options.inputs),
        options,
        attempts,
      );
    } catch (e) {
      await releaseInputs(this.redis, this.#keys.inputs, id, referenced, this.#storage).catch(
        () => undefined,
      );
      throw e;
    }
    return { id, lane };
  }

  /**
   * Pins an input the caller stored itself ({@link storeInput}): its owner (a gateway upload,
   * a Comfy API v2 asset) may use it again after this job, so it is never deleted by a job's
   * end. It must still be there.
   */
  async #pinGiven(input: StagedInput): Promise<void> {
    await referenceInput(this.redis, this.#keys.inputs, PINNED, input.key);
    if (this.#storage && (await this.#storage.stat(input.key))?.size !== input.size)
      throw new ComfycError(
        "NOT_FOUND",
        `Input file ${input.key} is no longer in ${this.#storage.location} (every job that used it has ended, so it was deleted)`,
        "Store the file again with storeInput() just before enqueueing the job.",
      );
  }

  async #add(
    id: string,
    lane: string,
    compiled: ReturnType<typeof compileSource>,
    prompt: Record<string, unknown>,
    inputs: StagedInput[],
    options: EnqueueOptions,
    attempts: number,
  ): Promise<void> {
    const workflow = options.workflow ?? compiled.name;
    const data: QueuedJobData = {
      v: 1,
      prompt: stringifyJson(prompt),
      lane,
      ...(inputs.length ? { inputs } : {}),
      ...(workflow ? { workflow } : {}),
      ...(compiled.expectedOutputs ? { expectedOutputs: compiled.expectedOutputs } : {}),
      ...(options.fresh ? { fresh: true } : {}),
      ...(options.extraData ? { extraData: options.extraData } : {}),
      ...(options.partialExecutionTargets
        ? { partialExecutionTargets: [...options.partialExecutionTargets] }
        : {}),
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
      ...(options.requestId ? { requestId: options.requestId } : {}),
      ...(options.meta ? { meta: options.meta } : {}),
    };
    // The index is written before the job: both go on this one connection, in order, so a
    // worker that finishes the job before add() returns finds it indexed. Sent together, they
    // cost one round trip, not two.
    const indexed = this.redis.hset(this.#keys.index, id, lane);
    const added = this.laneQueue(lane).add(workflow ?? "prompt", data, {
      jobId: id,
      attempts,
      backoff: { type: "exponential", delay: options.backoffMs ?? 1000, jitter: 0.5 },
      ...(options.priority ? { priority: options.priority } : {}),
      removeOnComplete: { count: 10_000, age: 7 * 24 * 3600 },
      removeOnFail: { count: 10_000, age: 30 * 24 * 3600 },
    });
    await Promise.all([indexed, added]);
  }

  /** Lanes whose capabilities can run the prompt, least loaded first. */
  async #route(prompt: Record<string, unknown>, fresh = false): Promise<string> {
    const lanes = await this.#loadLanes(fresh);
    // A lane registered since the cached read may be the one that can run it: read again first.
    if (lanes.size === 0)
      return fresh ? Promise.reject(new NoCapableServerError([])) : this.#route(prompt, true);
    const requirements = requirementsOf(prompt);
    const able: string[] = [];
    for (const [lane, caps] of lanes)
      if (missingFrom(requirements, caps).length === 0) able.push(lane);
    // One lane fits (the common case): no need to weigh loads, so no more round trips.
    if (able.length === 1) return able[0]!;
    if (able.length === 0 && !fresh) return this.#route(prompt, true);
    const workers = await this.#liveWorkers(fresh);
    const missing: { where: string; missing: ReturnType<typeof missingFrom> }[] = [];
    for (const [lane, caps] of lanes) {
      const lacks = missingFrom(requirements, caps);
      if (lacks.length > 0) {
        const servers = [...new Set(workers.filter((w) => w.lane === lane).map((w) => w.server))];
        missing.push({
          where: `lane ${lane}${servers.length ? ` (${servers.join(", ")})` : " (no live worker)"}`,
          missing: lacks,
        });
      }
    }
    if (able.length === 0) throw new NoCapableServerError(missing);
    // Least loaded: jobs not yet finished per live worker; a lane without workers comes last.
    const live = (lane: string) =>
      workers.filter((w) => w.lane === lane && w.instance === "up").length;
    const loads = await Promise.all(
      able.map(async (lane) => {
        const c = await this.laneQueue(lane).getJobCounts(
          "waiting",
          "prioritized",
          "active",
          "delayed",
        );
        const pending =
          (c["waiting"] ?? 0) + (c["prioritized"] ?? 0) + (c["active"] ?? 0) + (c["delayed"] ?? 0);
        const n = live(lane);
        return { lane, load: n === 0 ? Number.POSITIVE_INFINITY : pending / n, pending };
      }),
    );
    loads.sort((a, b) => a.load - b.load || a.pending - b.pending || (a.lane < b.lane ? -1 : 1));
    return loads[0]!.lane;
  }

  /**
   * The registered lanes. Routing reads them at most once per {@link ROUTING_CACHE_MS} (lanes
   * change when a worker starts or its instance restarts, workers beat every 2 s), so a burst of
   * submissions costs one Redis round trip for this, not one each; `fresh` reads now.
   */
  async #loadLanes(fresh = false): Promise<ReadonlyMap<string, Capabilities>> {
    const now = Date.now();
    if (!fresh && this.#laneView && now - this.#laneView.at < ROUTING_CACHE_MS)
      return this.#laneView.lanes;
    const lanes = await this.#readLanes();
    this.#laneView = { at: now, lanes };
    return lanes;
  }

  /** Live workers for routing, cached like {@link #loadLanes}. */
  async #liveWorkers(fresh: boolean): Promise<WorkerInfo[]> {
    const now = Date.now();
    if (!fresh && this.#workerView && now - this.#workerView.at < ROUTING_CACHE_MS)
      return this.#workerView.workers;
    const workers = await this.workers();
    this.#workerView = { at: now, workers };
    return workers;
  }

  async #readLanes(): Promise<ReadonlyMap<string, Capabilities>> {
    const ids = await this.redis.hkeys(this.#keys.lanes);
    const unknown = ids.filter((id) => !this.#lanes.has(id));
    if (unknown.length > 0) {
      const values = await this.redis.hmget(this.#keys.lanes, ...unknown);
      unknown.forEach((id, i) => {
        const text = values[i];
        if (!text) return;
        try {
          // Lane ids are hashes of their content: a cached lane never changes.
          this.#lanes.set(id, JSON.parse(text) as Capabilities);
        } catch {
          // A corrupt entry is skipped; its worker rewrites it on the next heartbeat.
        }
      });
    }
    const current = new Map<string, Capabilities>();
    for (const id of ids) {
      const caps = this.#lanes.get(id);
      if (caps) current.set(id, caps);
    }
    return current;
  }

  /** Workers with a recent heartbeat. */
  async workers(): Promise<WorkerInfo[]> {
    const all = await this.redis.hgetall(this.#keys.workers);
    const now = Date.now();
    const out: WorkerInfo[] = [];
    for (const text of Object.values(all)) {
      try {
        const w = JSON.parse(text) as WorkerInfo;
        if (now - w.heartbeatAt < WORKER_STALE_MS) out.push(w);
      } catch {
        // Skipped: rewritten on the worker's next heartbeat.
      }
    }
    return out;
  }

  /** Every lane registered on this queue, with its live workers. */
  async lanes(): Promise<LaneInfo[]> {
    const [ids, workers] = await Promise.all([this.redis.hkeys(this.#keys.lanes), this.workers()]);
    return ids.sort().map((id) => ({ id, workers: workers.filter((w) => w.lane === id) }));
  }

  /** Job counts per lane. */
  async counts(): Promise<LaneCounts[]> {
    const ids = (await this.redis.hkeys(this.#keys.lanes)).sort();
    return Promise.all(
      ids.map(async (lane) => {
        const c = await this.laneQueue(lane).getJobCounts(
          "waiting",
          "prioritized",
          "active",
          "delayed",
          "failed",
          "completed",
        );
        return {
          lane,
          waiting: c["waiting"] ?? 0,
          prioritized: c["prioritized"] ?? 0,
          active: c["active"] ?? 0,
          delayed: c["delayed"] ?? 0,
          failed: c["failed"] ?? 0,
          completed: c["completed"] ?? 0,
        };
      }),
    );
  }

  /** The record of a job, or `undefined` when the id is unknown (or its record expired). */
  async getJob(id: string): Promise<JobRecord | undefined> {
    const lane = await this.redis.hget(this.#keys.index, id);
    const record = lane ? await this.#readJob(lane, id) : undefined;
    return record ?? this.#tombstone(id);
  }

  /** The record of a job in a known lane, or `undefined` when BullMQ no longer has it. */
  async #readJob(lane: string, id: string): Promise<JobRecord | undefined> {
    // State and job are read at once (one round trip on a shared connection, not two). A job
    // that finishes between the two reads is seen finished either way: read after the state,
    // its hash has finishedOn set; read before a final state, it is read again.
    const queue = this.laneQueue(lane);
    const read = () => BullJob.fromId<QueuedJobData, JobOutcome>(queue, id);
    const [state, first] = await Promise.all([queue.getJobState(id), read()]);
    let job = first;
    if (job && !job.finishedOn && (state === "completed" || state === "failed")) job = await read();
    return job && state !== "unknown"
      ? recordOf(this.name, lane, job, settledState(job, state))
      : undefined;
  }

  async #tombstone(id: string): Promise<JobRecord | undefined> {
    const tomb = await this.redis.get(this.#keys.tombstone(id));
    return tomb ? (JSON.parse(tomb) as JobRecord) : undefined;
  }

  /** Records of jobs in the given states across all lanes, newest first. */
  async listJobs(options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const states = new Set(
      options.states ?? ["queued", "running", "succeeded", "failed", "cancelled"],
    );
    const limit = options.limit ?? 100;
    const lanes = await this.redis.hkeys(this.#keys.lanes);
    const types: JobState[] = [
      ...(states.has("queued") ? QUEUED_STATES : []),
      ...(states.has("running") ? (["active"] as const) : []),
      ...(states.has("succeeded") ? (["completed"] as const) : []),
      ...(states.has("failed") || states.has("cancelled") ? (["failed"] as const) : []),
    ];
    const records: JobRecord[] = [];
    for (const lane of lanes) {
      const q = this.laneQueue(lane);
      for (const type of types) {
        const jobs = (await q.getJobs([type], 0, limit - 1)) as BullJob<
          QueuedJobData,
          JobOutcome
        >[];
        for (const job of jobs)
          if (job) records.push(recordOf(this.name, lane, job, settledState(job, type)));
      }
    }
    if (states.has("cancelled")) {
      const ids = await this.redis.zrevrange(this.#keys.tombstones, 0, limit - 1);
      if (ids.length) {
        const texts = await this.redis.mget(...ids.map((i) => this.#keys.tombstone(i)));
        for (const t of texts) if (t) records.push(JSON.parse(t) as JobRecord);
      }
    }
    return records
      .filter((r) => states.has(r.state))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, limit);
  }

  /**
   * Cancels a job: one still queued (or waiting to retry) is taken off the queue and recorded
   * as `cancelled`; a running one is interrupted on its instance by its worker and ends
   * `cancelled`, or `failed` with `CANCEL_UNDELIVERED` (prompt id and instance in
   * `error.details`) when the instance did not take the cancel within the worker client's
   * `cancelTimeoutMs`: the prompt may still run there. Returns the record as it is right after
   * the request (a running job may still show `running` for a moment); a finished job is left as
   * it is. Throws `NOT_FOUND`.
   */
  async cancel(id: string): Promise<JobRecord> {
    const record = await this.getJob(id);
    if (!record) throw notFoundJob(id);
    if (record.state !== "queued" && record.state !== "running") return record;
    // The mark first: a worker that takes the job from now on sees it before starting.
    await this.redis.set(this.#keys.cancelMark(id), "1", "EX", 7 * 24 * 3600);
    await this.redis.publish(this.#keys.cancelChannel, id);
    if (record.state === "queued") {
      const job = await BullJob.fromId<QueuedJobData, JobOutcome>(this.laneQueue(record.lane), id);
      try {
        await job?.remove();
        // Taken off before it ran: its input files are not needed by it any more.
        const inputs = job ? inputsOf(job.data) : [];
        if (inputs.length)
          await this.releaseInputs(id, inputs, this.#storage).catch(() => undefined);
        const now = new Date().toISOString();
        const tomb: JobRecord = {
          ...record,
          state: "cancelled",
          queueState: "removed",
          finishedAt: now,
          error: { code: "CANCELLED", message: `Job ${id} was cancelled before it ran` },
        };
        await this.redis
          .multi()
          .set(this.#keys.tombstone(id), JSON.stringify(tomb), "EX", 30 * 24 * 3600)
          .zadd(this.#keys.tombstones, Date.now(), id)
          .exec();
        return tomb;
      } catch {
        // A worker locked it in between: that worker sees the mark and cancels it.
      }
    }
    return (await this.getJob(id)) ?? record;
  }

  /**
   * Releases a job's references to its stored input files once it has ended for good (workers
   * call this after a job succeeded or failed with no attempt left; `cancel()` for a job taken
   * off the queue). Each file no other unfinished job needs is deleted from `storage` (without
   * `storage` it waits for {@link cleanInputs}). Resolves to the keys deleted.
   */
  releaseInputs(
    jobId: string,
    inputs: readonly StagedInput[],
    storage: Storage | undefined,
  ): Promise<string[]> {
    // Files stored elsewhere (a worker whose --storage differs from the producer's) are only
    // released here; `comfyc jobs clean` with the right storage deletes them.
    const here = inputs.filter((i) => storage && i.storage === storage.location);
    const elsewhere = inputs.filter((i) => !here.includes(i));
    const keys = this.#keys.inputs;
    return Promise.all([
      releaseInputs(
        this.redis,
        keys,
        jobId,
        here.map((i) => i.key),
        storage,
      ),
      releaseInputs(
        this.redis,
        keys,
        jobId,
        elsewhere.map((i) => i.key),
        undefined,
      ),
    ]).then(([deleted]) => deleted);
  }

  /**
   * Repairs the stored inputs' lifecycle after crashes (`comfyc jobs clean`): drops references
   * of jobs that have ended or are gone without releasing them (a worker killed in between, a
   * job failed as stalled, a record BullMQ trimmed) and deletes from `storage` every input file
   * no unfinished job needs. A reference of a job Redis does not know is kept for
   * `unknownGraceMs` (default 10 minutes): an enqueue takes it just before adding its job.
   */
  async cleanInputs(
    options: { readonly storage?: Storage; readonly unknownGraceMs?: number } = {},
  ): Promise<SweepReport> {
    const storage = options.storage ?? this.#storage;
    if (!storage)
      throw new ComfycError(
        "USAGE",
        "Cleaning stored inputs needs the storage they are in",
        "Pass { storage } (the workers' --storage), or --storage to `comfyc jobs clean`.",
      );
    return sweepInputs(
      this.redis,
      this.#keys.inputs,
      storage,
      async (jobId) => {
        if (jobId === PINNED) return true;
        const lane = await this.redis.hget(this.#keys.index, jobId);
        if (!lane) return (await this.#tombstone(jobId)) ? false : undefined;
        const state = await this.laneQueue(lane).getJobState(jobId);
        if (state === "unknown") return undefined;
        return state !== "completed" && state !== "failed";
      },
      options.unknownGraceMs === undefined ? {} : { unknownGraceMs: options.unknownGraceMs },
    );
  }

  /**
   * Waits until the job ends (succeeded, failed or cancelled) and returns its record. Event
   * driven (BullMQ's event stream), with the state read once after subscribing so an end that
   * came first is not missed. Throws `NOT_FOUND`, `TIMEOUT` after `timeoutMs` (0 to
   * 2147483647 ms, else `USAGE`), or `USAGE` when this queue is closed meanwhile (the job goes
   * on in Redis).
   */
  async waitFor(id: string, options: { readonly timeoutMs?: number } = {}): Promise<JobRecord> {
    checkDurations(options, ["timeoutMs"]);
    if (this.#closed) throw closedWait(id);
    let lane: string | null;
    let events: QueueEvents;
    try {
      // The lane alone first (one round trip): the state is read once, after subscribing.
      lane = await this.redis.hget(this.#keys.index, id);
      if (!lane) {
        const tomb = await this.#tombstone(id);
        if (!tomb) throw notFoundJob(id);
        return tomb;
      }
      events = await this.#laneEvents(lane);
    } catch (e) {
      throw this.#closed ? closedWait(id) : e;
    }
    if (this.#closed) throw closedWait(id);
    return new Promise<JobRecord>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const check = async () => {
        if (settled) return;
        try {
          const r = (await this.#readJob(lane, id)) ?? (await this.#tombstone(id));
          if (settled) return;
          if (!r) return finish(undefined, notFoundJob(id));
          if (isFinal(r)) finish(r);
        } catch (e) {
          finish(undefined, e);
        }
      };
      const onEvent = ({ jobId }: { jobId: string }) => {
        if (jobId === id) void check();
      };
      const cleanup: (() => void)[] = [];
      const finish = (r?: JobRecord, e?: unknown) => {
        settled = true;
        for (const f of cleanup) f();
        if (timer) clearTimeout(timer);
        events.off("completed", onEvent);
        events.off("failed", onEvent);
        events.off("removed", onEvent);
        if (r) resolve(r);
        else reject(e);
      };
      events.on("completed", onEvent);
      events.on("failed", onEvent);
      events.on("removed", onEvent);
      // close() ends the wait with a typed error (the job itself goes on in Redis).
      const onClose = () => finish(undefined, closedWait(id));
      this.#waiters.add(onClose);
      cleanup.push(() => this.#waiters.delete(onClose));
      // Events make this fast; a slow re-read keeps it right if the event stream was trimmed
      // or Redis restarted while waiting.
      const poll = setInterval(() => void check(), 5000);
      poll.unref();
      cleanup.push(() => clearInterval(poll));
      if (options.timeoutMs !== undefined)
        timer = setTimeout(
          () =>
            finish(
              undefined,
              new ComfycError(
                "TIMEOUT",
                `Job ${id} did not finish within ${options.timeoutMs} ms`,
                "The job goes on; wait again, or check the workers with `comfyc jobs`.",
              ),
            ),
          options.timeoutMs,
        );
      void check();
    });
  }

  #laneEvents(lane: string): Promise<QueueEvents> {
    let events = this.#events.get(lane);
    if (!events) {
      events = this.#openLaneEvents(lane);
      this.#events.set(lane, events);
      // A failed open is not cached: the next waiter tries again.
      events.catch(() => this.#events.delete(lane));
    }
    return events;
  }

  async #openLaneEvents(lane: string): Promise<QueueEvents> {
    // Its own connection: it blocks on the event stream.
    const connection = connectRedis(this.#connection, true);
    connection.on("error", () => undefined);
    this.#owned.push(connection);
    // Read from the stream's current end, taken before the caller checks the job's state:
    // an end that comes between that check and the first blocking read is not missed.
    const stream = `${BULL_PREFIX}:${laneQueueName(this.name, lane)}:events`;
    const last = await this.redis.xrevrange(stream, "+", "-", "COUNT", 1);
    const events = new QueueEvents(laneQueueName(this.name, lane), {
      connection,
      prefix: BULL_PREFIX,
      lastEventId: last[0]?.[0] ?? "0-0",
    });
    events.on("error", () => undefined);
    events.setMaxListeners(0);
    this.#openEvents.push(events);
    await events.waitUntilReady();
    return events;
  }

  /** Closes every connection this object opened. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const end of [...this.#waiters]) end();
    await Promise.all(this.#openEvents.map((e) => e.close()));
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    for (const r of [...this.#owned, this.redis])
      // A connection ioredis gave up on ("end") has no socket left to close: ioredis 5 would
      // still arm its 2 s `disconnectTimeout` for the dead one, holding a CLI that failed fast.
      if (r.status !== "end") r.disconnect();
  }
}

/** A job read after its state may have finished meanwhile: its hash then says so. */
function settledState(job: BullJob<QueuedJobData, JobOutcome>, state: string): string {
  if (state === "completed" || state === "failed" || !job.finishedOn) return state;
  return job.failedReason && job.returnvalue == null ? "failed" : "completed";
}

function isFinal(r: JobRecord): boolean {
  return r.state === "succeeded" || r.state === "failed" || r.state === "cancelled";
}

/** How a {@link ComfyQueue.waitFor} ends when its queue is closed: the job goes on in Redis. */
function closedWait(id: string): ComfycError {
  return new ComfycError(
    "USAGE",
    `The ComfyQueue was closed while waiting for job ${id}; the job goes on`,
    "Close the queue after waitFor() settles, or wait again with a new ComfyQueue.",
  );
}

function notFoundJob(id: string): ComfycError {
  return new ComfycError(
    "NOT_FOUND",
    `No job ${JSON.stringify(id)} in this queue`,
    "Check the id and --queue; finished jobs are kept 7 days (succeeded) or 30 days (failed).",
  );
}

/** Inputs staged from the prompt's markers plus those the caller stored, one per key. */
function mergeInputs(
  staged: readonly StagedInput[],
  given: readonly StagedInput[] | undefined,
): StagedInput[] {
  const byKey = new Map<string, StagedInput>();
  for (const input of [...staged, ...(given ?? [])]) byKey.set(input.key, input);
  return [...byKey.values()];
}
