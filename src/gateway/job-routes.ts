import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isComfycError } from "../errors.js";
import type { JobRecord } from "../scale/record.js";
import { ApiError, ErrorEnvelopeSchema } from "./api-error.js";
import type { GatewayContext } from "./gateway.js";
import { jobView, JobViewSchema, metaOf, ownedJob, v1Progress, type JobView } from "./job-view.js";
import { streamJob, type SseRenderer } from "./sse.js";
import { JobStatusEventSchema } from "./schemas.js";
import { readAttempts } from "./webhook-delivery.js";
import { jobLinks } from "./workflow-routes.js";

const IdParams = z.object({ id: z.string().max(128) });

const notFound = ErrorEnvelopeSchema.describe("`not_found`: no such job for this key");
const unauthorized = ErrorEnvelopeSchema.describe("`unauthorized`");

/** The `/v1` view of a record, with its webhook attempts. */
export async function viewOf(ctx: GatewayContext, record: JobRecord): Promise<JobView> {
  const attempts = metaOf(record).webhook ? await readAttempts(ctx, record.id) : [];
  return jobView(record, ctx.storage, attempts, jobLinks(record.id));
}

/** `/v1` event frames: `snapshot` and `done` carry the whole job, `status` and `progress` changes. */
function v1Renderer(ctx: GatewayContext): SseRenderer {
  return {
    withIds: true,
    snapshot: async (r) => [{ event: "snapshot", data: await viewOf(ctx, r) }],
    final: async (r) => [{ event: "done", data: await viewOf(ctx, r) }],
    status: (status) => ({
      event: "status",
      data: { status } satisfies z.infer<typeof JobStatusEventSchema>,
    }),
    progress: (p) => ({ event: "progress", data: v1Progress(p) }),
  };
}

/** `GET /v1/jobs/{id}`, its cancel, events and outputs. */
export function registerJobRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const owned = (id: string, caller: Parameters<typeof ownedJob>[2]) =>
    ownedJob(ctx.queue, id, caller, ctx.auth.enabled);

  typed.get(
    "/v1/jobs/:id",
    {
      schema: {
        summary: "A job: status, progress, timings, error with ComfyUI's details, outputs as URLs",
        tags: ["jobs"],
        params: IdParams,
        response: { 200: JobViewSchema, 401: unauthorized, 404: notFound },
      },
    },
    async (request) => viewOf(ctx, await owned(request.params.id, request.caller!)),
  );

  typed.post(
    "/v1/jobs/:id/cancel",
    {
      schema: {
        summary: "Cancel a job: a queued one is removed, a running one is interrupted",
        description:
          "Answers with the job as it is right after the request; a running job may still show `running` until its worker has interrupted it (follow the events or poll).",
        tags: ["jobs"],
        params: IdParams,
        response: { 200: JobViewSchema, 401: unauthorized, 404: notFound },
      },
    },
    async (request) => {
      await owned(request.params.id, request.caller!);
      try {
        return await viewOf(ctx, await ctx.queue.cancel(request.params.id));
      } catch (e) {
        if (isComfycError(e, "NOT_FOUND")) throw new ApiError(404, "not_found", e.message);
        throw e;
      }
    },
  );

  typed.get(
    "/v1/jobs/:id/events",
    {
      schema: {
        summary: "Server-Sent Events of a job: snapshot, status, progress, done",
        description:
          "`snapshot` (the whole job) first, then `status` and `progress` changes, then `done` (the whole job, final) and the stream ends; `x-sse-events` gives each payload's schema. Every event has an id: reconnect with `Last-Event-ID` to resume where you left. Polling `GET /v1/jobs/{id}` stays the source of truth.",
        tags: ["jobs"],
        params: IdParams,
        headers: z.object({ "last-event-id": z.string().optional() }),
        response: {
          200: {
            description: "The event stream",
            content: { "text/event-stream": { schema: z.string() } },
          },
          401: unauthorized,
          404: notFound,
        },
      },
    },
    async (request, reply) => {
      const record = await owned(request.params.id, request.caller!);
      await streamJob(ctx, request, reply, record, v1Renderer(ctx));
    },
  );

  typed.get(
    "/v1/jobs/:id/outputs/:node/:file",
    {
      schema: {
        summary: "Download an output stored in the gateway's local storage",
        tags: ["jobs"],
        params: z.object({
          id: z.string().max(128),
          node: z.string().max(200),
          file: z.string().max(200),
        }),
        response: {
          200: {
            description: "The file's bytes",
            content: {
              "application/octet-stream": { schema: z.string().meta({ format: "binary" }) },
            },
          },
          401: unauthorized,
          404: notFound,
        },
      },
    },
    async (request, reply) => {
      const { id, node, file } = request.params;
      const record = await owned(id, request.caller!);
      // Only keys the record lists are served: no path from the request reaches storage.
      const output = (record.outputs ?? []).find(
        (o) => o.key.split("/").slice(1).join("/") === `${node}/${file}`,
      );
      if (!output) throw new ApiError(404, "not_found", `Job ${id} has no output ${node}/${file}`);
      let body;
      try {
        body = await ctx.storage.get(output.key);
      } catch (e) {
        if (isComfycError(e, "NOT_FOUND"))
          throw new ApiError(404, "not_found", `The output ${node}/${file} is no longer stored`);
        throw e;
      }
      reply
        .header("content-type", output.contentType ?? "application/octet-stream")
        .header("content-length", String(output.size))
        .header("content-disposition", `attachment; filename="${file.replace(/[^\w.-]/g, "_")}"`)
        .header("x-content-type-options", "nosniff");
      return reply.send(body as never);
    },
  );
}
