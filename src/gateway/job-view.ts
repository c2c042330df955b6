import { createHash } from "node:crypto";
import { z } from "zod";
import type { V2Job, V2Output, V2OutputType, V2Progress } from "../protocol/comfy-api-v2.js";
import type { JobOutput, JobProgressRecord, JobRecord } from "../scale/record.js";
import type { Storage } from "../scale/storage.js";
import { ApiError } from "./api-error.js";
import type { Caller } from "./auth.js";
import { JobLinksSchema, JobStatusSchema, WebhookAttemptSchema } from "./schemas.js";
import type { GatewayJobMeta } from "./submit.js";
import type { WebhookAttempt } from "./webhooks.js";

/** Progress of a running job on the `/v1` routes. */
export const ProgressSchema = z
  .object({
    /** Overall fraction 0–1: nodes done, plus the current node's sampler steps. */
    value: z.number().min(0).max(1),
    nodes_done: z.number().int(),
    nodes_total: z.number().int(),
    node: z.string().nullable(),
    step: z.number().int().nullable(),
    steps: z.number().int().nullable(),
  })
  .meta({ id: "Progress" });

/** One output file with where to download it. */
export const OutputSchema = z
  .object({
    node_id: z.string(),
    /** ComfyUI's file name (untrusted; shown as given). */
    filename: z.string(),
    kind: z.string().meta({ example: "image" }),
    content_type: z.string().nullable(),
    size_bytes: z.number().int(),
    /** Presigned (S3) or served by the gateway with the job owner's key (host-relative). */
    url: z.string(),
  })
  .meta({ id: "Output" });

/** A failed job's error: comfyc's code and ComfyUI's own details. */
export const JobErrorSchema = z
  .object({
    code: z.string().meta({ example: "EXECUTION_FAILED" }),
    message: z.string(),
    hint: z.string().nullable(),
    /** ComfyUI's details: `node_errors` of a rejected prompt, or the exception of a failed node. */
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: "JobError" });

/** `GET /v1/jobs/{id}`: everything about a job. */
export const JobViewSchema = z
  .object({
    id: z.string(),
    workflow: z.string().nullable(),
    status: JobStatusSchema,
    progress: ProgressSchema.nullable(),
    priority: z.number().int(),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    timings: z.object({
      wait_ms: z.number().int().nullable(),
      run_ms: z.number().int().nullable(),
    }),
    error: JobErrorSchema.nullable(),
    outputs: z.array(OutputSchema),
    /** Text outputs by node id. */
    texts: z.record(z.string(), z.array(z.string())),
    webhook: z
      .object({
        url: z.string(),
        delivered: z.boolean(),
        attempts: z.array(WebhookAttemptSchema),
      })
      .nullable(),
    request_id: z.string().nullable(),
    links: JobLinksSchema,
  })
  .meta({ id: "Job" });
export type JobView = z.infer<typeof JobViewSchema>;

/** The gateway's data on a job, when the gateway submitted it. */
export function metaOf(record: JobRecord): Partial<GatewayJobMeta> {
  // Read from Redis: a field of another shape is left out (a job without an owner is nobody's).
  const meta: { -readonly [K in keyof GatewayJobMeta]?: string } = {};
  for (const key of ["owner", "key", "webhook"] as const) {
    const field = z.string().safeParse(record.meta?.[key]);
    if (field.success) meta[key] = field.data;
  }
  return meta;
}

/**
 * The job if `caller` may see it; otherwise 404 (whether it does not exist or belongs to
 * another key: the answer reveals neither).
 */
export async function ownedJob(
  queue: { getJob(id: string): Promise<JobRecord | undefined> },
  id: string,
  caller: Caller,
  authEnabled: boolean,
): Promise<JobRecord> {
  const record = /^[A-Za-z0-9_-]{1,128}$/.test(id) ? await queue.getJob(id) : undefined;
  if (!record || (authEnabled && metaOf(record).owner !== caller.keyId))
    throw new ApiError(404, "not_found", `No job ${JSON.stringify(id)}`);
  return record;
}

/** Overall progress 0–1 from node counts and the current node's steps. */
export function progressValue(p: JobProgressRecord): number {
  if (p.nodesTotal <= 0) return 0;
  const partial = p.max && p.max > 0 && p.value !== undefined ? Math.min(1, p.value / p.max) : 0;
  return Math.max(0, Math.min(1, (p.nodesDone + partial) / p.nodesTotal));
}

/** The `/v1` progress of a running job (its `progress` field and the `progress` SSE event). */
export function v1Progress(p: JobProgressRecord): z.infer<typeof ProgressSchema> {
  return {
    value: progressValue(p),
    nodes_done: p.nodesDone,
    nodes_total: p.nodesTotal,
    node: p.node ?? null,
    step: p.value ?? null,
    steps: p.max ?? null,
  };
}

/** The Comfy API v2 `Progress` of a running job's progress (its `Job.progress` and SSE event). */
export function v2Progress(p: JobProgressRecord): V2Progress {
  return {
    value: progressValue(p),
    nodes_done: p.nodesDone,
    nodes_total: p.nodesTotal,
    current_node: p.node ?? null,
    current_node_class: null,
    step: p.value ?? null,
    steps: p.max ?? null,
    message: p.max ? `${p.value ?? 0}/${p.max}` : null,
  };
}

/** Where an output can be downloaded: a presigned URL for S3, the gateway's route otherwise. */
export async function outputUrl(
  storage: Storage,
  jobId: string,
  output: JobOutput,
): Promise<string> {
  if (!storage.location.startsWith("file:")) return storage.url(output.key);
  return `/v1/jobs/${encodeURIComponent(jobId)}/outputs/${output.key.split("/").slice(1).map(encodeURIComponent).join("/")}`;
}

/** The `/v1` view of a job record. */
export async function jobView(
  record: JobRecord,
  storage: Storage,
  webhookAttempts: readonly WebhookAttempt[],
  links: JobView["links"],
): Promise<JobView> {
  const meta = metaOf(record);
  const p = record.progress;
  return {
    id: record.id,
    workflow: record.workflow ?? null,
    status: record.state,
    progress: p && record.state === "running" ? v1Progress(p) : null,
    priority: record.priority,
    attempts: record.attempts,
    max_attempts: record.maxAttempts,
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    finished_at: record.finishedAt ?? null,
    timings: { wait_ms: record.waitMs ?? null, run_ms: record.runMs ?? null },
    error: record.error
      ? {
          code: record.error.code,
          message: record.error.message,
          hint: record.error.hint ?? null,
          details: (record.error.details as Record<string, unknown> | undefined) ?? null,
        }
      : null,
    outputs: await Promise.all(
      (record.outputs ?? []).map(async (o) => ({
        node_id: o.node,
        filename: o.filename,
        kind: o.kind,
        content_type: o.contentType ?? null,
        size_bytes: o.size,
        url: await outputUrl(storage, record.id, o),
      })),
    ),
    texts: Object.fromEntries(
      Object.entries(record.texts ?? {}).map(([node, texts]) => [node, [...texts]]),
    ),
    webhook: meta.webhook
      ? {
          url: meta.webhook,
          delivered: webhookAttempts.some((a) => a.status !== null && a.status < 300 && !a.error),
          attempts: [...webhookAttempts],
        }
      : null,
    request_id: record.requestId ?? null,
    links,
  };
}

/** How long a job stays retrievable, as the queue keeps it (7 days succeeded, 30 otherwise). */
function expiresAt(record: JobRecord): string {
  const base = Date.parse(record.finishedAt ?? record.createdAt);
  const days = record.state === "succeeded" ? 7 : 30;
  return new Date(base + days * 86400_000).toISOString();
}

const V2_KIND: Readonly<Record<string, V2OutputType>> = {
  image: "image",
  animated: "image",
  video: "video",
  audio: "audio",
  latent: "latent",
  text: "text",
};

/** A stable asset UUID for an output: a digest of its job and key (outputs are not re-minted). */
function assetId(jobId: string, key: string): string {
  const h = createHash("sha256").update(jobId).update("\0").update(key).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The Comfy API v2 `Job` of a record. `origin` makes gateway-served output URLs absolute. */
export async function v2Job(
  record: JobRecord,
  storage: Storage,
  origin: string,
  options: { canceling?: boolean } = {},
): Promise<V2Job> {
  const p = record.progress;
  const self = `/api/v2/jobs/${encodeURIComponent(record.id)}`;
  const urlExpiry = new Date(Date.now() + 3600_000).toISOString();
  const status =
    record.state === "cancelled"
      ? "canceled"
      : record.state === "running" && options.canceling
        ? "canceling"
        : record.state;
  const details = record.error?.details as Record<string, unknown> | undefined;
  const progress: V2Progress | null = p && record.state === "running" ? v2Progress(p) : null;
  const outputs: V2Output[] = await Promise.all(
    (record.outputs ?? []).map(async (o) => {
      const url = await outputUrl(storage, record.id, o);
      return {
        node_id: o.node,
        name: o.filename,
        type: V2_KIND[o.kind] ?? "file",
        content_type: o.contentType ?? "application/octet-stream",
        size_bytes: o.size,
        id: assetId(record.id, o.key),
        hash: null,
        url: url.startsWith("/") ? `${origin}${url}` : url,
        url_expires_at: urlExpiry,
        job_id: record.id,
      };
    }),
  );
  return {
    id: record.id,
    status,
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    completed_at: record.finishedAt ?? null,
    expires_at: expiresAt(record),
    queue_position: null,
    progress,
    outputs,
    error: record.error
      ? {
          code: v2ErrorCode(record.error.code),
          message: record.error.message,
          node_id: typeof details?.["node_id"] === "string" ? details["node_id"] : null,
          class_type: typeof details?.["node_type"] === "string" ? details["node_type"] : null,
          traceback: Array.isArray(details?.["traceback"])
            ? (details["traceback"] as unknown[]).join("")
            : typeof details?.["traceback"] === "string"
              ? details["traceback"]
              : null,
        }
      : null,
    metrics: { queue_ms: record.waitMs ?? null, execution_ms: record.runMs ?? null },
    urls: { self, events: `${self}/events`, cancel: `${self}/cancel` },
  };
}

/** comfyc error codes as v2 names them (`EXECUTION_FAILED` → `node_execution_error`). */
function v2ErrorCode(code: string): string {
  switch (code) {
    case "EXECUTION_FAILED":
      return "node_execution_error";
    case "PROMPT_REJECTED":
      return "invalid_workflow";
    case "CANCELLED":
    case "INTERRUPTED":
      return "canceled";
    default:
      return code.toLowerCase();
  }
}

/**
 * The record after an ending event. A job cancelled while queued is removed from its queue
 * before its cancelled record is written, so after `removed` the record is re-read (up to about
 * a second) until it appears.
 */
export async function settledRecord(
  queue: { getJob(id: string): Promise<JobRecord | undefined> },
  id: string,
  removed: boolean,
): Promise<JobRecord | undefined> {
  for (let i = 0; ; i++) {
    const r = await queue.getJob(id);
    if (r || !removed || i >= 40) return r;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
