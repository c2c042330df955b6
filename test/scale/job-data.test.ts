import { afterEach, describe, expect, test } from "vitest";
import { Cluster, imageGraph } from "./cluster.js";
import { parseJobData } from "../../src/scale/record.js";
import { ComfyQueue } from "../../src/scale/queue.js";
import { queueKeys } from "../../src/scale/redis.js";
import { isComfycError } from "../../src/errors.js";

/** Job data as a producer other than enqueue() (or a hand edit in Redis) might leave it. */
function malformed(lane: string): [string, unknown, RegExp][] {
  return [
    ["prompt not JSON", { v: 1, lane, prompt: "{not json" }, /prompt: not JSON/],
    ["prompt a number", { v: 1, lane, prompt: 42 }, /prompt: .*expected string/i],
    ["prompt an array", { v: 1, lane, prompt: "[1,2]" }, /prompt: not an API-format prompt/],
    ["inputs a string", { v: 1, lane, prompt: "{}", inputs: "x" }, /inputs: /],
    [
      "input key escaping storage",
      {
        v: 1,
        lane,
        prompt: "{}",
        inputs: [{ name: "../../etc/passwd", key: "inputs/x", sha256: "0", size: 1, storage: "" }],
      },
      /inputs\.0\.name: not a comfyc input name/,
    ],
    [
      "timeouts not numbers",
      { v: 1, lane, prompt: "{}", timeouts: { runMs: "abc" } },
      /timeouts\.runMs/,
    ],
    [
      "run record with a bad server",
      {
        v: 1,
        lane,
        prompt: "{}",
        run: { promptId: 5, server: "nope", worker: "w", attempt: 1, startedAt: 0 },
      },
      /run\.promptId[\s\S]*run\.server/,
    ],
    ["a newer format", { v: 2, lane, prompt: "{}" }, /v: /],
    ["null", null, /\(data\): /],
    ["a string", "a string", /\(data\): /],
  ];
}

describe(
  "queued job data is checked where it is read (real Redis, test server)",
  { timeout: 120_000 },
  () => {
    let c: Cluster | undefined;
    afterEach(async () => {
      await c?.close();
      c = undefined;
    });

    test("malformed data fails its job at once with JOB_DATA_INVALID naming the field; the worker goes on", async () => {
      c = await Cluster.start();
      const server = await c.addServer();
      await c.addWorker(server);
      const { id: first, lane } = await c.queue.enqueue(imageGraph(8));
      expect((await c.queue.waitFor(first)).state).toBe("succeeded");
      const keys = queueKeys(c.queue.name);
      const cases = malformed(lane);
      for (const [i, [, data]] of cases.entries()) {
        // As enqueue() does: the index first, then the job (with retries left to waste).
        await c.queue.redis.hset(keys.index, `bad${i}`, lane);
        await c.queue.laneQueue(lane).add("bad", data as never, { jobId: `bad${i}`, attempts: 3 });
      }
      for (const [i, [what, , expected]] of cases.entries()) {
        const record = await c.queue.waitFor(`bad${i}`);
        expect(record.state, what).toBe("failed");
        expect(record.error?.code, what).toBe("JOB_DATA_INVALID");
        expect(record.error?.message, what).toMatch(expected);
        expect(record.error?.message, what).toContain(`Job bad${i}'s data`);
        expect(record.attempts, `${what}: not retried`).toBe(1);
        expect(record.lane).toBe(lane);
        // Nothing from malformed data is reported as where the job ran.
        expect(record.instance, what).toBeUndefined();
      }
      expect(server.executed).toHaveLength(1);
      const listed = await c.queue.listJobs({ states: ["failed"] });
      expect(listed.map((r) => r.id).sort()).toEqual(cases.map((_, i) => `bad${i}`).sort());
      // The worker still runs good jobs.
      const { id: after } = await c.queue.enqueue(imageGraph(9));
      expect((await c.queue.waitFor(after)).state).toBe("succeeded");
    });

    test("a queued job with unreadable data still lists, shows and cancels", async () => {
      c = await Cluster.start();
      const server = await c.addServer();
      const worker = await c.addWorker(server);
      const { lane } = await c.queue.enqueue(imageGraph(8));
      await worker.close({ graceMs: 0 });
      const keys = queueKeys(c.queue.name);
      await c.queue.redis.hset(keys.index, "nulled", lane);
      await c.queue.laneQueue(lane).add("bad", null as never, { jobId: "nulled" });
      const record = await c.queue.getJob("nulled");
      expect(record).toMatchObject({ id: "nulled", state: "queued", lane });
      expect((await c.queue.listJobs({ states: ["queued"] })).map((r) => r.id)).toContain("nulled");
      expect((await c.queue.cancel("nulled")).id).toBe("nulled");
      expect((await c.queue.getJob("nulled"))?.state).toBe("cancelled");
    });
  },
);

describe("enqueue checks what it will store", { timeout: 60_000 }, () => {
  test("a timeout no Node timer can keep is a USAGE error, nothing queued", async () => {
    const c = await Cluster.start();
    try {
      await expect(c.queue.enqueue(imageGraph(8), { timeouts: { runMs: 1e12 } })).rejects.toThrow(
        /timeouts\.runMs must be a number of milliseconds from 0 to 2147483647/,
      );
      expect(await c.queue.listJobs()).toEqual([]);
      await expect(c.queue.enqueue(imageGraph(8), { backoffMs: -1 })).rejects.toThrow(/backoffMs/);
      await expect(c.queue.waitFor("x", { timeoutMs: 1e12 })).rejects.toThrow(/timeoutMs/);
    } finally {
      await c.close();
    }
  });
});

describe("ComfyQueue.close()", { timeout: 60_000 }, () => {
  test("a pending waitFor ends at once with a USAGE error saying the job goes on (it rejected after up to 5 s with ioredis's untyped 'Connection is closed.')", async () => {
    const c = await Cluster.start();
    try {
      const server = await c.addServer();
      const worker = await c.addWorker(server);
      await c.queue.enqueue(imageGraph(8));
      await worker.close({ graceMs: 0 });
      // No worker now: the job stays queued.
      const { id } = await c.queue.enqueue(imageGraph(9));
      const other = new ComfyQueue({ redis: c.redis.url });
      const waiting = other.waitFor(id).then(
        () => undefined,
        (e: unknown) => e,
      );
      await other.getJob(id);
      await other.close();
      const error = await waiting;
      expect(isComfycError(error, "USAGE")).toBe(true);
      expect((error as Error).message).toContain(`waiting for job ${id}; the job goes on`);
      expect((await c.queue.getJob(id))?.state).toBe("queued");
    } finally {
      await c.close();
    }
  });
});

describe("parseJobData", () => {
  test("names every wrong field at once and is a typed error", () => {
    let error: unknown;
    try {
      parseJobData({ v: 1, lane: 3, prompt: "{}", fresh: "yes" }, "j1");
    } catch (e) {
      error = e;
    }
    expect(isComfycError(error, "JOB_DATA_INVALID")).toBe(true);
    expect((error as Error).message).toMatch(/lane: [\s\S]*fresh: /);
    expect((error as { hint: string }).hint).toMatch(/enqueue/);
  });

  test("keeps fields it does not know, and returns the prompt parsed losslessly", () => {
    const { data, prompt } = parseJobData(
      {
        v: 1,
        lane: "l",
        prompt: '{"1":{"class_type":"X","inputs":{"seed":18446744073709551615}}}',
        future: 1,
      },
      "j2",
    );
    expect((data as unknown as Record<string, unknown>)["future"]).toBe(1);
    expect((prompt["1"] as { inputs: { seed: unknown } }).inputs.seed).toBe(18446744073709551615n);
  });
});
