import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { ApiError } from "./api-error.js";

/** How long an `Idempotency-Key` is remembered (24 h, as Comfy API v2 and Stripe keep them). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** The longest `Idempotency-Key` accepted. */
export const IDEMPOTENCY_KEY_MAX = 255;

interface Claim {
  /** sha256 of the request (route + body). */
  readonly hash: string;
  /** The job id reserved for it. */
  readonly job: string;
  /** False while the first request is still submitting. */
  readonly done: boolean;
}

/** How long a claim stays while its request is still submitting (a crashed gateway frees it). */
const PENDING_TTL_SECONDS = 60;

/** What a claim found. */
export type ClaimResult =
  | { readonly kind: "new"; readonly jobId: string }
  | { readonly kind: "existing"; readonly jobId: string };

/**
 * `Idempotency-Key` bookkeeping in Redis, scoped per API key. Two rules:
 * - `replay` (the `/v1` routes): the same key with the same request returns the job it created;
 *   with another request it is a 409.
 * - `single-use` (Comfy API v2's `POST /api/v2/jobs`): any second use is rejected with 422
 *   `idempotency_key_reuse`; the key is released when submission definitively fails.
 *
 * The job id of a keyed request is derived from the scope and key ({@link jobIdFor}), so even a
 * retry after a gateway crash mid-submission names the same job, and the queue (which keeps one
 * job per id) never runs it twice.
 */
export class IdempotencyStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** sha256 of what identifies a request: its route and its JSON body. */
  static requestHash(route: string, body: unknown): string {
    return createHash("sha256")
      .update(route)
      .update("\0")
      .update(JSON.stringify(body) ?? "")
      .digest("hex");
  }

  /** The job id for a keyed request: a UUID-shaped digest of the scope and the key. */
  static jobIdFor(scope: string, key: string): string {
    const h = createHash("sha256").update(scope).update("\0").update(key).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  /** Validates a presented header value; throws a 400 {@link ApiError} when unusable. */
  static check(key: string): string {
    if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ApiError(
        400,
        "invalid_idempotency_key",
        `Idempotency-Key must be 1–${IDEMPOTENCY_KEY_MAX} visible ASCII characters (a UUID is best).`,
      );
    }
    return key;
  }

  #redisKey(scope: string, key: string): string {
    const digest = createHash("sha256").update(key).digest("hex");
    return `${this.#prefix}:idem:${scope}:${digest}`;
  }

  /**
   * Claims `key` for a request with hash `hash`. `new`: submit the job under `jobId`, then call
   * {@link complete} (or {@link release} when it definitively failed). `existing`: the job
   * already made for the same request (`replay` only). Otherwise throws the 409/422
   * {@link ApiError} to answer.
   */
  async claim(
    scope: string,
    key: string,
    hash: string,
    mode: "replay" | "single-use",
  ): Promise<ClaimResult> {
    const redisKey = this.#redisKey(scope, key);
    const jobId = IdempotencyStore.jobIdFor(scope, key);
    const fresh: Claim = { hash, job: jobId, done: false };
    const ttl = mode === "single-use" ? IDEMPOTENCY_TTL_SECONDS : PENDING_TTL_SECONDS;
    const set = await this.#redis.set(redisKey, JSON.stringify(fresh), "EX", ttl, "NX");
    if (set === "OK") return { kind: "new", jobId };
    if (mode === "single-use") {
      throw new ApiError(
        422,
        "idempotency_key_reuse",
        "This Idempotency-Key was already used; it is single-use. Poll or list your jobs to find the job it created.",
      );
    }
    const text = await this.#redis.get(redisKey);
    // Expired between SET and GET: claim again.
    if (text === null) return this.claim(scope, key, hash, mode);
    const claim = JSON.parse(text) as Claim;
    if (claim.hash !== hash) {
      throw new ApiError(
        409,
        "idempotency_conflict",
        "This Idempotency-Key was used with a different request body; use a new key for a new request.",
      );
    }
    if (!claim.done) {
      throw new ApiError(
        409,
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still being submitted; retry in a moment.",
        undefined,
        { "retry-after": "1" },
      );
    }
    return { kind: "existing", jobId: claim.job };
  }

  /** Records that the job of a claimed key was created; the key is kept for 24 h. */
  async complete(scope: string, key: string, hash: string, jobId: string): Promise<void> {
    const done: Claim = { hash, job: jobId, done: true };
    await this.#redis.set(
      this.#redisKey(scope, key),
      JSON.stringify(done),
      "EX",
      IDEMPOTENCY_TTL_SECONDS,
    );
  }

  /** Frees a claimed key after a submission that definitively created no job. */
  async release(scope: string, key: string): Promise<void> {
    await this.#redis.del(this.#redisKey(scope, key));
  }
}
