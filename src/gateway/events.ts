import { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { ComfyQueue } from "../scale/queue.js";
import { BULL_PREFIX, connectRedis, laneQueueName, type RedisConnection } from "../scale/redis.js";

/**
 * One entry of a lane's BullMQ event stream about one job. `id` is the stream entry id
 * (`<ms>-<seq>`), increasing: it is the SSE event id, so a client resumes with
 * `Last-Event-ID`.
 */
export interface LaneEvent {
  readonly id: string;
  /** BullMQ's event name: `active`, `progress`, `completed`, `failed`, `removed`, `waiting`, `delayed`, … */
  readonly event: string;
  readonly jobId: string;
  /** `progress` payload (the worker's progress record). */
  readonly data?: unknown;
}

/** Events that change what a client sees of a job. */
const EVENTS = [
  "active",
  "progress",
  "completed",
  "failed",
  "removed",
  "waiting",
  "delayed",
  "retries-exhausted",
] as const;

/** Compares stream ids `<ms>-<seq>` numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as = "0"] = a.split("-");
  const [bm, bs = "0"] = b.split("-");
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/** A stream id as a client may send it back (`Last-Event-ID`). */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** A subscription: `close()` stops delivery. */
export interface Subscription {
  close(): void;
}

/** Where a subscription started. */
export interface SubscriptionStart {
  /** The newest entry of the lane's stream when the subscription started (or `after`). */
  readonly lastId: string;
  /**
   * True when `after` is older than the oldest entry the stream still holds (it is trimmed),
   * so some events are gone: read the job's current state instead.
   */
  readonly gap: boolean;
}

/**
 * Job events for Server-Sent Events, read from the BullMQ event stream of each lane (one
 * blocking reader per lane and gateway, shared by every open stream). A subscription replays
 * the entries after a given id, then delivers live ones, in stream order and without
 * duplicates, so a reconnecting client misses nothing the stream still holds.
 */
export class JobEvents {
  readonly #queue: ComfyQueue;
  readonly #connection: RedisConnection;
  readonly #readers = new Map<string, Promise<QueueEvents>>();
  readonly #connections: Redis[] = [];
  readonly #listeners = new Map<string, Set<(e: LaneEvent) => void>>();
  readonly #open = new Set<() => void>();
  #closed = false;

  constructor(queue: ComfyQueue, connection: RedisConnection) {
    this.#queue = queue;
    this.#connection = connection;
  }

  /** The Redis key of a lane's event stream. */
  streamKey(lane: string): string {
    return (
      this.#queue.laneQueue(lane).keys.events ??
      `${BULL_PREFIX}:${laneQueueName(this.#queue.name, lane)}:events`
    );
  }

  async #reader(lane: string): Promise<QueueEvents> {
    let reader = this.#readers.get(lane);
    if (!reader) {
      reader = (async () => {
        // Its own connection: it blocks on XREAD.
        const connection: Redis = connectRedis(this.#connection, true);
        connection.on("error", () => undefined);
        this.#connections.push(connection);
        const events = new QueueEvents(laneQueueName(this.#queue.name, lane), {
          connection,
          prefix: BULL_PREFIX,
        });
        events.on("error", () => undefined);
        events.setMaxListeners(0);
        for (const name of EVENTS) {
          events.on(name as "active", (args: { jobId: string; data?: unknown }, id: string) => {
            const e: LaneEvent = {
              id,
              event: name,
              jobId: args.jobId,
              ...(args.data !== undefined ? { data: args.data } : {}),
            };
            for (const listener of this.#listeners.get(lane) ?? []) listener(e);
          });
        }
        await events.waitUntilReady();
        return events;
      })();
      this.#readers.set(lane, reader);
    }
    return reader;
  }

  /**
   * Delivers `jobId`'s events on `lane` after the stream id `after` (replayed first), or only
   * new ones when `after` is undefined. Resolves once replay is done and live delivery runs.
   */
  async subscribe(
    lane: string,
    jobId: string,
    after: string | undefined,
    deliver: (e: LaneEvent) => void,
  ): Promise<Subscription & SubscriptionStart> {
    let last = after ?? "0-0";
    let replaying = true;
    const buffered: LaneEvent[] = [];
    const emit = (e: LaneEvent) => {
      if (compareStreamIds(e.id, last) <= 0) return;
      last = e.id;
      deliver(e);
    };
    const live = (e: LaneEvent) => {
      if (e.jobId !== jobId) return;
      if (replaying) buffered.push(e);
      else emit(e);
    };
    let set = this.#listeners.get(lane);
    if (!set) this.#listeners.set(lane, (set = new Set()));
    set.add(live);
    const close = () => set.delete(live);
    try {
      await this.#reader(lane);
      const redis = this.#queue.redis;
      const key = this.streamKey(lane);
      let gap = false;
      if (after === undefined) {
        const newest = (await redis.xrevrange(key, "+", "-", "COUNT", 1))[0];
        last = newest?.[0] ?? "0-0";
      } else {
        const oldest = (await redis.xrange(key, "-", "+", "COUNT", 1))[0];
        gap = oldest !== undefined && compareStreamIds(oldest[0], after) > 0 && after !== "0-0";
        // Entries after `after`, a page at a time (XRANGE with an exclusive start).
        let from = `(${after}`;
        for (;;) {
          const page = await redis.xrange(key, from, "+", "COUNT", 500);
          for (const [id, fields] of page) {
            const e = parseEntry(id, fields);
            if (e && e.jobId === jobId) emit(e);
          }
          if (page.length < 500) break;
          from = `(${page[page.length - 1]![0]}`;
        }
      }
      const start = { lastId: last, gap };
      replaying = false;
      for (const e of buffered.splice(0)) emit(e);
      return { ...start, close };
    } catch (e) {
      close();
      throw e;
    }
  }

  /** Registers a stream to end when the gateway closes; returns the unregister function. */
  track(end: () => void): () => void {
    if (this.#closed) {
      end();
      return () => undefined;
    }
    this.#open.add(end);
    return () => this.#open.delete(end);
  }

  /** Ends every open stream (synchronously, so a server close does not wait on them). */
  endStreams(): void {
    this.#closed = true;
    for (const end of [...this.#open]) end();
    this.#open.clear();
  }

  /** Ends every open stream and stops the readers and their connections. */
  async close(): Promise<void> {
    this.endStreams();
    const readers = [...this.#readers.values()];
    this.#readers.clear();
    await Promise.all(readers.map((r) => r.then((q) => q.close()).catch(() => undefined)));
    for (const c of this.#connections.splice(0)) c.disconnect();
  }
}

/** A raw stream entry (`[field, value, …]`) as a {@link LaneEvent}, or undefined. */
function parseEntry(id: string, fields: string[]): LaneEvent | undefined {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
  const event = o["event"];
  const jobId = o["jobId"];
  if (!event || !jobId || !(EVENTS as readonly string[]).includes(event)) return undefined;
  let data: unknown;
  if (event === "progress" && o["data"] !== undefined) {
    try {
      data = JSON.parse(o["data"]);
    } catch {
      data = undefined;
    }
  }
  return { id, event, jobId, ...(data !== undefined ? { data } : {}) };
}
