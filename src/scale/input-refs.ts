import type { Redis } from "ioredis";
import pRetry from "p-retry";
import { ComfycError } from "../errors.js";
import type { Storage } from "./storage.js";

/**
 * Lifecycle of stored input files (`inputs/<sha256>.<ext>`, see `stageUploads`): each object is
 * kept while an unfinished job refers to it and deleted when the last one ends. Objects are
 * content-addressed and shared, so references are counted by content hash: one Redis sorted set
 * per object holds the ids of the jobs that need it (scored by when the reference was taken).
 *
 * - A producer takes a job's references *before* it looks for or writes the object.
 * - A worker releases them once the job has ended for good (succeeded, or failed with no
 *   attempt left); `cancel()` releases a queued job's. The release that empties the set marks
 *   the object as being deleted (atomically, in the same script), deletes it, then clears the
 *   mark. A producer that finds the mark waits for it to clear and writes the object again, so
 *   a deletion never removes a file a newer job counts on.
 * - {@link sweepInputs} (`comfyc jobs clean`) repairs what a crash left: references of jobs
 *   that ended or were removed without releasing (a worker killed between finishing and
 *   releasing, a job failed as stalled, a record trimmed by BullMQ), and unreferenced objects
 *   whose deletion was interrupted.
 */
export interface InputRefKeys {
  /** ZSET: job id → ms when it took its reference to the object `key`. */
  readonly refs: (key: string) => string;
  /** STRING: the object `key` is being deleted (value: a token; expires by itself). */
  readonly deleting: (key: string) => string;
  /** SET of every input key that has references or awaits deletion. */
  readonly all: string;
}

/**
 * The holder that pins an object for good: inputs a caller stored itself and passed to
 * `enqueue({ inputs })` (the gateway's uploads, Comfy API v2 assets) belong to that caller, who
 * may reference them again long after any job ended; comfyc never deletes them. (`~` is not
 * allowed in job ids.)
 */
export const PINNED = "~pinned";

/** How long a deletion mark lives if its deleter dies, in ms. */
export const DELETING_TTL_MS = 5 * 60_000;

/** References of jobs Redis does not know are kept this long before a sweep drops them, in ms. */
export const UNKNOWN_JOB_GRACE_MS = 10 * 60_000;

// KEYS: refs, all, deleting. ARGV: job id, token, ttl. Returns 1 when this release emptied
// the set and the caller must delete the object (the mark is set), else 0.
const RELEASE = `
redis.call("ZREM", KEYS[1], ARGV[1])
if redis.call("ZCARD", KEYS[1]) == 0 and redis.call("EXISTS", KEYS[3]) == 0 then
  redis.call("SET", KEYS[3], ARGV[2], "PX", ARGV[3])
  return 1
end
return 0`;

// KEYS: refs, all, deleting. ARGV: token. Clears our mark; forgets the key when nobody took a
// reference meanwhile (one who did writes the object again).
const DELETED = `
if redis.call("GET", KEYS[3]) == ARGV[1] then redis.call("DEL", KEYS[3]) end
if redis.call("ZCARD", KEYS[1]) == 0 then redis.call("SREM", KEYS[2], ARGV[2]) end
return 0`;

/**
 * Takes job `jobId`'s reference to the input object `key`, then waits while a deletion of that
 * object is under way (so the caller's stat-or-put that follows sees it gone and writes it).
 * Resolves to whether a deletion was waited for.
 */
export async function referenceInput(
  redis: Redis,
  keys: InputRefKeys,
  jobId: string,
  key: string,
): Promise<boolean> {
  const replies = await redis
    .multi()
    .zadd(keys.refs(key), Date.now(), jobId)
    .sadd(keys.all, key)
    .exists(keys.deleting(key))
    .exec();
  const deleting = replies?.[2]?.[1] === 1;
  if (!deleting) return false;
  // Rare (a job with the same file ended in the last moment): a delete takes milliseconds.
  await pRetry(
    async () => {
      if ((await redis.exists(keys.deleting(key))) === 1)
        throw new ComfycError(
          "TIMEOUT",
          `Input ${key} is still being deleted after ${DELETING_TTL_MS} ms`,
          "Enqueue the job again.",
        );
    },
    { retries: 40, minTimeout: 5, maxTimeout: 1000, maxRetryTime: DELETING_TTL_MS },
  );
  return true;
}

/**
 * Releases job `jobId`'s references to `inputKeys`; each object no other job refers to any
 * more is deleted from `storage` (when given; otherwise left for {@link sweepInputs}). Returns
 * the keys deleted. Storage errors are not thrown: the object stays listed and a sweep deletes
 * it later.
 */
export async function releaseInputs(
  redis: Redis,
  keys: InputRefKeys,
  jobId: string,
  inputKeys: readonly string[],
  storage: Storage | undefined,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const key of inputKeys) {
    const token = `${jobId}:${Date.now()}`;
    const rk = [keys.refs(key), keys.all, keys.deleting(key)];
    if (!storage) {
      await redis.zrem(keys.refs(key), jobId);
      continue;
    }
    const mine = await redis.eval(RELEASE, 3, ...rk, jobId, token, DELETING_TTL_MS);
    if (mine !== 1) continue;
    try {
      await storage.delete(key);
      deleted.push(key);
    } catch {
      // Left listed with no reference: the next sweep deletes it.
      await redis.del(keys.deleting(key));
      continue;
    }
    await redis.eval(DELETED, 3, ...rk, token, key);
  }
  return deleted;
}

/** What {@link sweepInputs} did. */
export interface SweepReport {
  /** References dropped: jobs that had ended or were gone. */
  readonly released: number;
  /** Objects deleted from storage. */
  readonly deleted: readonly string[];
  /** Objects still needed by unfinished jobs. */
  readonly kept: number;
}

/**
 * Repairs the input lifecycle after crashes: drops references of jobs that are finished
 * (`isLive(jobId)` false) or unknown to Redis for longer than `unknownGraceMs` (an enqueue in
 * progress takes its references before its job exists), then deletes every object left with
 * no reference.
 */
export async function sweepInputs(
  redis: Redis,
  keys: InputRefKeys,
  storage: Storage,
  isLive: (jobId: string) => Promise<boolean | undefined>,
  options: { readonly unknownGraceMs?: number } = {},
): Promise<SweepReport> {
  const grace = options.unknownGraceMs ?? UNKNOWN_JOB_GRACE_MS;
  let released = 0;
  let kept = 0;
  const deleted: string[] = [];
  for (const key of await redis.smembers(keys.all)) {
    const refs = await redis.zrange(keys.refs(key), 0, -1, "WITHSCORES");
    const dead: string[] = [];
    for (let i = 0; i < refs.length; i += 2) {
      const jobId = refs[i]!;
      const live = await isLive(jobId);
      // undefined: Redis has no such job. Young references belong to enqueues in progress.
      if (live === false || (live === undefined && Date.now() - Number(refs[i + 1]) >= grace))
        dead.push(jobId);
    }
    const remaining = refs.length / 2 - dead.length;
    // Dropping the last one deletes the object; with none at all, release() with no job does.
    const toRelease = dead.length > 0 ? dead : remaining === 0 ? [""] : [];
    for (const jobId of toRelease) {
      const gone = await releaseInputs(redis, keys, jobId, [key], storage);
      deleted.push(...gone);
    }
    released += dead.length;
    if (remaining > 0) kept++;
  }
  return { released, deleted, kept };
}
