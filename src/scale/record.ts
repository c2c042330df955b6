import type { Job as BullJob } from "bullmq";
import { z } from "zod";
import { ComfycError } from "../errors.js";
import { parseJsonLossless } from "../protocol/json.js";
import { MAX_TIMER_MS } from "../runtime/durations.js";
import type { OutputKind } from "../runtime/files.js";
import type { StagedInput } from "./inputs.js";

/** A job's state as users see it (the gateway's `status`). */
export type QueueJobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** The states {@link QueueJobState} lists, for flag parsing. */
export const QUEUE_JOB_STATES: readonly QueueJobState[] = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
];

/** A failure as the job record keeps it: comfyc's code plus ComfyUI's own details. */
export interface JobErrorRecord {
  /** A comfyc `ErrorCode` (`PROMPT_REJECTED`, `EXECUTION_FAILED`, `JOB_LOST`, …). */
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  /**
   * ComfyUI's details: for `PROMPT_REJECTED` `{ error, node_errors }` (the `/prompt` body), for
   * `EXECUTION_FAILED` `{ node_id, node_type, exception_type, exception_message, traceback }`,
   * for `CANCEL_UNDELIVERED` (a cancel the instance did not take: the prompt may still run
   * there) `{ prompt_id, server, reason }` (`reason`: `TIMEOUT` when the cancel budget ran out,
   * else the code of the request's error).
   */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One output file, copied to storage. */
export interface JobOutput {
  /** The node that produced it. */
  readonly node: string;
  /** The file name ComfyUI gave it (untrusted; the key holds a safe form). */
  readonly filename: string;
  readonly kind: OutputKind;
  /** Storage key: `<job id>/<node id>/<file>`. */
  readonly key: string;
  readonly size: number;
  readonly contentType?: string;
}

/** What a finished job returns (BullMQ's `returnvalue`). */
export interface JobOutcome {
  readonly promptId: string;
  /** The ComfyUI instance that ran it (its origin URL). */
  readonly instance: string;
  /** Where outputs were copied (`Storage.location`). */
  readonly storage: string;
  readonly outputs: readonly JobOutput[];
  /** Text outputs by node id (PreviewAny and friends). */
  readonly texts: Readonly<Record<string, readonly string[]>>;
  /** True when the outputs were collected from a run an earlier attempt had started. */
  readonly recovered: boolean;
}

/** The progress a worker reports while a job runs. */
export interface JobProgressRecord {
  /** The node executing now. */
  readonly node?: string;
  /** Sampler steps of the current node. */
  readonly value?: number;
  readonly max?: number;
  /** Nodes executed (or served from cache) of the prompt's total. */
  readonly nodesDone: number;
  readonly nodesTotal: number;
}

/** Where an attempt ran: written before the prompt is posted, so a takeover can find it. */
export interface JobRunRecord {
  readonly promptId: string;
  /** The instance's origin URL. */
  readonly server: string;
  readonly worker: string;
  readonly attempt: number;
  /** ms since the epoch. */
  readonly startedAt: number;
}

/** What `enqueue()` stores in BullMQ (`job.data`); JSON. */
export interface QueuedJobData {
  readonly v: 1;
  /** The API-format prompt as lossless JSON text (64-bit seeds stay exact). */
  readonly prompt: string;
  /** Workflow name (metrics label, logs). */
  readonly workflow?: string;
  /** The capability lane the job was routed to. */
  readonly lane: string;
  /** Output node ids, when the builder reported them. */
  readonly expectedOutputs?: readonly string[];
  /** Input files in storage the worker uploads to its instance before posting the prompt. */
  readonly inputs?: readonly StagedInput[];
  readonly fresh?: boolean;
  readonly extraData?: Readonly<Record<string, unknown>>;
  /**
   * The body's `partial_execution_targets`: only these output nodes run. Absent on jobs queued
   * before comfyc carried it (and when every output runs).
   */
  readonly partialExecutionTargets?: readonly string[];
  readonly timeouts?: { readonly queueMs?: number; readonly runMs?: number };
  /** A request id that follows the job into the worker's logs. */
  readonly requestId?: string;
  /** Free-form data of the caller (the gateway's webhook, key name, …), returned as is. */
  readonly meta?: Readonly<Record<string, unknown>>;
  /** Set by the worker for the attempt in progress. */
  readonly run?: JobRunRecord;
  /** Set by the worker when the job fails for good. */
  readonly error?: JobErrorRecord;
}

const errorRecordSchema = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const runRecordSchema = z.object({
  promptId: z.string().min(1),
  server: z.url({ protocol: /^https?$/ }),
  worker: z.string(),
  attempt: z.number().int().positive(),
  startedAt: z.number(),
});

const stagedInputSchema = z.object({
  name: z.string().regex(/^comfyc-[0-9a-f]{24}\.[a-z0-9]{1,10}$/, "not a comfyc input name"),
  key: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "not a SHA-256 in hex"),
  size: z.number().int().nonnegative(),
  storage: z.string(),
});

const timeoutMs = z.number().min(0).max(MAX_TIMER_MS).optional();

const progressSchema = z.object({
  node: z.string().optional(),
  value: z.number().optional(),
  max: z.number().optional(),
  nodesDone: z.number(),
  nodesTotal: z.number(),
});

const outcomeSchema = z.object({
  promptId: z.string(),
  instance: z.string(),
  storage: z.string(),
  outputs: z.array(
    z.object({
      node: z.string(),
      filename: z.string(),
      kind: z.enum(["image", "animated", "video", "audio", "latent", "3d", "file"]),
      key: z.string(),
      size: z.number(),
      contentType: z.string().optional(),
    }),
  ),
  texts: z.record(z.string(), z.array(z.string())),
  recovered: z.boolean(),
});

/**
 * {@link QueuedJobData} as a worker and a reader accept it from Redis (untrusted: written by any
 * producer with access, or by hand). Unknown keys are kept, so a newer producer's fields
 * survive the worker's `updateData`.
 */
const queuedJobDataSchema = z.looseObject({
  v: z.literal(1),
  prompt: z.string(),
  workflow: z.string().optional(),
  lane: z.string(),
  expectedOutputs: z.array(z.string()).optional(),
  inputs: z.array(stagedInputSchema).optional(),
  fresh: z.boolean().optional(),
  extraData: z.record(z.string(), z.unknown()).optional(),
  partialExecutionTargets: z.array(z.string()).optional(),
  timeouts: z.object({ queueMs: timeoutMs, runMs: timeoutMs }).optional(),
  requestId: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  run: runRecordSchema.optional(),
  error: errorRecordSchema.optional(),
});

/**
 * Checks a BullMQ job's `data` against {@link QueuedJobData} (zod), and that its `prompt` is the
 * JSON text of an API-format prompt (an object whose values are objects). Returns the data and
 * the parsed prompt. Throws `JOB_DATA_INVALID` (CLI exit 3) naming the job and every field that
 * is wrong: the job cannot run as it is, so a worker fails it for good instead of retrying.
 */
export function parseJobData(
  raw: unknown,
  jobId: string,
): { data: QueuedJobData; prompt: Record<string, unknown> } {
  const parsed = queuedJobDataSchema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map(
        (i) => `${i.path.length ? i.path.join(".") : "(data)"}: ${i.message}`,
      );
  let prompt: unknown;
  if (parsed.success) {
    try {
      prompt = parseJsonLossless(parsed.data.prompt);
    } catch (e) {
      problems.push(`prompt: not JSON (${(e as Error).message})`);
    }
    if (prompt !== undefined && !isPromptShape(prompt))
      problems.push("prompt: not an API-format prompt (an object of node objects by id)");
  }
  if (problems.length)
    throw new ComfycError(
      "JOB_DATA_INVALID",
      `Job ${jobId}'s data in Redis is not a comfyc job:\n  ${problems.join("\n  ")}`,
      "It was not written by this version's enqueue() (or was changed by hand): enqueue the" +
        " prompt again with ComfyQueue.enqueue() or `comfyc enqueue`.",
    );
  return { data: parsed.data as QueuedJobData, prompt: prompt as Record<string, unknown> };
}

/**
 * The fields of a job's `data` that pass {@link parseJobData}'s checks one by one, for reading a
 * record of a job whose data is malformed (it still shows, with its error).
 */
function readableData(raw: unknown): Partial<QueuedJobData> {
  const whole = queuedJobDataSchema.safeParse(raw);
  if (whole.success) return whole.data as QueuedJobData;
  if (typeof raw !== "object" || raw === null) return {};
  const r = raw as Record<string, unknown>;
  const pick = <T>(schema: z.ZodType<T>, v: unknown): T | undefined => {
    const p = schema.safeParse(v);
    return p.success ? p.data : undefined;
  };
  return {
    workflow: pick(z.string(), r["workflow"]),
    requestId: pick(z.string(), r["requestId"]),
    meta: pick(z.record(z.string(), z.unknown()), r["meta"]),
    run: pick(runRecordSchema, r["run"]),
    error: pick(errorRecordSchema, r["error"]),
  };
}

/** The input files a job's data names, or none when they are malformed. */
export function inputsOf(raw: unknown): readonly StagedInput[] {
  const p = z.object({ inputs: z.array(stagedInputSchema) }).safeParse(raw);
  return p.success ? p.data.inputs : [];
}

function isPromptShape(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((n) => typeof n === "object" && n !== null && !Array.isArray(n))
  );
}

/**
 * Everything known about a queued job: `getJob(id)`, `comfyc jobs --json`, and the gateway's
 * `GET /v1/jobs/{id}` read this shape. Times are ISO 8601, durations ms.
 */
export interface JobRecord {
  readonly id: string;
  readonly queue: string;
  readonly lane: string;
  readonly state: QueueJobState;
  /** BullMQ's own state (`waiting`, `prioritized`, `delayed`, `active`, `completed`, `failed`), or `removed` for a cancelled job taken off the queue. */
  readonly queueState: string;
  readonly workflow?: string;
  readonly priority: number;
  readonly progress?: JobProgressRecord;
  /** Attempts started so far, and the most allowed. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Enqueued → the latest attempt started (retries include their backoff). */
  readonly waitMs?: number;
  /** Last started → finished. */
  readonly runMs?: number;
  /** The ComfyUI instance of the latest attempt, and its prompt id. */
  readonly instance?: string;
  readonly promptId?: string;
  readonly error?: JobErrorRecord;
  readonly outputs?: readonly JobOutput[];
  readonly texts?: Readonly<Record<string, readonly string[]>>;
  readonly storage?: string;
  /** True when the outputs were collected from a run an earlier attempt had started (no rerun). */
  readonly recovered?: boolean;
  readonly requestId?: string;
  readonly meta?: Readonly<Record<string, unknown>>;
}

/**
 * The record of a BullMQ job in the given BullMQ state and lane. Malformed data (see
 * {@link parseJobData}) gives a record of what is readable; a failed job's error says why.
 */
export function recordOf(
  queue: string,
  lane: string,
  job: BullJob<QueuedJobData, JobOutcome>,
  queueState: string,
): JobRecord {
  const data = readableData(job.data);
  // The worker's result and progress come from Redis too: what does not fit is left out.
  const done = outcomeSchema.safeParse(job.returnvalue);
  const outcome: JobOutcome | undefined = done.success ? done.data : undefined;
  const cancelled = data.error?.code === "CANCELLED";
  const state: QueueJobState =
    queueState === "completed"
      ? "succeeded"
      : queueState === "failed"
        ? cancelled
          ? "cancelled"
          : "failed"
        : queueState === "active"
          ? "running"
          : "queued";
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);
  const error: JobErrorRecord | undefined =
    state === "failed" || state === "cancelled"
      ? (data.error ?? { code: "FAILED", message: job.failedReason || "failed" })
      : undefined;
  const read = progressSchema.safeParse(job.progress);
  const progress: JobProgressRecord | undefined = read.success ? read.data : undefined;
  return strip({
    id: job.id!,
    queue,
    lane,
    state,
    queueState,
    workflow: data.workflow,
    priority: job.opts.priority ?? 0,
    progress,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    waitMs: job.processedOn ? Math.max(0, job.processedOn - job.timestamp) : undefined,
    runMs:
      job.finishedOn && job.processedOn ? Math.max(0, job.finishedOn - job.processedOn) : undefined,
    instance: outcome?.instance ?? data.run?.server,
    promptId: outcome?.promptId ?? data.run?.promptId,
    error,
    outputs: outcome?.outputs,
    texts: outcome?.texts,
    storage: outcome?.storage,
    recovered: outcome?.recovered,
    requestId: data.requestId,
    meta: data.meta,
  });
}

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
