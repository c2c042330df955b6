import { randomUUID } from "node:crypto";
import fastifyMultipart from "@fastify/multipart";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import {
  createJsonSchemaTransform,
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import type { Webhook } from "standardwebhooks";
import { z } from "zod";
import { imageParamNames } from "../builder/image-param.js";
import { ComfycError, isComfycError } from "../errors.js";
import { ApiError, ErrorEnvelopeSchema, invalidRequest, issuePath } from "./api-error.js";
import { Authenticator, type Caller } from "./auth.js";
import { IdempotencyStore } from "./idempotency.js";
import { ComfyQueue } from "../scale/queue.js";
import type { RedisConnection } from "../scale/redis.js";
import { openStorage, type Storage } from "../scale/storage.js";
import { JobEvents } from "./events.js";
import { registerJobRoutes } from "./job-routes.js";
import { registerV2Routes } from "./v2-routes.js";
import { WebhookDelivery, type WebhookRetry } from "./webhook-delivery.js";
import type { Rate } from "./keys.js";
import { GatewayMetrics } from "./metrics.js";
import { RateLimits } from "./rate-limit.js";
import { QueueDepth } from "./submit.js";
import { UploadPolicy } from "./uploads.js";
import { registerWorkflowRoutes } from "./workflow-routes.js";
import { WebhookPolicy, webhookSigner } from "./webhooks.js";
import { workflowEndpoints, type WorkflowEndpoint, type WorkflowSource } from "./workflows.js";

/** Settings of {@link createGateway}. */
export interface GatewayOptions {
  /** Redis URL (`redis://127.0.0.1:6379`) or ioredis options: where the queue lives. */
  readonly redis: RedisConnection;
  /** Queue name, as given to `comfyc worker --queue` (default `comfyc`). */
  readonly queue?: string;
  /**
   * Where workers store outputs (the same `--storage` they were given): a folder (default
   * `comfyc-outputs`), `file://…`, or `s3://…`. Local outputs are served by the gateway behind
   * the job owner's key; S3 outputs are linked by presigned URL.
   */
  readonly storage?: string | Storage;
  /** The workflows served as `POST /v1/workflows/{name}/jobs`. */
  readonly workflows: readonly WorkflowSource[];
  /**
   * The keys file (`comfyc gateway keys add`). Without it authentication is OFF and every
   * request may use every workflow: only for a gateway behind your own authenticating proxy.
   */
  readonly keysFile?: string;
  /** Submission rate of keys that set none (default: unlimited). */
  readonly defaultRate?: Rate;
  /** Largest JSON request body in bytes (default 1 MiB); larger ones get 413. */
  readonly bodyLimitBytes?: number;
  /** Hosts callback URLs may point at (see {@link WebhookPolicy}); none = webhooks refused. */
  readonly webhookHosts?: readonly string[];
  /** `whsec_…` secret the webhooks are signed with; required with `webhookHosts`. */
  readonly webhookSecret?: string;
  /** Webhook retries (default 8 attempts, 1 s doubling). */
  readonly webhookRetry?: WebhookRetry;
  /** Validate compiled graphs with ComfyUI's rules before queueing (default true). */
  readonly validate?: boolean;
  /** Prefix of the gateway's own Redis keys (default `comfyc-gateway`). */
  readonly prefix?: string;
  /** A pino logger, a level (`info`, `warn`, …), or `false` for none (default `info` to stdout). */
  readonly logger?: Logger | string | false;
  /** Answer 429 `queue_full` while more than this many jobs wait to start (default: no limit). */
  readonly maxWaiting?: number;
  /** Trust `X-Forwarded-*` from a reverse proxy (Fastify's `trustProxy`; default false). */
  readonly trustProxy?: boolean | string | readonly string[];
  /**
   * URL prefixes an image parameter's URL may start with (`--allow-url-prefix`); none: image
   * parameters take multipart files only. See {@link UploadPolicy}.
   */
  readonly allowUrlPrefixes?: readonly string[];
  /** Largest image, uploaded or fetched, in bytes (default 20 MiB; `--upload-limit`). */
  readonly uploadLimitBytes?: number;
  /** Time limit of fetching one image URL, in ms (default 15000). */
  readonly urlFetchTimeoutMs?: number;
}

/** A running (or ready to run) gateway. */
export interface Gateway {
  /** The Fastify instance, for `inject()` in tests or extra routes before `listen`. */
  readonly app: FastifyInstance;
  /** The workflows served, by name. */
  readonly workflows: readonly WorkflowEndpoint[];
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:8080`). */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Re-reads the keys file now (it is also re-read within a second of changing). */
  reloadKeys(): Promise<void>;
  /** The queue the gateway submits to (its producer side). */
  readonly queue: ComfyQueue;
  /** Stops listening, closes open streams, webhook delivery and the Redis connections. */
  close(): Promise<void>;
}

/** What route handlers share. */
export interface GatewayContext {
  readonly redis: Redis;
  readonly prefix: string;
  readonly auth: Authenticator;
  readonly rateLimits: RateLimits;
  readonly defaultRate: Rate | undefined;
  readonly idempotency: IdempotencyStore;
  readonly metrics: GatewayMetrics;
  readonly webhookPolicy: WebhookPolicy;
  readonly webhookSigner: Webhook | undefined;
  readonly validate: boolean;
  readonly log: Logger;
  readonly queue: ComfyQueue;
  readonly storage: Storage;
  readonly events: JobEvents;
  readonly queueDepth: QueueDepth;
  /** Waiting jobs above which submissions get 429 `queue_full`. */
  readonly maxWaiting: number | undefined;
  /** Image parameters: allowed URLs and the size limit. */
  readonly uploads: UploadPolicy;
  /** Largest JSON body (and multipart text field) in bytes. */
  readonly bodyLimitBytes: number;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated caller (set on every route that needs a key). */
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** Public routes (docs, OpenAPI, health, metrics) need no key. */
    public?: boolean;
  }
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Creates the gateway: a Fastify service that validates typed workflow submissions against
 * each workflow's zod parameters, authenticates API keys, rate-limits per key in Redis, and
 * describes itself at `/openapi.json` (viewer at `/docs`). Call `listen()` to serve.
 *
 * Throws `USAGE` for bad options (workflow names, webhook settings).
 *
 * @example
 * const gateway = await createGateway({ redis: "redis://127.0.0.1:6379", workflows: [{ workflow: txt2img }], keysFile: "keys.json" });
 * console.log(await gateway.listen({ port: 8080 }));
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const workflows = workflowEndpoints(options.workflows);
  const served = new Set(workflows.map((w) => w.name));
  const hosts = options.webhookHosts ?? [];
  if (hosts.length > 0 && !options.webhookSecret) {
    throw new ComfycError(
      "USAGE",
      "Webhook hosts are set but no webhook secret",
      "Pass --webhook-secret whsec_… (make one with `comfyc gateway webhook-secret`).",
    );
  }
  const signer = options.webhookSecret ? webhookSigner(options.webhookSecret) : undefined;
  const uploads = new UploadPolicy({
    ...(options.allowUrlPrefixes ? { allowUrlPrefixes: options.allowUrlPrefixes } : {}),
    ...(options.uploadLimitBytes !== undefined ? { limitBytes: options.uploadLimitBytes } : {}),
    ...(options.urlFetchTimeoutMs !== undefined
      ? { fetchTimeoutMs: options.urlFetchTimeoutMs }
      : {}),
  });
  const bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
  const log = makeLogger(options.logger);
  const prefix = options.prefix ?? "comfyc-gateway";
  const auth = new Authenticator(options.keysFile);
  auth.onReloadError = (e) =>
    log.error(
      { err: (e as Error)?.message },
      "cannot reload the keys file; the previous keys stay in force",
    );
  await auth.reload();
  const ownsStorage = typeof options.storage !== "object";
  const storage =
    typeof options.storage === "object"
      ? options.storage
      : await openStorage(options.storage ?? "comfyc-outputs");
  const queue = new ComfyQueue({
    redis: options.redis,
    ...(options.queue ? { name: options.queue } : {}),
  });
  const redis = queue.redis;
  const events = new JobEvents(queue, options.redis);
  const ctx: GatewayContext = {
    redis,
    prefix,
    auth,
    rateLimits: new RateLimits(redis, prefix),
    defaultRate: options.defaultRate,
    idempotency: new IdempotencyStore(redis, prefix),
    metrics: new GatewayMetrics(),
    webhookPolicy: new WebhookPolicy(signer ? hosts : []),
    webhookSigner: signer,
    validate: options.validate !== false,
    log,
    queue,
    storage,
    events,
    queueDepth: new QueueDepth({ queue }),
    maxWaiting: options.maxWaiting,
    uploads,
    bodyLimitBytes,
  };
  const webhooks = signer ? new WebhookDelivery(ctx, options.redis, signer) : undefined;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: "request_id",
    }),
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: bodyLimitBytes,
    trustProxy: (options.trustProxy as boolean | string | string[] | undefined) ?? false,
    return503OnClosing: true,
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, log));
  app.setNotFoundHandler((request, reply) =>
    sendError(notFound(request.method, request.url.split("?")[0]!, served), request, reply, log),
  );
  // Only JSON (and multipart, for uploads) is read: a text/plain body is a 415 like any other
  // media type, not a string that fails the body schema with "expected object".
  app.removeContentTypeParser("text/plain");

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    if (request.routeOptions.config.public || request.routeOptions.url?.startsWith("/docs")) return;
    // Unmatched routes answer 404 whether or not a key came, so they reveal nothing.
    if (request.routeOptions.url === undefined) return;
    request.caller = auth.authenticate(request.headers);
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    const seconds = reply.elapsedTime / 1000;
    ctx.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    ctx.metrics.latency.observe({ route, method: request.method }, seconds);
    request.log.info(
      {
        method: request.method,
        path: request.url.split("?")[0],
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ...(request.caller ? { key: request.caller.name } : {}),
      },
      "request",
    );
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "comfyc gateway",
        version: "1",
        description:
          "Typed workflow endpoints in front of ComfyUI: submit jobs, follow them, fetch their outputs. Every error is an `ErrorEnvelope`.",
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: "http", scheme: "bearer" },
          apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key" },
        },
      },
      ...(auth.enabled ? { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }] } : {}),
    },
    transform: createJsonSchemaTransform({
      skipList: ["/docs", "/docs/*"],
      zodToJsonConfig: { unrepresentable: "any" },
    }),
    transformObject: (input) =>
      describeEvents(
        describeMultipart(
          jsonSchemaTransformObject(input) as OpenApiDocument,
          workflows,
          uploads.limitBytes,
        ),
      ) as ReturnType<typeof jsonSchemaTransformObject>,
  });
  // Image parameters take multipart file parts (read by the routes themselves, as streams).
  await app.register(fastifyMultipart);
  await app.register(fastifySwaggerUi, {
    routePrefix: "/docs",
    uiConfig: { url: "/openapi.json" },
    uiHooks: {},
    staticCSP: true,
    logLevel: "warn",
  });
  registerMetaRoutes(app, ctx);
  registerWorkflowRoutes(app, ctx, workflows);
  registerJobRoutes(app, ctx);
  registerV2Routes(app, ctx);
  await webhooks?.start();

  let listening: string | undefined;
  return {
    app,
    workflows,
    queue,
    async listen(listenOptions = {}) {
      listening = await app.listen({
        port: listenOptions.port ?? 8080,
        host: listenOptions.host ?? "127.0.0.1",
      });
      auth.watch();
      return listening;
    },
    reloadKeys: () => auth.reload(),
    async close() {
      // Open event streams end first, so Fastify does not wait on them.
      events.endStreams();
      await app.close();
      await events.close();
      await auth.close();
      await webhooks?.close();
      await queue.close();
      if (ownsStorage) await storage.close?.();
    },
  };
}

type OpenApiDocument = {
  paths?: Record<
    string,
    Record<
      string,
      { requestBody?: { required?: boolean; content?: Record<string, unknown> } } & Record<
        string,
        unknown
      >
    >
  >;
};

/**
 * The event catalog of `GET /v1/jobs/{id}/events`, as Comfy API v2 writes its own
 * (`x-sse-events`: each event's name, meaning and payload schema), so clients and the
 * contract tests read the payload shapes from the document.
 */
function describeEvents(doc: OpenApiDocument): OpenApiDocument {
  const upload = doc.paths?.["/api/v2/assets"]?.["post"];
  // The asset route reads its multipart form itself; its fields are Comfy API v2's.
  if (upload)
    upload.requestBody = {
      required: true,
      content: {
        "multipart/form-data": {
          schema: {
            type: "object",
            required: ["file", "content_type", "file_path"],
            properties: {
              file: { type: "string", format: "binary", description: "The bytes" },
              content_type: { type: "string", examples: ["image/png"] },
              file_path: { type: "string", examples: ["photo.png"] },
              expected_hash: { type: "string", description: "Accepted, not checked (no blake3)" },
              tags: { type: "array", items: { type: "string" } },
              expires_in: { type: "integer", minimum: 60, maximum: 604800 },
            },
          },
        },
      },
    };
  const op = doc.paths?.["/v1/jobs/{id}/events"]?.["get"];
  if (!op) return doc;
  const ref = (name: string) => `#/components/schemas/${name}`;
  op["x-sse-events"] = {
    snapshot: {
      description: "The whole job, first on a new stream (or after a gap)",
      schema: ref("Job"),
    },
    status: {
      description: "The job started, or is queued again for a retry",
      schema: ref("JobStatusEvent"),
    },
    progress: {
      description: "Progress of the running job (a complete snapshot)",
      schema: ref("Progress"),
    },
    done: { description: "The whole job, final; the stream ends", schema: ref("Job") },
  };
  return doc;
}

/**
 * The 404 of an unmatched route. A path under `/v1/workflows/{name}` names the workflow that is
 * not served (each workflow has its own routes) without listing the others: the route is
 * unmatched, so the caller may have sent no key.
 */
function notFound(method: string, path: string, served: ReadonlySet<string>): ApiError {
  const workflow = /^\/v1\/workflows\/([^/]+)(\/jobs)?\/?$/.exec(path);
  if (workflow) {
    let name = workflow[1]!;
    try {
      name = decodeURIComponent(name);
    } catch {
      // an undecodable name is shown as sent
    }
    if (!served.has(name))
      return new ApiError(
        404,
        "not_found",
        `No workflow ${JSON.stringify(name)} on this gateway; GET /v1/workflows lists the workflows your key may use.`,
        { workflow: name },
      );
  }
  return new ApiError(404, "not_found", `No route ${method} ${path}`);
}

/**
 * Adds the `multipart/form-data` request body to the submission of each workflow with image
 * parameters: a `params` field (the other parameters as JSON text), one file part per image
 * parameter, and the `webhook` and `priority` fields.
 */
function describeMultipart(
  doc: OpenApiDocument,
  workflows: readonly WorkflowEndpoint[],
  limitBytes: number,
): OpenApiDocument {
  for (const wf of workflows) {
    const images = imageParamNames(wf.paramsJsonSchema);
    const content = doc.paths?.[`/v1/workflows/${wf.name}/jobs`]?.["post"]?.requestBody?.content;
    if (images.length === 0 || !content) continue;
    const required = (wf.paramsJsonSchema["required"] as string[] | undefined) ?? [];
    const requiredImages = images.filter((name) => required.includes(name));
    content["multipart/form-data"] = {
      schema: {
        type: "object",
        properties: {
          params: {
            type: "string",
            contentMediaType: "application/json",
            description: `The other parameters as a JSON object (text); image parameters come as file parts, or as URLs here.`,
          },
          ...Object.fromEntries(
            images.map((name) => [
              name,
              {
                type: "string",
                format: "binary",
                contentMediaType: "image/*",
                description: `The image for parameter "${name}" (at most ${limitBytes} bytes)`,
              },
            ]),
          ),
          webhook: { type: "string", description: "Callback URL, as in the JSON body" },
          priority: { type: "integer", minimum: 1, description: "As in the JSON body" },
        },
        ...(requiredImages.length
          ? {
              description: `Required images: ${requiredImages.join(", ")} (each as a file part, or as a URL in params)`,
            }
          : {}),
      },
    };
  }
  return doc;
}

function makeLogger(option: GatewayOptions["logger"]): Logger {
  if (option === false) return pino({ enabled: false });
  if (typeof option === "string" || option === undefined)
    return pino({ level: option ?? "info", base: { service: "comfyc-gateway" } });
  return option;
}

/** Public routes: the OpenAPI document, health and metrics. */
function registerMetaRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get("/openapi.json", { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
  typed.get(
    "/healthz",
    {
      config: { public: true },
      schema: {
        summary: "Liveness and Redis reachability",
        tags: ["service"],
        response: {
          200: z.object({ ok: z.literal(true), redis: z.string() }),
          503: ErrorEnvelopeSchema,
        },
      },
    },
    async () => {
      try {
        await ctx.redis.ping();
      } catch {
        throw new ApiError(503, "redis_unavailable", "Redis does not answer");
      }
      return { ok: true as const, redis: ctx.redis.status };
    },
  );
  typed.get(
    "/metrics",
    { config: { public: true }, schema: { summary: "Prometheus metrics", tags: ["service"] } },
    async (_request, reply) => {
      reply.header("content-type", ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  );
}

/** Sends any error as an {@link ErrorEnvelope}: never a stack, always the request id. */
function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  log: Logger,
): FastifyReply {
  let api = toApiError(error);
  if (request.url.startsWith("/api/v2/")) api = asV2(api, request.url.startsWith("/api/v2/assets"));
  if (api.status >= 500) {
    request.log.error({ err: error }, "request failed");
  }
  for (const [name, value] of Object.entries(api.headers)) reply.header(name, value);
  void log;
  return reply.code(api.status).send({
    error: {
      code: api.code,
      message: api.message,
      ...(api.details ? { details: api.details } : {}),
      request_id: request.id,
    },
  });
}

/**
 * Comfy API v2 names for the same failures: validation is `invalid_workflow` on the job routes
 * (`invalid_request` on the asset routes), a body too large or of another type is a 422 (the
 * document declares no 413 or 415), an unreachable backend is a generic `upstream_error` 500,
 * no worker yet is `deployment_not_ready` (429).
 */
function asV2(api: ApiError, assets: boolean): ApiError {
  if (api.code === "no_workers")
    return new ApiError(429, "deployment_not_ready", api.message, api.details, api.headers);
  if (api.status >= 500)
    return new ApiError(
      500,
      "upstream_error",
      "The request could not be processed; retry later.",
      undefined,
      api.headers,
    );
  if (api.status === 413 || api.status === 415)
    return new ApiError(422, api.code, api.message, api.details, api.headers);
  if (api.status === 400 || api.code === "invalid_request")
    return new ApiError(
      422,
      assets ? "invalid_request" : "invalid_workflow",
      api.message,
      api.details,
      api.headers,
    );
  return api;
}

/** Maps framework, validation and comfyc errors to what the client sees. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as FastifyError).validationContext;
    const prefix =
      context && context !== "body" ? `${context === "querystring" ? "query" : context}.` : "";
    return invalidRequest(
      error.validation.flatMap((v) => {
        const path = prefix + issuePath(v.instancePath.split("/").slice(1));
        // One problem per unknown field, named by its own path.
        const keys = (v.params as { keys?: unknown } | undefined)?.keys;
        if (v.keyword === "unrecognized_keys" && Array.isArray(keys))
          return keys.map((k) => ({
            path: path ? `${path}.${String(k)}` : String(k),
            message: "unknown field",
          }));
        return [{ path, message: v.message ?? "invalid" }];
      }),
    );
  }
  if (isComfycError(error) && (error.code === "PARAMS_INVALID" || error.code === "PROMPT_INVALID"))
    return invalidRequest([{ path: "", message: error.message }], "invalid_workflow");
  const fe = error as Partial<FastifyError> | undefined;
  switch (fe?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(
        413,
        "payload_too_large",
        "The request body is larger than this gateway accepts.",
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError(415, "unsupported_media_type", "Send the body as application/json.");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError(400, "invalid_json", "The JSON body is empty.");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      // Fastify's parser (secure-json-parse) also refuses valid JSON with a `__proto__` or
      // `constructor.prototype` key, and says no more than this code.
      return new ApiError(
        400,
        "invalid_json",
        'The body is not valid JSON, or it holds a "__proto__" or "constructor": {"prototype"} key, which is refused.',
      );
  }
  if (error instanceof SyntaxError || fe?.statusCode === 400) {
    return new ApiError(
      400,
      "bad_request",
      "The request could not be read (malformed JSON or headers).",
    );
  }
  if (typeof fe?.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500)
    return new ApiError(fe.statusCode, "bad_request", fe.message ?? "Bad request");
  return new ApiError(
    500,
    "internal_error",
    "The gateway failed to handle this request; quote the request id when reporting it.",
  );
}
