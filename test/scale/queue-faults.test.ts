import { afterEach, describe, expect, test } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Cluster, imageGraph, nextPhase } from "./cluster.js";
import { LocalStorage } from "../../src/scale/local-storage.js";
import { tempDir } from "../helpers.js";
import type { JobRecord } from "../../src/scale/record.js";
import { until } from "../waits.js";

/** Every job ran to success, each once, and no prompt ran twice on any server. */
function expectExactlyOnce(c: Cluster, records: readonly JobRecord[]): void {
  for (const r of records) expect(r.state, `${r.id}: ${JSON.stringify(r.error)}`).toBe("succeeded");
  const executions = c.executions();
  for (const r of records) expect(executions.get(r.promptId!), r.id).toBe(1);
  for (const [id, n] of executions) expect(n, id).toBe(1);
}

describe("durable queue under faults (real Redis, test servers)", { timeout: 120_000 }, () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  test("a worker killed with SIGKILL mid-job: another takes the job over after its lock expires and collects the run, not rerun", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const b = await c.addServer();
    a.script.node("ImageInvert", { durationMs: 1500 });
    const child = await c.spawnWorker(a);
    const { id } = await c.queue.enqueue(imageGraph(30));
    // Killed once ComfyUI runs the prompt: the worker's "running" line. The server is frozen
    // from then until the worker is gone, so the run cannot end before the kill.
    const runningLine = await c.phase(child, "running", id);
    a.script.freeze();
    const running = (await c.queue.getJob(id))!;
    expect(running.state).toBe("running");
    expect(running.promptId).toBe(runningLine.promptId);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    a.script.thaw();
    await c.addWorker(b);
    const record = await c.queue.waitFor(id);
    expect(record.promptId).toBe(running.promptId);
    expect(record.instance).toBe(a.url);
    expect(record.recovered).toBe(true);
    expect(record.outputs).toHaveLength(1);
    expect((await c.stored(record.outputs![0]!.key)).length).toBeGreaterThan(0);
    expectExactlyOnce(c, [record]);
  });

  test("output storage that cannot be written: retried, then failed with IO_ERROR naming it; the prompt ran once", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const root = join(tempDir("comfyc-storage-"), "a-file");
    writeFileSync(root, "not a folder");
    await c.addWorker(a, { storage: new LocalStorage(root) });
    const { id } = await c.queue.enqueue(imageGraph(33), { attempts: 3, backoffMs: 10 });
    const record = await c.queue.waitFor(id);
    expect(record.state).toBe("failed");
    expect(record.attempts).toBe(3);
    expect(record.error?.code).toBe("IO_ERROR");
    expect(record.error?.message).toContain(`to ${pathToFileURL(root).href}`);
    expect(record.error?.hint).toMatch(/writable/);
    // Later attempts collected the run the first one started: no second execution.
    expect(a.executed).toEqual([record.promptId]);
  });

  test("ComfyUI restarted mid-job: the lost job is detected and run again, once", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const worker = await c.addWorker(a, { healthIntervalMs: 60_000 });
    // Long enough that the run cannot end before the restart, which abandons it.
    a.script.node("ImageInvert", { durationMs: 60_000 });
    const running = nextPhase(worker, "running");
    const { id } = await c.queue.enqueue(imageGraph(31), { backoffMs: 100 });
    const first = await running;
    await a.script.restart({ downtimeMs: 200 });
    a.script.clearNodes();
    const record = await c.queue.waitFor(id);
    expect(record.attempts).toBeGreaterThanOrEqual(2);
    expect(record.promptId).not.toBe(first["promptId"]);
    expectExactlyOnce(c, [record]);
  });

  test("an instance stopped for good: its job moves to another instance", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const b = await c.addServer();
    a.script.node("ImageInvert", { durationMs: 60_000 });
    const wa = await c.addWorker(a);
    const running = nextPhase(wa, "running");
    const { id } = await c.queue.enqueue(imageGraph(32), { backoffMs: 100 });
    await running;
    await c.addWorker(b);
    await a.close();
    const record = await c.queue.waitFor(id);
    expect(record.instance).toBe(b.url);
    expectExactlyOnce(c, [record]);
    expect(wa.instanceUp).toBe(false);
  });

  test("an instance that comes back with another model: its worker reads the schema again and serves the new lane", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const worker = await c.addWorker(a);
    const firstLane = worker.lane;
    const port = a.port;
    await a.close();
    // The worker's health probes (every 200 ms here) bring these states about; no event says so.
    await until(() => !worker.instanceUp);
    const back = await c.addServer({ port, models: { checkpoints: ["arrived.safetensors"] } });
    await until(() => worker.instanceUp && worker.lane !== firstLane);
    const { id } = await c.queue.enqueue({
      "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "arrived.safetensors" } },
      "2": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 2 } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "arrived" } },
    });
    const record = await c.queue.waitFor(id);
    expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.lane).toBe(worker.lane);
    expect(back.executed).toContain(record.promptId);
    expectExactlyOnce(c, [record]);
  });

  test("Redis killed and restarted with persistence: acknowledged jobs are still there and run", async () => {
    c = await Cluster.start({ persistence: true });
    const a = await c.addServer();
    const worker = await c.addWorker(a);
    const done = await c.queue.waitFor((await c.queue.enqueue(imageGraph(33))).id);
    // Queued while no worker runs, then Redis crashes.
    await worker.close({ graceMs: 0 });
    const queued = [];
    for (let i = 0; i < 3; i++) queued.push((await c.queue.enqueue(imageGraph(40 + i))).id);
    await c.redis.restart({ kill: true });
    for (const id of queued) expect((await c.queue.getJob(id))?.state).toBe("queued");
    expect((await c.queue.getJob(done.id))?.state).toBe("succeeded");
    await c.addWorker(a);
    const records = await Promise.all(queued.map((id) => c!.queue.waitFor(id)));
    // And jobs enqueued after the restart run too.
    records.push(await c.queue.waitFor((await c.queue.enqueue(imageGraph(50))).id));
    expectExactlyOnce(c, [done, ...records]);
  });

  test("500 jobs over three instances, one lane only one instance has: every job ends once, where it can run", async () => {
    c = await Cluster.start();
    const special = await c.addServer({ models: { checkpoints: ["special.safetensors"] } });
    const plain = [await c.addServer(), await c.addServer()];
    for (const s of [special, ...plain]) await c.addWorker(s, { concurrency: 2 });
    const needsSpecial = {
      "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "special.safetensors" } },
      "2": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "special" } },
    };
    const ids: { id: string; special: boolean }[] = [];
    for (let i = 0; i < 500; i++) {
      const isSpecial = i % 10 === 0;
      const { id } = isSpecial
        ? await c.queue.enqueue({
            ...needsSpecial,
            "3": {
              ...needsSpecial["3"],
              inputs: { ...needsSpecial["3"].inputs, filename_prefix: `special${i}` },
            },
          })
        : await c.queue.enqueue(imageGraph(8, `flood/${i}`));
      ids.push({ id, special: isSpecial });
    }
    const records = await Promise.all(ids.map(({ id }) => c!.queue.waitFor(id)));
    expectExactlyOnce(c, records);
    records.forEach((r, i) => {
      expect(r.outputs, JSON.stringify(r)).toHaveLength(1);
      if (ids[i]!.special) expect(r.instance).toBe(special.url);
    });
    const used = new Set(records.filter((_, i) => !ids[i]!.special).map((r) => r.instance));
    expect(used.size).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
