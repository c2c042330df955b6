import { Redis, type RedisOptions } from "ioredis";
import { ComfycError } from "../errors.js";

/** How to reach Redis: a `redis://` / `rediss://` URL, or ioredis options. */
export type RedisConnection = string | RedisOptions;

/**
 * ioredis's own reconnect delay (`RedisOptions.retryStrategy`'s default in ioredis 5): 50 ms
 * more per attempt, at most 2 s, for ever.
 */
const IOREDIS_RETRY_DELAY = (times: number): number => Math.min(times * 50, 2000);

/** How a connection reaches Redis at start (see {@link connectRedis}). */
export interface ConnectRedisOptions {
  /**
   * `maxRetriesPerRequest: null`, which BullMQ requires for workers (their commands wait through
   * a Redis restart instead of failing). Default false.
   */
  readonly blocking?: boolean;
  /**
   * Reconnects tried before the FIRST connection succeeds (ioredis's `retryStrategy`, 200 ms
   * more per attempt); after that many failures ioredis stops and every pending command fails
   * with "Connection is closed." (what a CLI command reports at once as `SERVER_UNREACHABLE`).
   * Once connected, the connection reconnects as ioredis always does (its own strategy, or the
   * one given), so a Redis restart later is ridden out. Default: no limit at start either.
   */
  readonly startRetries?: number;
  /**
   * ms one connection attempt may take until the first succeeds (ioredis `connectTimeout`,
   * restored to the given one or ioredis's 10 s once connected): a host that drops packets fails
   * as fast as a closed port.
   */
  readonly startConnectTimeoutMs?: number;
}

/**
 * An ioredis connection (see {@link ConnectRedisOptions}; `true` is `{ blocking: true }`).
 * A URL that is not `redis://` or `rediss://` is `USAGE`.
 */
export function connectRedis(
  redis: RedisConnection,
  options: boolean | ConnectRedisOptions = false,
): Redis {
  const o: ConnectRedisOptions = typeof options === "boolean" ? { blocking: options } : options;
  const extra: RedisOptions = o.blocking ? { maxRetriesPerRequest: null } : {};
  if (typeof redis === "string") {
    let url: URL;
    try {
      url = new URL(redis);
    } catch (cause) {
      throw new ComfycError("USAGE", `Not a Redis URL: ${JSON.stringify(redis)}`, REDIS_HINT, {
        cause,
      });
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:")
      throw new ComfycError("USAGE", `Not a Redis URL: ${JSON.stringify(redis)}`, REDIS_HINT);
  }
  const start = o.startRetries;
  let ready = false;
  if (start !== undefined) {
    const later = (typeof redis !== "string" && redis.retryStrategy) || IOREDIS_RETRY_DELAY;
    extra.retryStrategy = (times) =>
      ready ? later(times) : times > start ? null : Math.min(times * 200, 1000);
    if (o.startConnectTimeoutMs !== undefined) extra.connectTimeout = o.startConnectTimeoutMs;
  }
  const client =
    typeof redis === "string" ? new Redis(redis, extra) : new Redis({ ...redis, ...extra });
  if (start !== undefined)
    client.once("ready", () => {
      ready = true;
      // Reconnects after a drop take as long as ioredis lets them (10 s unless given).
      if (o.startConnectTimeoutMs !== undefined)
        client.options.connectTimeout =
          (typeof redis !== "string" && redis.connectTimeout) || 10_000;
    });
  return client;
}

const REDIS_HINT = "Use redis://host:6379 (or rediss:// for TLS), e.g. redis://127.0.0.1:6379/0.";

/** The keys comfyc keeps beside BullMQ's for one queue name. */
export function queueKeys(name: string) {
  const base = `comfyc:${name}`;
  return {
    /** HASH lane id → capability JSON. */
    lanes: `${base}:lanes`,
    /** HASH worker id → worker JSON (lane, server, heartbeat). */
    workers: `${base}:workers`,
    /** HASH job id → lane id. */
    index: `${base}:index`,
    /** Pub/sub channel of cancel requests (message: job id). */
    cancelChannel: `${base}:cancel`,
    /** STRING: a cancel was requested for this job. */
    cancelMark: (id: string) => `${base}:cancel:${id}`,
    /** STRING: the record of a cancelled job taken off the queue before it ran. */
    tombstone: (id: string) => `${base}:cancelled:${id}`,
    /** ZSET of tombstoned job ids by time. */
    tombstones: `${base}:cancelled`,
    /** Reference counts of stored input files (see `input-refs.ts`). */
    inputs: {
      refs: (key: string) => `${base}:input-refs:${key}`,
      deleting: (key: string) => `${base}:input-deleting:${key}`,
      all: `${base}:inputs`,
    },
  };
}

/** BullMQ's queue name for a lane of a comfyc queue. */
export function laneQueueName(name: string, lane: string): string {
  return `${name}.${lane}`;
}

/** BullMQ key prefix comfyc uses. */
export const BULL_PREFIX = "comfyc-bull";

/** Checks a queue name: BullMQ forbids `:`, and keys stay readable. */
export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name))
    throw new ComfycError(
      "USAGE",
      `Queue name ${JSON.stringify(name)} is not allowed`,
      "Use 1-64 letters, digits, '_' or '-'.",
    );
  return name;
}
