import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { ApiError } from "./api-error.js";
import { formatRate, type Rate } from "./keys.js";

/**
 * Per-key submission rate limits, counted in Redis (rate-limiter-flexible's atomic Lua
 * counters), so every gateway process in front of the same Redis shares one budget per key.
 */
export class RateLimits {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #limiters = new Map<string, RateLimiterRedis>();

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /**
   * Counts one request by `keyId` against `rate`; throws a 429 {@link ApiError} with
   * `Retry-After` (seconds, rounded up) when the window's budget is spent.
   */
  async consume(keyId: string, rate: Rate): Promise<void> {
    const limiter = this.#limiter(rate);
    try {
      await limiter.consume(keyId);
    } catch (e) {
      if (e instanceof RateLimiterRes) {
        const seconds = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
        throw new ApiError(
          429,
          "rate_limited",
          `This API key is limited to ${formatRate(rate)} submissions; retry in ${seconds} s.`,
          { limit: formatRate(rate), retry_after_seconds: seconds },
          { "retry-after": String(seconds) },
        );
      }
      throw e;
    }
  }

  #limiter(rate: Rate): RateLimiterRedis {
    const id = `${rate.points}/${rate.durationSec}`;
    let limiter = this.#limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.#redis,
        points: rate.points,
        duration: rate.durationSec,
        // One counter per key and rate: changing a key's rate starts a fresh window.
        keyPrefix: `${this.#prefix}:rl:${id}`,
      });
      this.#limiters.set(id, limiter);
    }
    return limiter;
  }
}
