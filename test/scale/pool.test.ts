import { afterEach, describe, expect, test } from "vitest";
import type { JobResult } from "../../src/runtime/job.js";
import { ComfyPool } from "../../src/scale/pool.js";
import { startTestServer, type TestServer, type TestServerOptions } from "../../src/testing/app.js";
import { imageGraph } from "./cluster.js";
import { errorOf } from "./helpers.js";
import { until } from "../waits.js";

const FAST_POOL = { healthIntervalMs: 100, maxProbeDelayMs: 500 } as const;

describe("ComfyPool: many instances in one process, no Redis", { timeout: 120_000 }, () => {
  let servers: TestServer[] = [];
  let pool: ComfyPool | undefined;
  const start = async (...options: TestServerOptions[]) => {
    for (const o of options) servers.push(await startTestServer(o));
    return servers;
  };
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    servers = [];
  });

  /** Which server ran a prompt. */
  const ranOn = (promptId: string) => servers.find((s) => s.executed.includes(promptId))?.url;

  /** Prompt ids that ran on any server, with how often. */
  const executions = () => {
    const counts = new Map<string, number>();
    for (const s of servers) for (const id of s.executed) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  };
  const expectOnce = (results: readonly JobResult[]) => {
    const counts = executions();
    for (const r of results) expect(counts.get(r.promptId), r.promptId).toBe(1);
    for (const [id, n] of counts) expect(n, id).toBe(1);
  };

  test("200 jobs spread over three instances, each run once, a prompt only one instance can run goes there", async () => {
    const [special, a, b] = await start(
      { models: { checkpoints: ["special.safetensors"] } },
      {},
      {},
    );
    pool = new ComfyPool({
      servers: [special!.url, a!.url, b!.url],
      maxJobsPerServer: 2,
      ...FAST_POOL,
    });
    const needsSpecial = (i: number) => ({
      "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "special.safetensors" } },
      "2": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: i } },
      "3": {
        class_type: "SaveImage",
        inputs: { images: ["2", 0], filename_prefix: `special${i}` },
      },
    });
    const jobs = Array.from({ length: 200 }, (_, i) =>
      i % 10 === 0 ? pool!.submit(needsSpecial(i)) : pool!.submit(imageGraph(8, `pool/${i}`)),
    );
    const results = await Promise.all(jobs.map((j) => j.result()));
    expectOnce(results);
    jobs.forEach((j, i) => {
      if (i % 10 === 0) expect(j.server).toBe(special!.url);
    });
    const used = new Set(jobs.map((j) => j.server));
    expect(used.size).toBe(3);
  });

  test("a prompt no instance can run fails at once, naming what is missing where", async () => {
    const [a, b] = await start({}, { models: { checkpoints: ["b.safetensors"] } });
    pool = new ComfyPool({ servers: [a!.url, b!.url], ...FAST_POOL });
    const error = await errorOf(
      pool.run({
        "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "nowhere.safetensors" } },
        "2": { class_type: "NoSuchNode", inputs: {} },
      }),
    );
    expect(error.code).toBe("NO_CAPABLE_SERVER");
    expect(error.message).toContain(a!.url);
    expect(error.message).toContain(b!.url);
    expect(error.message).toContain('"NoSuchNode"');
    expect(error.message).toContain('"nowhere.safetensors"');
  });

  test("an instance restarted mid-job: the lost job is resubmitted and ends once", async () => {
    const [a] = await start({});
    // Long enough that the run cannot end before the restart, which abandons it.
    a!.script.node("ImageInvert", { durationMs: 60_000 });
    pool = new ComfyPool({ servers: [a!.url], ...FAST_POOL });
    const job = pool.submit(imageGraph(9));
    await new Promise<void>((resolve) => job.on("started", () => resolve()));
    const first = job.promptId;
    await a!.script.restart({ downtimeMs: 200 });
    a!.script.clearNodes();
    const result = await job.result();
    expect(job.submissions).toBe(2);
    expect(result.promptId).not.toBe(first);
    expectOnce([result]);
  });

  test("an instance stopped for good: its jobs move to the others and it is taken out", async () => {
    const [a, b] = await start({}, {});
    a!.script.node("ImageInvert", { durationMs: 60_000 });
    pool = new ComfyPool({ servers: [a!.url, b!.url], maxJobsPerServer: 1, ...FAST_POOL });
    await pool.ready();
    const onA = pool.submit(imageGraph(10));
    await new Promise<void>((resolve) => onA.on("started", () => resolve()));
    expect(onA.server).toBe(a!.url);
    await a!.close();
    const result = await onA.result();
    expect(onA.server).toBe(b!.url);
    expectOnce([result]);
    expect(pool.servers.find((s) => s.url === a!.url)?.up).toBe(false);
  });

  test("an instance that comes back is used again, with its schema read again", async () => {
    const [a, b] = await start({}, {});
    pool = new ComfyPool({ servers: [a!.url, b!.url], maxJobsPerServer: 1, ...FAST_POOL });
    await pool.ready();
    const port = a!.port;
    await a!.close();
    // A state the health probes (every 100 ms here) bring about; no event says so.
    await until(() => pool!.servers.find((s) => s.url === a!.url)?.up === false);
    // Meanwhile everything runs on b.
    const during = await pool.run(imageGraph(13));
    expect(ranOn(during.promptId)).toBe(b!.url);
    // Back on the same port, restarted with a checkpoint it did not have.
    const back = await startTestServer({
      port,
      models: { checkpoints: ["arrived.safetensors"] },
    });
    servers.push(back);
    await until(() => pool!.servers.find((s) => s.url === a!.url)?.up === true);
    const needsNew = pool.submit({
      "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "arrived.safetensors" } },
      "2": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "arrived" } },
    });
    const result = await needsNew.result();
    expect(needsNew.server).toBe(a!.url);
    expect(back.executed).toContain(result.promptId);
    // And ordinary jobs are spread over both again.
    const jobs = Array.from({ length: 6 }, (_, i) => pool!.submit(imageGraph(8, `back/${i}`)));
    await Promise.all(jobs.map((j) => j.result()));
    expect(new Set(jobs.map((j) => j.server))).toEqual(new Set([a!.url, b!.url]));
  });

  test("cancel ends a job once, as cancelled, wherever it is", async () => {
    const [a] = await start({});
    a!.script.node("ImageInvert", { durationMs: 2000 });
    pool = new ComfyPool({ servers: [a!.url], ...FAST_POOL });
    const running = pool.submit(imageGraph(11));
    const waiting = pool.submit(imageGraph(12));
    await new Promise<void>((resolve) => running.on("started", () => resolve()));
    await waiting.cancel();
    await running.cancel();
    expect((await errorOf(waiting.result())).code).toBe("CANCELLED");
    expect((await errorOf(running.result())).code).toBe("CANCELLED");
    expect(a!.executed).not.toContain(waiting.promptId);
  });
});
