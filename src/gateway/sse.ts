import type { FastifyReply, FastifyRequest } from "fastify";
import type { JobProgressRecord, JobRecord } from "../scale/record.js";
import { STREAM_ID, type LaneEvent, type SubscriptionStart } from "./events.js";
import type { GatewayContext } from "./gateway.js";
import { settledRecord } from "./job-view.js";

/** One Server-Sent Event. */
export interface SseFrame {
  readonly event: string;
  readonly data: unknown;
}

/** How one API flavour renders a job's events. */
export interface SseRenderer {
  /** Send `id:` lines (`/v1`: resumable with `Last-Event-ID`; v2 streams carry no ids). */
  readonly withIds: boolean;
  /** The current state, sent on connect (and after a gap in a resumed stream). */
  snapshot(record: JobRecord): Promise<SseFrame[]>;
  /** The frames of a terminal record, after which the stream ends. */
  final(record: JobRecord): Promise<SseFrame[]>;
  /** A status change (`running`, or `queued` again before a retry). */
  status(status: "queued" | "running", record: JobRecord | undefined): SseFrame;
  /** A progress update from the worker. */
  progress(progress: JobProgressRecord): SseFrame;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const ENDING = new Set(["completed", "failed", "removed", "retries-exhausted"]);

function frameText(frame: SseFrame, id: string | undefined): string {
  const data = JSON.stringify(frame.data);
  return `${id !== undefined ? `id: ${id}\n` : ""}event: ${frame.event}\ndata: ${data}\n\n`;
}

/**
 * Streams a job's events as Server-Sent Events until it ends or the client leaves: the current
 * state first, then live progress and status changes, then the final state. With `/v1`'s
 * ids, a client reconnecting with `Last-Event-ID` gets what it missed (or, when the event
 * stream no longer holds it, the current state). Polling `GET …/jobs/{id}` stays the source of
 * truth; this is the live view of the same record.
 */
export async function streamJob(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  record: JobRecord,
  render: SseRenderer,
): Promise<void> {
  const header = request.headers["last-event-id"];
  const after =
    render.withIds && typeof header === "string" && STREAM_ID.test(header.trim())
      ? header.trim()
      : undefined;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
    "x-request-id": request.id,
  });
  let ended = false;
  let chain = Promise.resolve();
  const write = (frames: readonly SseFrame[], id: string | undefined) => {
    if (ended) return;
    for (const f of frames) res.write(frameText(f, render.withIds ? id : undefined));
  };
  const heartbeat = setInterval(() => {
    if (!ended) res.write(": keep-alive\n\n");
  }, 15_000);
  let subscription: { close(): void } | undefined;
  let untrack = () => {};
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    subscription?.close();
    untrack();
    res.end();
  };
  res.on("close", end);
  untrack = ctx.events.track(end);

  const terminal = async (r: JobRecord, id: string | undefined) => {
    write(await render.final(r), id);
    end();
  };

  const onEvent = (e: LaneEvent) => {
    chain = chain
      .then(async () => {
        if (ended) return;
        if (e.event === "progress") {
          const p = e.data as JobProgressRecord | undefined;
          if (p && typeof p === "object" && typeof p.nodesTotal === "number")
            write([render.progress(p)], e.id);
          return;
        }
        if (e.event === "active") return write([render.status("running", undefined)], e.id);
        if (e.event === "waiting" || e.event === "delayed")
          return write([render.status("queued", undefined)], e.id);
        if (ENDING.has(e.event)) {
          const r = await settledRecord(ctx.queue, record.id, e.event === "removed");
          if (!r) return end();
          if (TERMINAL.has(r.state)) return terminal(r, e.id);
          // A failed attempt that will be retried.
          write([render.status(r.state === "running" ? "running" : "queued", r)], e.id);
        }
      })
      .catch((err: unknown) => {
        request.log.warn({ err, job: record.id }, "event stream failed");
        end();
      });
  };

  // A new stream's first frame is the snapshot. It is queued on the chain before subscribing,
  // so live events the subscription delivers while it starts (a worker's progress arriving
  // between the stream's read and the end of `subscribe`) are written after it, never before.
  let opened: (start: SubscriptionStart) => void = () => undefined;
  if (after === undefined) {
    const started = new Promise<SubscriptionStart>((resolve) => (opened = resolve));
    chain = started.then(async (start) => {
      if (ended) return;
      const current = (await ctx.queue.getJob(record.id)) ?? record;
      if (TERMINAL.has(current.state)) return terminal(current, start.lastId);
      write(await render.snapshot(current), start.lastId);
    });
  }
  try {
    const sub = await ctx.events.subscribe(record.lane, record.id, after, onEvent);
    subscription = sub;
    if (ended) return sub.close();
    if (after === undefined) return opened(sub);
    // A resumed stream: the replayed events are queued; then the state as of now. A stream
    // whose job ended meanwhile ends with it; one whose missed events are gone from the
    // event stream (`gap`) gets the current state instead.
    chain = chain.then(async () => {
      if (ended) return;
      const current = (await ctx.queue.getJob(record.id)) ?? record;
      if (TERMINAL.has(current.state)) return terminal(current, sub.lastId);
      if (sub.gap) write(await render.snapshot(current), sub.lastId);
    });
  } catch (err) {
    request.log.warn({ err, job: record.id }, "cannot follow job events");
    end();
  }
}
