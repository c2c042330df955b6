import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { imageParamNames } from "../builder/image-param.js";
import { ApiError, ErrorEnvelopeSchema } from "./api-error.js";
import { authorizeWorkflow, type Caller } from "./auth.js";
import type { GatewayContext } from "./gateway.js";
import { SubmittedSchema, WorkflowListSchema } from "./schemas.js";
import { submitJob } from "./submit.js";
import { readMultipartSubmission, stageImageParams, type UploadedFile } from "./uploads.js";
import type { WorkflowEndpoint } from "./workflows.js";

/** The highest `priority` a submission may ask for (BullMQ's limit, 2^21). */
export const MAX_PRIORITY = 2_097_152;

/** Host-relative follow-up links of a job. */
export function jobLinks(id: string): { self: string; events: string; cancel: string } {
  const self = `/v1/jobs/${encodeURIComponent(id)}`;
  return { self, events: `${self}/events`, cancel: `${self}/cancel` };
}

const errors = {
  400: ErrorEnvelopeSchema.describe(
    "`invalid_json`: the JSON body is empty or malformed, or holds a `__proto__` (or `constructor.prototype`) key; `bad_request`: the body could not be read",
  ),
  401: ErrorEnvelopeSchema.describe("`unauthorized`: no key, or an unknown or revoked one"),
  403: ErrorEnvelopeSchema.describe("`forbidden`: the key may not use this workflow"),
  409: ErrorEnvelopeSchema.describe(
    "`idempotency_conflict`: the Idempotency-Key was used with another body; `idempotency_in_progress`: the first request is still submitting",
  ),
  413: ErrorEnvelopeSchema.describe(
    "`payload_too_large`: the body, or an image over the upload limit (`details.limit_bytes`)",
  ),
  415: ErrorEnvelopeSchema.describe(
    "`unsupported_media_type`: send application/json (or multipart/form-data for a workflow with image parameters)",
  ),
  422: ErrorEnvelopeSchema.describe(
    "`invalid_request`: every problem of the body in `details.issues` (path, message); `invalid_workflow`: the compiled graph fails ComfyUI's validation (`details.node_errors`)",
  ),
  429: ErrorEnvelopeSchema.describe(
    "`rate_limited` (this key's rate) or `queue_full` (too many waiting jobs); see `Retry-After`",
  ),
  503: ErrorEnvelopeSchema.describe(
    "`queue_unavailable`: Redis could not be reached; `storage_unavailable`: an image could not be stored; `no_workers`: no worker serves the queue yet",
  ),
};

/** `GET /v1/workflows` and one `POST /v1/workflows/{name}/jobs` per workflow. */
export function registerWorkflowRoutes(
  app: FastifyInstance,
  ctx: GatewayContext,
  workflows: readonly WorkflowEndpoint[],
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    "/v1/workflows",
    {
      schema: {
        summary: "The workflows this key may submit to, with their parameters' JSON Schemas",
        tags: ["workflows"],
        response: { 200: WorkflowListSchema, 401: errors[401] },
      },
    },
    async (request) => ({
      workflows: workflows
        .filter((w) => allowed(request.caller!, w.name))
        .map((w) => ({
          name: w.name,
          description: w.description ?? null,
          endpoint: `/v1/workflows/${w.name}/jobs`,
          params_schema: w.paramsJsonSchema,
        })),
    }),
  );

  // The body before zod parsed it: compile() parses the parameters itself, and a parameter
  // whose schema transforms its value must not be transformed twice.
  const rawBodies = new WeakMap<FastifyRequest, { params?: unknown }>();
  const uploadedFiles = new WeakMap<FastifyRequest, Map<string, UploadedFile>>();
  for (const wf of workflows) {
    const url = `/v1/workflows/${wf.name}/jobs`;
    const images = imageParamNames(wf.paramsJsonSchema);
    const body = z
      .object({
        // Strict here (compile() parses with the workflow's own schema): a misspelt parameter
        // is a 422, not silently the default.
        params: withImageParams(wf, images, ctx)
          .strict()
          .optional()
          .describe("The workflow's parameters (omit for all defaults)"),
        webhook: z
          .string()
          .optional()
          .describe(
            "Callback URL POSTed the job record when it ends (signed, Standard Webhooks); its host must be allow-listed",
          )
          .superRefine((value, check) => {
            const problem = value === undefined ? undefined : ctx.webhookPolicy.problem(value);
            if (problem) check.addIssue({ code: "custom", message: problem });
          }),
        priority: z
          .number()
          .int()
          .min(1)
          .max(MAX_PRIORITY)
          .optional()
          .describe("Queue priority: 1 runs first; without it, after every prioritized job"),
      })
      .strict();
    typed.post(
      url,
      {
        schema: {
          summary: `Submit a ${wf.name} job`,
          ...(wf.description ? { description: wf.description } : {}),
          tags: ["workflows"],
          operationId: `submit_${wf.name.replace(/[^A-Za-z0-9_]/g, "_")}`,
          headers: z.object({
            "idempotency-key": z
              .string()
              .max(255)
              .optional()
              .describe(
                "The same key with the same body returns the same job; with another body, 409",
              ),
          }),
          body,
          response: { 202: SubmittedSchema, ...errors },
        },
        preValidation: async (request) => {
          const caller = request.caller!;
          authorizeWorkflow(caller, wf.name);
          await admit(ctx, caller);
          if (images.length === 0 && request.isMultipart())
            throw new ApiError(
              415,
              "unsupported_media_type",
              `The workflow ${JSON.stringify(wf.name)} has no image parameters: send its body as application/json.`,
            );
          // A multipart body is read only now: a refused caller uploads nothing.
          if (images.length > 0 && request.isMultipart()) {
            const read = await readMultipartSubmission(
              request,
              images,
              ctx.uploads,
              ctx.bodyLimitBytes,
            );
            request.body = read.body;
            uploadedFiles.set(request, read.files);
          }
          rawBodies.set(request, (request.body ?? {}) as { params?: unknown });
        },
      },
      async (request, reply) => {
        const raw = rawBodies.get(request) ?? {};
        const params = (raw.params ?? {}) as Record<string, unknown>;
        const submitted = await submitJob(ctx, request, request.caller!, {
          source: wf.workflow,
          params,
          ...(images.length > 0
            ? {
                stageInputs: () =>
                  stageImageParams(
                    params,
                    images,
                    uploadedFiles.get(request),
                    ctx.uploads,
                    ctx.storage,
                  ),
              }
            : {}),
          workflow: wf.name,
          ...(request.body.priority !== undefined ? { priority: request.body.priority } : {}),
          ...(request.body.webhook !== undefined ? { webhook: request.body.webhook } : {}),
          idempotency: "replay",
          route: url,
          body: raw,
        });
        const links = jobLinks(submitted.id);
        reply.code(202).header("location", links.self);
        if (submitted.replayed) reply.header("idempotent-replayed", "true");
        return { id: submitted.id, status: "queued" as const, links };
      },
    );
  }
}

/**
 * The body's `params` schema: the workflow's own, with each image parameter taking what a client
 * sends for it: an allow-listed image URL in a JSON body (checked here, so its problem is listed
 * with the others), or a file part of that name in a multipart body.
 */
function withImageParams(
  wf: WorkflowEndpoint,
  images: readonly string[],
  ctx: GatewayContext,
): z.ZodObject {
  if (images.length === 0) return wf.params;
  const required = new Set((wf.paramsJsonSchema["required"] as string[] | undefined) ?? []);
  const shape: Record<string, z.ZodType> = {};
  for (const name of images) {
    const original = (
      wf.paramsJsonSchema["properties"] as Record<string, { description?: string }>
    )[name];
    const image = z
      .string()
      .min(1)
      .superRefine((value, check) => {
        const problem = ctx.uploads.urlProblem(value);
        if (problem) check.addIssue({ code: "custom", message: problem });
      })
      .meta({
        format: "uri",
        description: `${original?.description ? `${original.description}. ` : ""}An image: its URL under an allowed prefix (JSON body), or a multipart/form-data file part named "${name}" (at most ${ctx.uploads.limitBytes} bytes).`,
      });
    shape[name] = required.has(name) ? image : image.optional();
  }
  // A fresh object (not .extend(), which zod refuses on a refined object): the workflow's own
  // schema, refinements included, still parses the parameters in compile().
  return z.object({ ...wf.params.shape, ...shape });
}

function allowed(caller: Caller, workflow: string): boolean {
  return caller.workflows === null || caller.workflows.includes(workflow);
}

/**
 * Admission before a submission is parsed: the key's rate (429 `rate_limited`) and the queue's
 * depth (429 `queue_full`). Both answer with `Retry-After`.
 */
export async function admit(ctx: GatewayContext, caller: Caller): Promise<void> {
  const rate = caller.rate ?? ctx.defaultRate;
  if (rate) await ctx.rateLimits.consume(caller.keyId, rate);
  if (ctx.maxWaiting !== undefined) {
    const waiting = await ctx.queueDepth.waiting();
    if (waiting >= ctx.maxWaiting) {
      throw new ApiError(
        429,
        "queue_full",
        `The queue is full (${waiting} jobs waiting); retry later.`,
        { waiting, limit: ctx.maxWaiting },
        { "retry-after": "5" },
      );
    }
  }
}
