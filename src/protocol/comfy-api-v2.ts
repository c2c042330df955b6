/**
 * Comfy API v2 wire shapes: the job contract of Comfy Cloud, serverless deployments and the
 * self-hosted proxy (`comfy-api-proxy` in front of a ComfyUI). Source: the OpenAPI document
 * `../shared/comfy-api-v2-openapi.yaml` (spec 2.0.0, vendored as
 * `test/fixtures/comfy-api-v2/openapi.yaml`; a test checks every schema here against it).
 *
 * The ONE definition for writers (the gateway's and the test server's `/api/v2` routes) and
 * readers (the runtime's v2 transport). Names follow the document's component names with a
 * `V2` prefix (`Job` → `V2JobSchema`/`V2Job`) and stay stable: other modules import them.
 *
 * Reading rules: fields the document marks `nullable` accept `null`; unknown fields are kept
 * (v2 changes are additive, "breaking changes require v3"); timestamps (`format: date-time`,
 * RFC 3339) and URLs are read as text, not parsed. Writers must send absolute URLs where the
 * document says `format: uri` (`Output.url`, `Asset.url`); `JobUrls` may be host-relative.
 */
import { z } from "zod";

/** The spec version these schemas follow (`info.version` of the document). */
export const V2_SPEC_VERSION = "2.0.0";

/**
 * A job's lifecycle (`JobStatus`): `queued → running → succeeded | failed | expired`; a cancel
 * moves `running → canceling → canceled`. Terminal: see {@link V2_TERMINAL}.
 */
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

/** The terminal statuses: `succeeded`, `canceled`, `failed`, `expired`. */
export const V2_TERMINAL: ReadonlySet<V2JobStatus> = new Set([
  "succeeded",
  "canceled",
  "failed",
  "expired",
]);

/**
 * Server-computed progress snapshot (`Progress`), node-count and sampler-step weighted. Complete
 * per snapshot: one fully re-syncs a client. The SSE `progress` event carries the same shape.
 */
export const V2ProgressSchema = z.looseObject({
  /** Overall fraction, 0–1. */
  value: z.number().min(0).max(1),
  nodes_done: z.number().int(),
  nodes_total: z.number().int(),
  /** The node running now (`"12"`). */
  current_node: z.string().nullable().optional(),
  /** Its class (`"KSampler"`). */
  current_node_class: z.string().nullable().optional(),
  /** Sampler step of the current node, and its step count. */
  step: z.number().int().nullable().optional(),
  steps: z.number().int().nullable().optional(),
  /** Display text (`"KSampler 21/50"`). */
  message: z.string().nullable().optional(),
});
export type V2Progress = z.infer<typeof V2ProgressSchema>;

/** Normalized output kind (`OutputType`): nothing is silently dropped, the rest is `file`. */
export const V2OutputTypeSchema = z.enum(["image", "video", "audio", "text", "file", "latent"]);
export type V2OutputType = z.infer<typeof V2OutputTypeSchema>;

/**
 * A committed job output (`Output`). Outputs are assets: `id` is the asset UUID, readable with
 * `GET /api/v2/assets/{id}` (and its bytes at `/content`) while the job is retained.
 */
export const V2OutputSchema = z.looseObject({
  /** The node that produced it (`"9"`). */
  node_id: z.string(),
  /** File name (`"ComfyUI_00001_.png"`). */
  name: z.string(),
  type: V2OutputTypeSchema,
  /** MIME type (`"image/png"`). */
  content_type: z.string(),
  /** Size in bytes. */
  size_bytes: z.number().int(),
  /** Asset UUID. */
  id: z.string(),
  /** `blake3:<hex>`, or null until computed (lazily). */
  hash: z.string().nullable(),
  /** Short-lived content URL (absolute per the document; the proxy has sent host-relative ones). */
  url: z.string(),
  /** When `url` stops working (RFC 3339). */
  url_expires_at: z.string(),
  job_id: z.string().nullable().optional(),
});
export type V2Output = z.infer<typeof V2OutputSchema>;

/** Execution failure detail carried in `job.error` (`JobError`; not an HTTP error). */
export const V2JobErrorSchema = z.looseObject({
  /** Machine-readable (`"node_execution_error"`). */
  code: z.string(),
  message: z.string(),
  node_id: z.string().nullable().optional(),
  class_type: z.string().nullable().optional(),
  /** The Python traceback, as one text. */
  traceback: z.string().nullable().optional(),
});
export type V2JobError = z.infer<typeof V2JobErrorSchema>;

/**
 * Follow-up links (`JobUrls`): absolute, or host-relative with a leading `/` that already holds
 * any mount prefix. Resolve a host-relative link against the request's origin (scheme and
 * authority), never against a configured base URL (that would duplicate the prefix).
 */
export const V2JobUrlsSchema = z.looseObject({
  self: z.string(),
  events: z.string(),
  cancel: z.string(),
});
export type V2JobUrls = z.infer<typeof V2JobUrlsSchema>;

/**
 * One execution of a workflow (`Job`): `GET /api/v2/jobs/{id}`, the 201 of `POST /api/v2/jobs`
 * and the 200 of `POST …/cancel`. Durable until `expires_at`; `outputs` fill in while it runs.
 */
export const V2JobSchema = z.looseObject({
  id: z.string(),
  status: V2JobStatusSchema,
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  /** Retention deadline (a platform property). */
  expires_at: z.string(),
  /** 0 = next to run; null when not queued. */
  queue_position: z.number().int().nullable(),
  progress: V2ProgressSchema.nullable(),
  outputs: z.array(V2OutputSchema),
  error: V2JobErrorSchema.nullable(),
  /** Durations in ms (`queue_ms`, `execution_ms`); a value not yet known is null. */
  metrics: z.record(z.string(), z.number().int().nullable()).optional(),
  urls: V2JobUrlsSchema,
});
export type V2Job = z.infer<typeof V2JobSchema>;

/**
 * The error codes the document names (`ErrorEnvelope` and the responses), with their HTTP
 * status. Servers may send others: read `code` as a string.
 */
export const V2_ERROR_CODES = {
  invalid_workflow: 422,
  workflow_format_ui: 422,
  missing_asset: 422,
  idempotency_key_reuse: 422,
  deployment_stopped: 422,
  hash_mismatch: 409,
  asset_in_use: 409,
  blob_not_found: 404,
  not_found: 404,
  insufficient_credits: 402,
  unauthorized: 401,
  forbidden: 403,
  queue_full: 429,
  deployment_not_ready: 429,
  rate_limited: 429,
  too_many_streams: 429,
  upstream_error: 500,
  not_implemented: 501,
} as const;
export type V2ErrorCode = keyof typeof V2_ERROR_CODES;

/**
 * Every v2 error body (`ErrorEnvelope`): a machine-readable `code` (see {@link V2_ERROR_CODES}),
 * a safe-to-display `message`, and optional `details` (`invalid_workflow` puts per-node
 * problems there, as `details.node_errors`).
 */
export const V2ErrorEnvelopeSchema = z.looseObject({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
});
export type V2ErrorEnvelope = z.infer<typeof V2ErrorEnvelopeSchema>;

/** Fields of `POST /api/v2/jobs` reserved for after the MVP: rejected when present today. */
export const V2_RESERVED_SUBMIT_FIELDS = ["webhook_url", "inputs"] as const;

const reserved = (name: string) =>
  z.never({ error: `\`${name}\` is reserved in Comfy API v2 and rejected today` }).optional();

/**
 * The `POST /api/v2/jobs` body: an API-format graph, verbatim, and per-prompt `extra_data`.
 * `webhook_url` and `inputs` are reserved and rejected; other unknown keys are dropped.
 * The request may carry an `Idempotency-Key` header (single-use: a second use of a key is 422
 * `idempotency_key_reuse`, never a replay).
 */
export const V2SubmitJobSchema = z.object({
  /** API-format workflow graph, verbatim (node id → `{class_type, inputs}`). */
  workflow: z.record(z.string(), z.unknown()),
  /** Per-prompt ComfyUI `extra_data`, a closed object: only `api_key_comfy_org`. Never persisted. */
  extra_data: z.object({ api_key_comfy_org: z.string().optional() }).strict().optional(),
  webhook_url: reserved("webhook_url"),
  inputs: reserved("inputs"),
});
export type V2SubmitJob = z.infer<typeof V2SubmitJobSchema>;

/** The workflow behind a job (`GET /api/v2/jobs/{id}/workflow`): branch on `format`. */
export const V2JobWorkflowResponseSchema = z.looseObject({
  /** `save`: the editor's workflow at the pinned version; `api`: the executed API-format graph. */
  format: z.enum(["save", "api"]),
  workflow: z.record(z.string(), z.unknown()),
});
export type V2JobWorkflowResponse = z.infer<typeof V2JobWorkflowResponseSchema>;

/** SSE `status` event payload: every lifecycle transition, first on connect. */
export const V2StatusEventSchema = z.looseObject({
  status: V2JobStatusSchema,
  queue_position: z.number().int().nullable().optional(),
});
export type V2StatusEvent = z.infer<typeof V2StatusEventSchema>;

/** SSE `preview` event payload: an in-progress preview (JPEG, base64), throttled. */
export const V2PreviewEventSchema = z.looseObject({
  node_id: z.string(),
  /** `"image/jpeg"`. */
  content_type: z.string(),
  data_base64: z.string(),
});
export type V2PreviewEvent = z.infer<typeof V2PreviewEventSchema>;

/** SSE `log` event payload: best-effort diagnostics, not emitted by servers yet. */
export const V2LogEventSchema = z.looseObject({
  /** `"info"`, … */
  level: z.string(),
  message: z.string(),
});
export type V2LogEvent = z.infer<typeof V2LogEventSchema>;

/**
 * The events of `GET /api/v2/jobs/{id}/events` (`x-sse-events`) and their payloads. The stream
 * is live only (no ids, no resume) and ends after the terminal `status`; `output` events are
 * hints, the complete outputs are `job.outputs` of `GET /api/v2/jobs/{id}`.
 */
export const V2SseEventSchemas = {
  status: V2StatusEventSchema,
  progress: V2ProgressSchema,
  preview: V2PreviewEventSchema,
  output: V2OutputSchema,
  log: V2LogEventSchema,
} as const;
export type V2SseEventName = keyof typeof V2SseEventSchemas;
/** One parsed SSE event. */
export type V2SseEvent = {
  [K in V2SseEventName]: {
    readonly event: K;
    readonly data: z.infer<(typeof V2SseEventSchemas)[K]>;
  };
}[V2SseEventName];

/**
 * A user-owned asset record (`Asset`) over an immutable, content-addressed blob: the reply of
 * `POST /api/v2/assets`, `POST …/from-hash` and `GET /api/v2/assets/{id}`.
 */
export const V2AssetSchema = z.looseObject({
  /** Server-assigned UUID. */
  id: z.string(),
  /** `blake3:<hex>`; null while computed lazily. */
  hash: z.string().nullable(),
  /** Size in bytes. */
  size_bytes: z.number().int(),
  content_type: z.string(),
  /** Placement path (`photo.png`, `models/checkpoints/x.safetensors`). */
  file_path: z.string().nullable().optional(),
  /** On create replies: a new blob (true) or a dedup hit (false). */
  created_new: z.boolean().optional(),
  created_at: z.string(),
  /** Short-lived content URL (absolute). */
  url: z.string(),
  url_expires_at: z.string(),
  /** Retention deadline of the asset; null or absent: it does not expire. */
  expires_at: z.string().nullable().optional(),
  /** The job that produced it; absent for uploads. */
  job_id: z.string().nullable().optional(),
});
export type V2Asset = z.infer<typeof V2AssetSchema>;

/** Retention override in seconds, 60 s to 7 days (`expires_in`). */
const expiresIn = z.number().int().min(60).max(604_800);

/**
 * The text fields of the `POST /api/v2/assets` multipart form (its `file` part holds the
 * bytes). `expected_hash` is verified against the server's own blake3 (mismatch: 409
 * `hash_mismatch`). Multipart sends text: `expires_in` is a decimal string on the wire.
 */
export const V2AssetUploadFieldsSchema = z.object({
  /** MIME type of the bytes (`image/png`). */
  content_type: z.string().min(1),
  /** Placement path / file name (`photo.png`). */
  file_path: z.string().min(1),
  expected_hash: z.string().optional(),
  /** Category tags (`input`). */
  tags: z.array(z.string()).optional(),
  expires_in: z.coerce.number().pipe(expiresIn).optional(),
});
export type V2AssetUploadFields = z.infer<typeof V2AssetUploadFieldsSchema>;

/** The `POST /api/v2/assets/from-hash` body: mint an asset over bytes the server has. */
export const V2AssetFromHashSchema = z.object({
  /** `blake3:<hex>`. */
  hash: z.string().min(1),
  file_path: z.string().optional(),
  tags: z.array(z.string()).optional(),
  expires_in: expiresIn.optional(),
});
export type V2AssetFromHash = z.infer<typeof V2AssetFromHashSchema>;

/**
 * The typed reference placed inside a workflow where a file name would go (`AssetReference`):
 * `{"__type": "core/ASSET", "info": {"id": "<uuid>"}}`. `info.id` is authoritative; `hash` and
 * `file_path` are hints. One that does not resolve to the caller's asset fails submission with
 * 422 `missing_asset`.
 */
export const V2AssetReferenceSchema = z.object({
  __type: z.literal("core/ASSET"),
  info: z.looseObject({
    id: z.string(),
    hash: z.string().optional(),
    file_path: z.string().optional(),
  }),
});
export type V2AssetReference = z.infer<typeof V2AssetReferenceSchema>;

/** The `core/ASSET` reference to an asset, to place in a workflow input. */
export function v2AssetReference(asset: Pick<V2Asset, "id"> & Partial<V2Asset>): V2AssetReference {
  return {
    __type: "core/ASSET",
    info: {
      id: asset.id,
      ...(asset.hash ? { hash: asset.hash } : {}),
      ...(asset.file_path ? { file_path: asset.file_path } : {}),
    },
  };
}
