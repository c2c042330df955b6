import { Redis, type RedisOptions } from "ioredis";
import { ComfycError } from "../errors.js";

/** How to reach Redis: a `redis://` / `rediss://` URL, or ioredis options. */
export type RedisConnection = string | RedisOptions;

/**
 * An ioredis connection. `blocking: true` sets `maxRetriesPerRequest: null`, which BullMQ
 * requires for workers (their commands wait through a Redis restart instead of failing).
 */
export function connectRedis(redis: RedisConnection, blocking = false): Redis {
  const extra: RedisOptions = blocking ? { maxRetriesPerRequest: null } : {};
  if (typeof redis !== "string") return new Redis({ ...redis, ...extra });
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
  return new Redis(redis, extra);
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
