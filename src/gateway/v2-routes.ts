import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isComfycError } from "../errors.js";
import { V2ErrorEnvelopeSchema, V2JobSchema, V2SubmitJobSchema } from "../protocol/comfy-api-v2.js";
import type { JobProgressRecord, JobRecord } from "../scale/record.js";
import { ApiError } from "./api-error.js";
import type { GatewayContext } from "./gateway.js";
import { ownedJob, v2Job, v2Progress } from "./job-view.js";
import { streamJob, type SseRenderer } from "./sse.js";
import { submitJob } from "./submit.js";
import { registerV2AssetRoutes, resolveAssetReferences } from "./v2-assets.js";
import { admit } from "./workflow-routes.js";

const IdParams = z.object({ id: z.string().max(128) });
const envelope = (what: string) => V2ErrorEnvelopeSchema.describe(what);

/** `scheme://host` of a request, to make gateway-served output URLs absolute (v2 `format: uri`). */
function originOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** Problems of an API-format graph that v2 rejects at submission (`invalid_workflow`). */
export function graphProblems(
  workflow: Record<string, unknown>,
): { node_id: string | null; message: string }[] {
  const problems: { node_id: string | null; message: string }[] = [];
  const ids = Object.keys(workflow);
  if (ids.length === 0) problems.push({ node_id: null, message: "the workflow has no nodes" });
  for (const [id, node] of Object.entries(workflow)) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) {
      problems.push({
        node_id: id,
        message: "a node must be an object with class_type and inputs",
      });
      continue;
    }
    const n = node as { class_type?: unknown; inputs?: unknown };
    if (typeof n.class_type !== "string" || n.class_type === "")
      problems.push({ node_id: id, message: "class_type must be a non-empty string" });
    if (
      n.inputs !== undefined &&
      (n.inputs === null || typeof n.inputs !== "object" || Array.isArray(n.inputs))
    ) {
      problems.push({ node_id: id, message: "inputs must be an object" });
      continue;
    }
    for (const [name, value] of Object.entries((n.inputs ?? {}) as Record<string, unknown>)) {
      // A link is [source node id, output index]; its source must exist.
      if (
        Array.isArray(value) &&
        value.length === 2 &&
        typeof value[0] === "string" &&
        Number.isInteger(value[1])
      )
        if (!Object.hasOwn(workflow, value[0]))
          problems.push({
            node_id: id,
            message: `input ${name} links to node ${JSON.stringify(value[0])}, which is not in the workflow`,
          });
    }
  }
  return problems;
}

/** The Comfy API v2 event stream: `status`, `progress`, `output`; no ids (v2 streams are live only). */
function v2Renderer(ctx: GatewayContext, origin: string): SseRenderer {
  const status = (r: JobRecord | undefined, s: string) => ({
    event: "status",
    data: { status: s, queue_position: null, ...(r ? {} : {}) },
  });
  const progress = (p: JobProgressRecord) => ({ event: "progress", data: v2Progress(p) });
  return {
    withIds: false,
    snapshot: async (r) => {
      const job = await v2Job(r, ctx.storage, origin);
      return [
        status(r, job.status),
        ...(r.progress && r.state === "running" ? [progress(r.progress)] : []),
      ];
    },
    final: async (r) => {
      const job = await v2Job(r, ctx.storage, origin);
      return [...job.outputs.map((o) => ({ event: "output", data: o })), status(r, job.status)];
    },
    status: (s, r) => status(r, s),
    progress,
  };
}

/**
 * The job routes of Comfy API v2 (`../shared/comfy-api-v2-openapi.yaml`): submit a raw
 * API-format workflow, poll it, follow its events, cancel it; and the asset routes
 * (`POST /api/v2/assets` and friends, see {@link registerV2AssetRoutes}): a workflow's
 * `core/ASSET` references become input files the queued job carries to its worker. Clients
 * written for Comfy Cloud run against the gateway with a bearer key.
 */
export function registerV2Routes(app: FastifyInstance, ctx: GatewayContext): void {
  registerV2AssetRoutes(app, ctx, originOf);
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const owned = (request: FastifyRequest, id: string) =>
    ownedJob(ctx.queue, id, request.caller!, ctx.auth.enabled);

  typed.post(
    "/api/v2/jobs",
    {
      schema: {
        summary: "Comfy API v2: submit an API-format workflow",
        description:
          "`Idempotency-Key` is single-use (a second use is 422 `idempotency_key_reuse`). Keys limited to some workflows may not submit raw graphs (403).",
        tags: ["comfy api v2"],
        operationId: "postJobs",
        headers: z.object({ "idempotency-key": z.string().max(255).optional() }),
        body: V2SubmitJobSchema.extend({
          webhook_url: z.unknown().optional(),
          inputs: z.unknown().optional(),
        }),
        response: {
          201: V2JobSchema,
          401: envelope("`unauthorized`"),
          403: envelope("`forbidden`"),
          422: envelope(
            "`invalid_workflow`, `workflow_format_ui`, `missing_asset` (`details.asset_ids`) or `idempotency_key_reuse`",
          ),
          429: envelope("`queue_full` or `rate_limited`, with Retry-After"),
          500: envelope("`upstream_error`"),
        },
      },
      preValidation: async (request) => {
        const caller = request.caller!;
        if (caller.workflows !== null)
          throw new ApiError(
            403,
            "forbidden",
            `The API key ${JSON.stringify(caller.name)} may only use its workflows (${caller.workflows.join(", ") || "none"}), not raw graphs.`,
          );
        await admit(ctx, caller);
      },
    },
    async (request, reply) => {
      const body = request.body;
      for (const reserved of ["webhook_url", "inputs"] as const)
        if (body[reserved] !== undefined)
          throw new ApiError(
            422,
            "invalid_workflow",
            `\`${reserved}\` is reserved in Comfy API v2 and not accepted yet.`,
          );
      const workflow = body.workflow;
      if (Array.isArray(workflow["nodes"]) && ("links" in workflow || "last_node_id" in workflow))
        throw new ApiError(
          422,
          "workflow_format_ui",
          "This is a UI-format workflow (the editor's save format); submit the API format (“Export (API)”).",
        );
      const problems = graphProblems(workflow);
      if (problems.length > 0)
        throw new ApiError(
          422,
          "invalid_workflow",
          `The workflow is invalid: ${problems[0]!.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
          {
            problems,
          },
        );
      // Uploaded assets become files the job carries; the graph names them.
      const resolved = await resolveAssetReferences(ctx, request.caller!, workflow);
      const submitted = await submitJob(ctx, request, request.caller!, {
        source: resolved.workflow,
        ...(resolved.inputs.length ? { inputs: resolved.inputs } : {}),
        workflow: "api",
        idempotency: "single-use",
        route: "/api/v2/jobs",
        body: { workflow },
        ...(body.extra_data ? { extraData: body.extra_data } : {}),
      });
      const record = await ctx.queue.getJob(submitted.id);
      if (!record)
        throw new ApiError(500, "upstream_error", "The job was queued but cannot be read back.");
      const job = await v2Job(record, ctx.storage, originOf(request));
      reply.code(201).header("location", job.urls.self);
      return job;
    },
  );

  typed.get(
    "/api/v2/jobs/:id",
    {
      schema: {
        summary: "Comfy API v2: job status (the polling workhorse)",
        tags: ["comfy api v2"],
        operationId: "getJob",
        params: IdParams,
        response: {
          200: V2JobSchema,
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`"),
        },
      },
    },
    async (request) =>
      v2Job(await owned(request, request.params.id), ctx.storage, originOf(request)),
  );

  typed.post(
    "/api/v2/jobs/:id/cancel",
    {
      schema: {
        summary: "Comfy API v2: request cancellation",
        tags: ["comfy api v2"],
        operationId: "cancelJob",
        params: IdParams,
        response: {
          200: V2JobSchema,
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`"),
        },
      },
    },
    async (request) => {
      const before = await owned(request, request.params.id);
      let after: JobRecord;
      try {
        after = await ctx.queue.cancel(before.id);
      } catch (e) {
        if (isComfycError(e, "NOT_FOUND")) throw new ApiError(404, "not_found", e.message);
        throw e;
      }
      return v2Job(after, ctx.storage, originOf(request), { canceling: after.state === "running" });
    },
  );

  typed.get(
    "/api/v2/jobs/:id/events",
    {
      schema: {
        summary: "Comfy API v2: live event stream (SSE)",
        tags: ["comfy api v2"],
        operationId: "getJobEvents",
        params: IdParams,
        response: {
          200: {
            description: "SSE stream",
            content: { "text/event-stream": { schema: z.string() } },
          },
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`"),
        },
      },
    },
    async (request, reply) => {
      const record = await owned(request, request.params.id);
      await streamJob(ctx, request, reply, record, v2Renderer(ctx, originOf(request)));
    },
  );
}
