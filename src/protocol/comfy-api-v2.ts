/**
 * Comfy API v2 wire shapes (`../shared/comfy-api-v2-openapi.yaml`, v2.0.0): the job contract of
 * Comfy Cloud, serverless deployments and the self-hosted proxy. The ONE definition for writers
 * (the gateway's `/api/v2` routes) and readers (a v2 client transport). Optional fields the
 * document marks nullable accept `null`; unknown fields are kept (v2 changes are additive).
 */
import { z } from "zod";

/** `queued → running → succeeded | failed | expired`; a cancel moves running → canceling → canceled. */
export const V2JobStatusSchema = z.enum([
  "queued",
  "running",
  "succeeded",
  "canceling",
  "canceled",
  "failed",
  "expired",
]);
export type V2JobStatus = z.infer<typeof V2JobStatusSchema>;

/** The terminal statuses. */
export const V2_TERMINAL: ReadonlySet<V2JobStatus> = new Set([
  "succeeded",
  "canceled",
  "failed",
  "expired",
]);

/** Server-computed progress snapshot; one fully re-syncs a client. */
export const V2ProgressSchema = z.looseObject({
  /** Overall fraction, 0–1. */
  value: z.number().min(0).max(1),
  nodes_done: z.number().int(),
  nodes_total: z.number().int(),
  current_node: z.string().nullable().optional(),
  current_node_class: z.string().nullable().optional(),
  step: z.number().int().nullable().optional(),
  steps: z.number().int().nullable().optional(),
  message: z.string().nullable().optional(),
});
export type V2Progress = z.infer<typeof V2ProgressSchema>;

/** Normalized output kind. */
export const V2OutputTypeSchema = z.enum(["image", "video", "audio", "text", "file", "latent"]);
export type V2OutputType = z.infer<typeof V2OutputTypeSchema>;

/** A committed job output (an asset). */
export const V2OutputSchema = z.looseObject({
  node_id: z.string(),
  name: z.string(),
  type: V2OutputTypeSchema,
  content_type: z.string(),
  size_bytes: z.number().int(),
  /** Asset UUID. */
  id: z.string(),
  /** `blake3:<hex>`, or null until computed. */
  hash: z.string().nullable(),
  url: z.string(),
  url_expires_at: z.string(),
  job_id: z.string().nullable().optional(),
});
export type V2Output = z.infer<typeof V2OutputSchema>;

/** Execution failure detail carried in `job.error`. */
export const V2JobErrorSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  node_id: z.string().nullable().optional(),
  class_type: z.string().nullable().optional(),
  traceback: z.string().nullable().optional(),
});
export type V2JobError = z.infer<typeof V2JobErrorSchema>;

/** Follow-up links (absolute, or host-relative with a leading `/`). */
export const V2JobUrlsSchema = z.looseObject({
  self: z.string(),
  events: z.string(),
  cancel: z.string(),
});

/** One execution of a workflow: `GET /api/v2/jobs/{id}`. */
export const V2JobSchema = z.looseObject({
  id: z.string(),
  status: V2JobStatusSchema,
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  expires_at: z.string(),
  queue_position: z.number().int().nullable(),
  progress: V2ProgressSchema.nullable(),
  outputs: z.array(V2OutputSchema),
  error: V2JobErrorSchema.nullable(),
  /** Durations in ms (`queue_ms`, `execution_ms`); null until known. */
  metrics: z.record(z.string(), z.number().int().nullable()).optional(),
  urls: V2JobUrlsSchema,
});
export type V2Job = z.infer<typeof V2JobSchema>;

/** Every v2 error body: a machine-readable `code` (`invalid_workflow`, `queue_full`, …). */
export const V2ErrorEnvelopeSchema = z.looseObject({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
});
export type V2ErrorEnvelope = z.infer<typeof V2ErrorEnvelopeSchema>;

/** `POST /api/v2/jobs` body. `webhook_url` and `inputs` are reserved: rejected when present. */
export const V2SubmitJobSchema = z.object({
  /** API-format workflow graph, verbatim. */
  workflow: z.record(z.string(), z.unknown()),
  /** Per-prompt ComfyUI `extra_data`; a closed object. */
  extra_data: z.object({ api_key_comfy_org: z.string().optional() }).strict().optional(),
});
export type V2SubmitJob = z.infer<typeof V2SubmitJobSchema>;

/** SSE `status` event payload. */
export const V2StatusEventSchema = z.looseObject({
  status: V2JobStatusSchema,
  queue_position: z.number().int().nullable().optional(),
});

/** SSE `preview` event payload (JPEG, base64). */
export const V2PreviewEventSchema = z.looseObject({
  node_id: z.string(),
  content_type: z.string(),
  data_base64: z.string(),
});
