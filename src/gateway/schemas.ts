import { z } from "zod";

/** Follow-up URLs of a job (host-relative). */
export const JobLinksSchema = z
  .object({
    self: z.string().meta({ example: "/v1/jobs/7f3d2c1b" }),
    events: z.string(),
    cancel: z.string(),
  })
  .meta({ id: "JobLinks" });

/** Lifecycle states of a job on the `/v1` routes. */
export const JobStatusSchema = z
  .enum(["queued", "running", "succeeded", "failed", "cancelled"])
  .meta({ id: "JobStatus" });
export type JobStatusV1 = z.infer<typeof JobStatusSchema>;

/** The `status` event of `GET /v1/jobs/{id}/events`: the job started, or is queued again. */
export const JobStatusEventSchema = z
  .object({ status: JobStatusSchema })
  .meta({ id: "JobStatusEvent" });

/** 202 answer to a submission. */
export const SubmittedSchema = z
  .object({
    id: z.string(),
    status: JobStatusSchema,
    links: JobLinksSchema,
  })
  .meta({ id: "SubmittedJob" });

/** One entry of `GET /v1/workflows`. */
export const WorkflowInfoSchema = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    /** `POST` here to submit a job. */
    endpoint: z.string(),
    /** The `params` object's JSON Schema (draft 2020-12). */
    params_schema: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "WorkflowInfo" });

export const WorkflowListSchema = z
  .object({ workflows: z.array(WorkflowInfoSchema) })
  .meta({ id: "WorkflowList" });

/** One webhook delivery attempt as recorded on the job. */
export const WebhookAttemptSchema = z
  .object({
    attempt: z.number().int(),
    at: z.string(),
    status: z.number().int().nullable(),
    error: z.string().optional(),
    duration_ms: z.number().int(),
  })
  .meta({ id: "WebhookAttempt" });
