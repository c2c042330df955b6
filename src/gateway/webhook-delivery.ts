import { Queue, QueueEvents, Worker, type Job as BullJob } from "bullmq";
import type { Redis } from "ioredis";
import type { Webhook } from "standardwebhooks";
import type { JobRecord } from "../scale/record.js";
import {
  BULL_PREFIX,
  connectRedis,
  laneQueueName,
  queueKeys,
  type RedisConnection,
} from "../scale/redis.js";
import type { GatewayContext } from "./gateway.js";
import { jobView, metaOf, settledRecord } from "./job-view.js";
import { postWebhook, type WebhookAttempt } from "./webhooks.js";
import { jobLinks } from "./workflow-routes.js";

/** Retry policy of webhook deliveries. */
export interface WebhookRetry {
  /** Attempts in all (default 8: about 4 minutes of retries). */
  readonly attempts?: number;
  /** First retry delay in ms, doubled each time, with jitter (default 1000). */
  readonly backoffMs?: number;
  /** Per-attempt timeout in ms (default 10000). */
  readonly timeoutMs?: number;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const ATTEMPTS_TTL_SECONDS = 30 * 86400;

function attemptsKey(ctx: Pick<GatewayContext, "prefix">, jobId: string): string {
  return `${ctx.prefix}:webhook:${jobId}`;
}

/** The delivery attempts recorded for a job's webhook, oldest first. */
export async function readAttempts(
  ctx: Pick<GatewayContext, "prefix" | "redis">,
  jobId: string,
): Promise<WebhookAttempt[]> {
  const items = await ctx.redis.lrange(attemptsKey(ctx, jobId), 0, -1);
  return items.flatMap((text) => {
    try {
      return [JSON.parse(text) as WebhookAttempt];
    } catch {
      return [];
    }
  });
}

/**
 * Delivers each job's webhook once it ends. Every gateway process follows the ending events of
 * every lane (BullMQ's event streams, from a cursor kept in Redis, so events that happen while
 * no gateway runs are delivered after a restart) and adds one delivery job per job to a BullMQ
 * queue of its own (`<queue>-webhooks`, job id `wh-<job id>`: several gateways add it once).
 * Deliveries are signed per Standard Webhooks and retried by BullMQ with exponential backoff;
 * each attempt is recorded on the job (`webhook.attempts` in `GET /v1/jobs/{id}`).
 */
export class WebhookDelivery {
  readonly #ctx: GatewayContext;
  readonly #connection: RedisConnection;
  readonly #signer: Webhook;
  readonly #retry: Required<WebhookRetry>;
  readonly #followed = new Map<string, QueueEvents>();
  readonly #connections: Redis[] = [];
  #deliveries: Queue | undefined;
  #worker: Worker | undefined;
  #lanesTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    ctx: GatewayContext,
    connection: RedisConnection,
    signer: Webhook,
    retry: WebhookRetry = {},
  ) {
    this.#ctx = ctx;
    this.#connection = connection;
    this.#signer = signer;
    this.#retry = {
      attempts: retry.attempts ?? 8,
      backoffMs: retry.backoffMs ?? 1000,
      timeoutMs: retry.timeoutMs ?? 10_000,
    };
  }

  #connect(): Redis {
    const c = connectRedis(this.#connection, true);
    c.on("error", () => undefined);
    this.#connections.push(c);
    return c;
  }

  /** Starts following lanes and delivering. */
  async start(): Promise<void> {
    const name = `${this.#ctx.queue.name}-webhooks`;
    this.#deliveries = new Queue(name, { connection: this.#ctx.redis, prefix: BULL_PREFIX });
    this.#deliveries.on("error", () => undefined);
    this.#worker = new Worker(name, (job) => this.#deliver(job), {
      connection: this.#connect(),
      prefix: BULL_PREFIX,
      concurrency: 16,
    });
    this.#worker.on("error", () => undefined);
    this.#worker.on("failed", (job) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
        this.#ctx.metrics.webhooks.inc({ outcome: "gave_up" });
    });
    await this.#followLanes();
    const tick = () => {
      this.#lanesTimer = setTimeout(() => {
        this.#followLanes()
          .catch((e: unknown) => this.#ctx.log.warn({ err: e }, "cannot read the queue's lanes"))
          .finally(() => {
            if (!this.#closed) tick();
          });
      }, 1000);
      this.#lanesTimer.unref();
    };
    tick();
  }

  /** Follows the ending events of lanes not followed yet. */
  async #followLanes(): Promise<void> {
    const ids = await this.#ctx.redis.hkeys(queueKeys(this.#ctx.queue.name).lanes);
    for (const lane of ids) {
      if (this.#followed.has(lane) || this.#closed) continue;
      const cursorKey = `${this.#ctx.prefix}:webhook-cursor:${this.#ctx.queue.name}:${lane}`;
      // From where the last gateway stopped; a lane never followed is read from its start
      // (deliveries are deduplicated by job id).
      const cursor = (await this.#ctx.redis.get(cursorKey)) ?? "0-0";
      const events = new QueueEvents(laneQueueName(this.#ctx.queue.name, lane), {
        connection: this.#connect(),
        prefix: BULL_PREFIX,
        lastEventId: cursor,
      });
      events.on("error", () => undefined);
      this.#followed.set(lane, events);
      let chain = Promise.resolve();
      const onEnd =
        (event: string) =>
        ({ jobId }: { jobId: string }, id: string) => {
          chain = chain
            .then(async () => {
              const record = await settledRecord(this.#ctx.queue, jobId, event === "removed");
              if (record && TERMINAL.has(record.state) && metaOf(record).webhook)
                await this.#deliveries!.add(
                  "webhook",
                  { jobId },
                  {
                    jobId: `wh-${jobId}`,
                    attempts: this.#retry.attempts,
                    backoff: { type: "exponential", delay: this.#retry.backoffMs, jitter: 0.5 },
                    removeOnComplete: { age: 7 * 86400 },
                    removeOnFail: { age: 30 * 86400 },
                  },
                );
              await this.#ctx.redis.set(cursorKey, id);
            })
            .catch((e: unknown) =>
              this.#ctx.log.warn({ err: e, job: jobId }, "cannot schedule a webhook delivery"),
            );
        };
      for (const name of ["completed", "failed", "removed"] as const) events.on(name, onEnd(name));
    }
  }

  async #deliver(job: BullJob<{ jobId: string }>): Promise<void> {
    const record: JobRecord | undefined = await this.#ctx.queue.getJob(job.data.jobId);
    const url = record ? metaOf(record).webhook : undefined;
    if (!record || !url) return;
    const attemptNo = job.attemptsStarted || job.attemptsMade + 1;
    const refused = this.#ctx.webhookPolicy.problem(url);
    const attempt = refused
      ? {
          attempt: attemptNo,
          at: new Date().toISOString(),
          status: null,
          error: refused,
          duration_ms: 0,
        }
      : await postWebhook(
          url,
          {
            id: `msg_${record.id}`,
            type: `job.${record.state}`,
            data: await jobView(record, this.#ctx.storage, [], jobLinks(record.id)),
          },
          this.#signer,
          attemptNo,
          { timeoutMs: this.#retry.timeoutMs },
        );
    const key = attemptsKey(this.#ctx, record.id);
    await this.#ctx.redis
      .multi()
      .rpush(key, JSON.stringify(attempt))
      .expire(key, ATTEMPTS_TTL_SECONDS)
      .exec();
    this.#ctx.metrics.webhooks.inc({ outcome: attempt.error ? "failed" : "delivered" });
    this.#ctx.log.info(
      {
        job: record.id,
        webhook_attempt: attempt.attempt,
        status: attempt.status,
        error: attempt.error,
      },
      attempt.error ? "webhook delivery failed" : "webhook delivered",
    );
    if (attempt.error) throw new Error(`webhook delivery failed: ${attempt.error}`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#lanesTimer) clearTimeout(this.#lanesTimer);
    await this.#worker?.close();
    await Promise.all([...this.#followed.values()].map((e) => e.close().catch(() => undefined)));
    this.#followed.clear();
    await this.#deliveries?.close();
    for (const c of this.#connections.splice(0)) c.disconnect();
  }
}
