import { z } from "zod";

/**
 * ComfyUI's jobs API (protocol §2.18, changes §A2; `comfy_execution/jobs.py` and `server.py`):
 * `GET /api/jobs` (0.6.0), `GET /api/jobs/{id}` (0.6.0), `POST /api/jobs/{id}/cancel` and
 * `POST /api/jobs/cancel` (0.26.0). The routes are registered with the literal path `/api/jobs…`,
 * so `/api/api/jobs` answers too and `/jobs` does not. The first server-side status by id:
 * `GET /api/jobs/{id}` answers pending and running jobs that `/history/{id}` shows as `{}`.
 *
 * Named "server job" (`ServerJob`) apart from the runtime's own `Job` handle. Schemas are for
 * reading a server's replies (untrusted: unknown fields kept, an unknown status
 * kept as its string); the `…Wire` types are what a server writes.
 */

/**
 * `JobStatus.ALL` of `comfy_execution/jobs.py`. `cancelled` exists from 0.9.0 (`04c49a29`);
 * before, an interrupted prompt's job is `failed`.
 */
export const SERVER_JOB_STATUSES = [
  "pending",
  "in_progress",
  "completed",
  "failed",
  "cancelled",
] as const;
export type ServerJobStatus = (typeof SERVER_JOB_STATUSES)[number];

/**
 * One job of `GET /api/jobs` (`normalize_queue_item` / `normalize_history_item`). Fields whose
 * value would be `None` are left out (`prune_dict`). Times are Unix milliseconds; `priority` is
 * the queue number; `previewable_outputs_count` exists from 0.32.0 (`a683fa6e`).
 */
export const ServerJobSchema = z
  .object({
    id: z.string(),
    status: z.string(),
    priority: z.number().optional(),
    create_time: z.number().optional(),
    execution_start_time: z.number().optional(),
    execution_end_time: z.number().optional(),
    /** The `execution_error` message's data, as the WebSocket sent it. */
    execution_error: z.record(z.string(), z.unknown()).optional(),
    outputs_count: z.number().optional(),
    previewable_outputs_count: z.number().optional(),
    /** One output item plus `nodeId` and `mediaType`, or a text preview `{content, truncated?}`. */
    preview_output: z.record(z.string(), z.unknown()).optional(),
    workflow_id: z.string().optional(),
  })
  .loose();
export type ServerJob = z.infer<typeof ServerJobSchema>;

/**
 * `GET /api/jobs/{id}`: a finished job adds its normalised `outputs` (3D file names as file
 * items, `None` items dropped), the history entry's `execution_status` and `workflow`
 * (`{prompt, extra_data}`); a pending or running one is the list item alone.
 */
export const ServerJobDetailSchema = ServerJobSchema.extend({
  outputs: z.record(z.string(), z.unknown()).optional(),
  execution_status: z.record(z.string(), z.unknown()).optional(),
  workflow: z
    .object({ prompt: z.unknown(), extra_data: z.record(z.string(), z.unknown()) })
    .loose()
    .optional(),
}).loose();
export type ServerJobDetail = z.infer<typeof ServerJobDetailSchema>;

/** `GET /api/jobs`: one page. `limit` is `null` when the request gave none. */
export const ServerJobsPageSchema = z
  .object({
    jobs: z.array(ServerJobSchema),
    pagination: z
      .object({
        offset: z.number(),
        limit: z.number().nullable(),
        total: z.number(),
        has_more: z.boolean(),
      })
      .loose(),
  })
  .loose();
export type ServerJobsPage = z.infer<typeof ServerJobsPageSchema>;

/** Both cancel routes: whether a running job was interrupted or a pending one dequeued. */
export const JobsCancelReplySchema = z.object({ cancelled: z.boolean() }).loose();
export type JobsCancelReply = z.infer<typeof JobsCancelReplySchema>;

/** A job as a server writes it ({@link ServerJobSchema} reads it). */
export interface ServerJobWire {
  id: string;
  status: ServerJobStatus;
  priority: number;
  create_time?: number;
  execution_start_time?: number;
  execution_end_time?: number;
  execution_error?: Record<string, unknown>;
  outputs_count: number;
  previewable_outputs_count?: number;
  preview_output?: Record<string, unknown>;
  workflow_id?: string;
}

/** A job's details as a server writes them ({@link ServerJobDetailSchema} reads them). */
export interface ServerJobDetailWire extends ServerJobWire {
  outputs?: Record<string, unknown>;
  execution_status?: Record<string, unknown>;
  workflow?: { prompt: unknown; extra_data: Record<string, unknown> };
}

/** The canonical lowercase hyphenated UUID that `validate_job_id` accepts (0.25.0+). */
export const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
