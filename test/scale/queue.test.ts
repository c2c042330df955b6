import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ComfyQueue } from "../../src/scale/queue.js";
import { Cluster, imageGraph, nextPhase } from "./cluster.js";
import { errorOf } from "./helpers.js";

describe("durable queue on a real Redis", { timeout: 60_000 }, () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    await c.addWorker(a);
  });
  afterAll(async () => c?.close());

  test("a job runs once and its outputs are copied to storage under <job id>/<node id>/<file>", async () => {
    const { id } = await c.queue.enqueue(imageGraph(16), { requestId: "req-1" });
    const record = await c.queue.waitFor(id, { timeoutMs: 20_000 });
    expect(record.state).toBe("succeeded");
    expect(record.workflow).toBe("invert");
    expect(record.requestId).toBe("req-1");
    expect(record.instance).toBe(c.servers[0]!.url);
    expect(record.outputs).toHaveLength(1);
    const out = record.outputs![0]!;
    expect(out.key).toMatch(new RegExp(`^${id}/3/img_00001_\\.png$`));
    expect((await c.stored(out.key)).subarray(1, 4).toString()).toBe("PNG");
    expect(c.executions().get(record.promptId!)).toBe(1);
  });

  test("a prompt the instance rejects fails without retry, with ComfyUI's node_errors", async () => {
    const prompt = {
      "1": { class_type: "SaveImage", inputs: { images: ["9", 0], filename_prefix: "x" } },
    };
    const { id } = await c.queue.enqueue(prompt);
    const record = await c.queue.waitFor(id, { timeoutMs: 20_000 });
    expect(record.state).toBe("failed");
    expect(record.attempts).toBe(1);
    expect(record.error?.code).toBe("PROMPT_REJECTED");
    expect(record.error?.details?.["node_errors"]).toBeDefined();
  });

  test("a prompt using a class no lane has fails at enqueue with NO_CAPABLE_SERVER", async () => {
    const e = await errorOf(c.queue.enqueue({ "1": { class_type: "NoSuchNode", inputs: {} } }));
    expect(e.code).toBe("NO_CAPABLE_SERVER");
    expect(e.message).toContain('"NoSuchNode"');
  });

  test("waiters that start at once share one event reader per lane (one blocking connection, not one each)", async () => {
    const admin = new Redis(c.redis.url);
    const producer = new ComfyQueue({ redis: c.redis.url, name: c.queue.name });
    try {
      const clients = async () =>
        String(await admin.client("LIST"))
          .trim()
          .split("\n");
      const before = await clients();
      const jobs = await Promise.all(
        Array.from({ length: 6 }, (_, i) => producer.enqueue(imageGraph(40 + i))),
      );
      const records = await Promise.all(jobs.map(({ id }) => producer.waitFor(id)));
      expect(records.map((r) => r.state)).toEqual(Array(6).fill("succeeded"));
      // The producer's own connection and one blocking event reader: not one per waiter.
      expect((await clients()).length - before.length).toBe(2);
    } finally {
      await producer.close();
      admin.disconnect();
    }
  });

  test("getJob of an unknown id is undefined; cancel of one is NOT_FOUND", async () => {
    expect(await c.queue.getJob("nope")).toBeUndefined();
    expect((await errorOf(c.queue.cancel("nope"))).code).toBe("NOT_FOUND");
  });

  test("cancel: a queued job is taken off the queue, a running one is interrupted on the instance", async () => {
    const server = c.servers[0]!;
    const worker = c.workers[0]!;
    // The test server checks for an interrupt between nodes: the next node does not run.
    server.script.node("ImageInvert", { durationMs: 3000 });
    try {
      const running = nextPhase(worker, "running");
      const a = await c.queue.enqueue(imageGraph(20));
      const b = await c.queue.enqueue(imageGraph(21));
      const { promptId } = await running;
      const cancelledB = await c.queue.cancel(b.id);
      expect(cancelledB.state).toBe("cancelled");
      expect(cancelledB.queueState).toBe("removed");
      expect((await c.queue.getJob(b.id))?.state).toBe("cancelled");
      await c.queue.cancel(a.id);
      const recordA = await c.queue.waitFor(a.id, { timeoutMs: 20_000 });
      expect(recordA.state).toBe("cancelled");
      expect(recordA.error?.code).toBe("CANCELLED");
      expect(recordA.attempts).toBe(1);
      // Interrupted on the server: its history records the interrupt, and SaveImage never ran.
      const history = await fetch(`${server.url}/history/${String(promptId)}`).then((r) =>
        r.json(),
      );
      expect(JSON.stringify(history)).toContain("execution_interrupted");
      const listed = await c.queue.listJobs({ states: ["cancelled"] });
      expect(listed.map((r) => r.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    } finally {
      server.script.clearNodes();
    }
  });
});
