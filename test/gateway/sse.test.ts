/**
 * The gateway's event streams start with the job's state. A worker's progress that reaches the
 * gateway's event reader while a new stream is still subscribing used to be written before the
 * snapshot (`progress` first, seen once in e2e.test.ts). The race is made certain here with
 * real components: while the stream subscribes, a real progress event for the job is written to
 * the lane's BullMQ event stream in Redis, and the subscription finishes only once the reader
 * has delivered it.
 */
import { Job } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { JobEvents, type LaneEvent } from "../../src/gateway/events.js";
import type { JobProgressRecord } from "../../src/scale/record.js";
import { Cluster } from "../scale/cluster.js";
import { GatewayContract, readSse, startGatewayCluster, type GatewayCluster } from "./helpers.js";
import { v2Contract } from "../comfy-api-v2-openapi.js";

let cluster: Cluster;
let base: string;
let key: string;
const contract = new GatewayContract();

let started: GatewayCluster | undefined;

beforeAll(async () => {
  started = await startGatewayCluster({ keys: [{ name: "sse" }], contract });
  ({ cluster, base } = started);
  [key] = started.keys as [string];
}, 60_000);

afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of cluster.servers) s.script.clearNodes();
  expect(await contract.problems()).toEqual([]);
});

afterAll(async () => {
  await started?.close();
});

const auth = () => ({ authorization: `Bearer ${key}` });

async function submit(width: number): Promise<string> {
  const res = await fetch(`${base}/v1/workflows/invert/jobs`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ params: { width } }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/**
 * Makes the next subscription to `jobId`'s events finish only after a real progress event for
 * it (written to Redis now, as a worker's `updateProgress` writes it) has been delivered.
 */
function progressWhileSubscribing(jobId: string): void {
  const subscribe = JobEvents.prototype.subscribe;
  vi.spyOn(JobEvents.prototype, "subscribe").mockImplementation(async function (
    this: JobEvents,
    lane: string,
    id: string,
    after: string | undefined,
    deliver: (e: LaneEvent) => void,
  ) {
    let delivered!: () => void;
    const progressed = new Promise<void>((resolve) => (delivered = resolve));
    const sub = await subscribe.call(this, lane, id, after, (e) => {
      deliver(e);
      if (e.event === "progress") delivered();
    });
    if (id === jobId) {
      const job = await Job.fromId(cluster.queue.laneQueue(lane), id);
      const progress: JobProgressRecord = { nodesDone: 1, nodesTotal: 3, node: "2" };
      await job!.updateProgress(progress as unknown as object);
      await progressed;
    }
    return sub;
  });
}

describe("event streams", { timeout: 60_000 }, () => {
  test("/v1: the snapshot comes first even when progress arrives while the stream subscribes", async () => {
    // One worker, busy with a slow job: the second job waits in the queue.
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 1500 });
    const busy = await submit(16);
    const waiting = await submit(24);
    progressWhileSubscribing(waiting);
    const { events } = await readSse(
      `${base}/v1/jobs/${waiting}/events`,
      auth(),
      (e) => e.event === "progress",
    );
    expect(events.map((e) => e.event)).toEqual(["snapshot", "progress"]);
    expect(events[0]!.data).toMatchObject({ id: waiting, status: "queued" });
    expect(contract.eventProblems("/v1/jobs/{id}/events", events)).toEqual([]);
    for (const id of [waiting, busy])
      await fetch(`${base}/v1/jobs/${id}/cancel`, { method: "POST", headers: auth() });
  });

  test("v2: the status snapshot comes first even when progress arrives while the stream subscribes", async () => {
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 1500 });
    const busy = await submit(32);
    const waiting = await submit(40);
    progressWhileSubscribing(waiting);
    const { events } = await readSse(
      `${base}/api/v2/jobs/${waiting}/events`,
      auth(),
      (e) => e.event === "progress",
    );
    expect(events.map((e) => e.event)).toEqual(["status", "progress"]);
    expect(events[0]!.data).toMatchObject({ status: "queued" });
    expect(
      events.flatMap((e) => v2Contract.eventProblems("/api/v2/jobs/{id}/events", e.event, e.data)),
    ).toEqual([]);
    for (const id of [waiting, busy])
      await fetch(`${base}/v1/jobs/${id}/cancel`, { method: "POST", headers: auth() });
  });
});
