import { randomUUID } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import { isComfycError } from "../errors.js";
import type { Missing } from "../scale/capabilities.js";
import type { StagedInput } from "../scale/inputs.js";
import { ApiError, invalidRequest } from "./api-error.js";
import type { Caller } from "./auth.js";
import type { GatewayContext } from "./gateway.js";
import { IdempotencyStore } from "./idempotency.js";

/** One submission, from either the typed `/v1` routes or Comfy API v2. */
export interface SubmitInput {
  /** A builder workflow (compiled by the queue with `params`), or an API-format prompt. */
  readonly source: AnyWorkflow | Readonly<Record<string, unknown>>;
  /** Raw parameters of a parameterized workflow. */
  readonly params?: Record<string, unknown>;
  /**
   * Stores the request's images (image parameters) and returns the parameters naming them with
   * the inputs the job carries. Runs after the `Idempotency-Key` check, so a replay fetches and
   * stores nothing; an `ApiError` it throws releases the key.
   */
  readonly stageInputs?: () => Promise<{
    params: Record<string, unknown>;
    inputs: readonly StagedInput[];
  }>;
  /** Input files the job carries (v2 assets its graph references), when not staged here. */
  readonly inputs?: readonly StagedInput[];
  /** Workflow name for metrics and the job record (`api` for a raw graph). */
  readonly workflow: string;
  readonly priority?: number;
  readonly webhook?: string;
  /** Per-prompt ComfyUI `extra_data` (v2's `api_key_comfy_org`). */
  readonly extraData?: Readonly<Record<string, unknown>>;
  /** `replay` for `/v1`, `single-use` for v2 (see {@link IdempotencyStore}). */
  readonly idempotency: "replay" | "single-use";
  /** What identifies the request for `Idempotency-Key` comparison: route and body. */
  readonly route: string;
  readonly body: unknown;
}

/** The job a submission created or, for a replayed `Idempotency-Key`, the one it had created. */
export interface Submitted {
  readonly id: string;
  readonly replayed: boolean;
}

/** What the gateway keeps in a job's `meta` (BullMQ job data). */
export interface GatewayJobMeta {
  /** The API key id that submitted it: only that key may read or cancel it. */
  readonly owner: string;
  /** The key's name, for logs. */
  readonly key: string;
  /** Allow-listed callback URL. */
  readonly webhook?: string;
}

/**
 * The submission path shared by every route: `Idempotency-Key`, compile and enqueue (the
 * queue compiles and routes by capability), metrics. Rate limits and queue-full checks run
 * before, so a refused request never claims a key.
 */
export async function submitJob(
  ctx: GatewayContext,
  request: FastifyRequest,
  caller: Caller,
  input: SubmitInput,
): Promise<Submitted> {
  const header = request.headers["idempotency-key"];
  const key = typeof header === "string" ? IdempotencyStore.check(header) : undefined;
  const hash = key ? IdempotencyStore.requestHash(input.route, input.body) : "";
  let id: string = randomUUID();
  if (key) {
    const claim = await ctx.idempotency.claim(caller.keyId, key, hash, input.idempotency);
    if (claim.kind === "existing") return { id: claim.jobId, replayed: true };
    id = claim.jobId;
  }
  let params = input.params;
  let inputs: readonly StagedInput[] = input.inputs ?? [];
  if (input.stageInputs) {
    try {
      ({ params, inputs } = await input.stageInputs());
    } catch (e) {
      if (key) await ctx.idempotency.release(caller.keyId, key);
      throw e;
    }
  }
  const meta: GatewayJobMeta = {
    owner: caller.keyId,
    key: caller.name,
    ...(input.webhook ? { webhook: input.webhook } : {}),
  };
  try {
    await ctx.queue.enqueue(input.source, {
      jobId: id,
      workflow: input.workflow,
      requestId: request.id,
      meta: meta as unknown as Record<string, unknown>,
      compile: { validate: ctx.validate },
      ...(params ? { params } : {}),
      ...(inputs.length ? { inputs } : {}),
      ...(input.priority !== undefined ? { priority: input.priority } : {}),
      ...(input.extraData ? { extraData: input.extraData } : {}),
    });
  } catch (e) {
    const refused = refusal(e);
    if (refused) {
      // Definitively no job: the key may be used again.
      if (key) await ctx.idempotency.release(caller.keyId, key);
      throw refused;
    }
    // The outcome is unknown (the job may exist): keep the key claimed. A `/v1` retry after the
    // pending claim expires resubmits the same job id, which the queue does not duplicate.
    request.log.error({ err: e, job: id }, "enqueue failed");
    throw new ApiError(
      503,
      "queue_unavailable",
      "The job queue could not be reached; retry later.",
      undefined,
      { "retry-after": "5" },
    );
  }
  if (key) await ctx.idempotency.complete(caller.keyId, key, hash, id);
  ctx.metrics.jobsSubmitted.inc({ workflow: input.workflow, key: caller.name });
  request.log.info({ job: id, workflow: input.workflow, key: caller.name }, "job queued");
  return { id, replayed: false };
}

/** The answer for an enqueue that definitively created no job, or `undefined`. */
function refusal(e: unknown): ApiError | undefined {
  if (isComfycError(e, "PARAMS_INVALID")) {
    const issues = (e as unknown as { issues: { path: string; message: string }[] }).issues;
    return invalidRequest(
      issues.map((i) => ({ path: i.path ? `params.${i.path}` : "params", message: i.message })),
    );
  }
  if (isComfycError(e, "PROMPT_INVALID")) {
    const err = e as unknown as { error?: unknown; nodeErrors?: unknown };
    return new ApiError(422, "invalid_workflow", e.message, {
      ...(err.error ? { error: err.error } : {}),
      node_errors: err.nodeErrors ?? {},
    });
  }
  if (isComfycError(e, "NO_CAPABLE_SERVER")) {
    const lanes =
      (e as unknown as { missing?: readonly { missing: readonly Missing[] }[] }).missing ?? [];
    // No lane at all: no worker ever registered. Otherwise the graph needs what no instance has.
    if (lanes.length === 0)
      return new ApiError(
        503,
        "no_workers",
        "No worker serves this queue yet; retry later.",
        undefined,
        {
          "retry-after": "10",
        },
      );
    // The instances' addresses are internal: name only what is missing, where the closest
    // instance group lacks the least.
    const closest = [...lanes].sort((a, b) => a.missing.length - b.missing.length)[0]!.missing;
    const items = closest.map((m) =>
      m.kind === "class"
        ? `node class ${JSON.stringify(m.classType)} is not installed`
        : `${m.classType}.${m.input} = ${JSON.stringify(m.value)} is not available (model file or option)`,
    );
    return new ApiError(
      422,
      "invalid_workflow",
      `No ComfyUI instance behind this gateway can run the graph: ${items.join("; ")}`,
      { missing: closest },
    );
  }
  if (isComfycError(e, "USAGE") || isComfycError(e, "WORKFLOW_INVALID"))
    return new ApiError(422, "invalid_workflow", e.message);
  return undefined;
}

/**
 * Jobs waiting to start across the queue's lanes, read from Redis at most every 250 ms so the
 * queue-full check costs no round trip on most submissions.
 */
export class QueueDepth {
  #value = 0;
  #readAt = 0;
  #reading: Promise<number> | undefined;

  constructor(private readonly ctx: Pick<GatewayContext, "queue">) {}

  async waiting(): Promise<number> {
    if (performance.now() - this.#readAt < 250) return this.#value;
    this.#reading ??= this.ctx.queue
      .counts()
      .then((lanes) => {
        this.#value = lanes.reduce((n, c) => n + c.waiting + c.prioritized + c.delayed, 0);
        this.#readAt = performance.now();
        return this.#value;
      })
      .finally(() => (this.#reading = undefined));
    return this.#reading;
  }
}
