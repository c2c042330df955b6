/**
 * Scale-out figures: throughput with 1, 2 and 4 test-server instances whose jobs take ~200 ms
 * (pool and queue, with scaling efficiency), the latency the queue adds over a direct
 * `ComfyClient.run` on a zero-work graph, and a worker's memory after 10,000 jobs.
 *
 * `npm run bench -- scale` (needs Debian's `redis-server`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { workflow } from "../src/builder/workflow.js";
import { ComfyClient } from "../src/runtime/client.js";
import { ComfyPool } from "../src/scale/pool.js";
import { ComfyQueue } from "../src/scale/queue.js";
import { ComfyWorker } from "../src/scale/worker.js";
import { LocalStorage } from "../src/scale/local-storage.js";
import { startRedisServer } from "../src/testing/redis.js";
import { startTestServer, type TestServer } from "../src/testing/app.js";
import { EmptyImage, ImageInvert, SaveImage } from "../generated/core.js";
import { comfycService, pct, spawnComfyc, zeroWork } from "./util.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const WORK_MS = 200;
const JOBS_PER_INSTANCE = 20;

function imageJob(i: number) {
  const wf = workflow({ name: "bench" });
  const image = wf.add(EmptyImage, { width: 8, height: 8, batch_size: 1, color: i });
  wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: `bench/${i}` });
  return wf.compile();
}

async function servers(n: number): Promise<TestServer[]> {
  const out: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startTestServer();
    s.script.node("ImageInvert", { durationMs: WORK_MS });
    out.push(s);
  }
  return out;
}

const redis = await startRedisServer();
const storage = new LocalStorage(mkdtempSync(join(tmpdir(), "comfyc-bench-")));
let seed = 0;

// ---- Throughput --------------------------------------------------------------------------
const rows: { n: number; pool: number; queue: number }[] = [];
for (const n of [1, 2, 4]) {
  const jobs = JOBS_PER_INSTANCE * n;
  const ss = await servers(n);
  const pool = new ComfyPool({ servers: ss.map((s) => s.url) });
  await pool.ready();
  await Promise.all(Array.from({ length: n }, () => pool.run(imageJob(seed++)))); // warm-up
  let t = performance.now();
  await Promise.all(Array.from({ length: jobs }, () => pool.run(imageJob(seed++))));
  const poolRate = jobs / ((performance.now() - t) / 1000);
  await pool.close();

  const queueName = `bench${n}`;
  const queue = new ComfyQueue({ redis: redis.url, name: queueName });
  const workers = ss.map(
    (s) =>
      new ComfyWorker({
        redis: redis.url,
        server: s.url,
        queue: queueName,
        storage,
        logger: false,
      }),
  );
  await Promise.all(workers.map((w) => w.start()));
  const warm = await Promise.all(Array.from({ length: n }, () => queue.enqueue(imageJob(seed++))));
  await Promise.all(warm.map(({ id }) => queue.waitFor(id)));
  t = performance.now();
  const ids = await Promise.all(
    Array.from({ length: jobs }, () => queue.enqueue(imageJob(seed++))),
  );
  await Promise.all(ids.map(({ id }) => queue.waitFor(id)));
  const queueRate = jobs / ((performance.now() - t) / 1000);
  await Promise.all(workers.map((w) => w.close({ graceMs: 0 })));
  await queue.close();
  await Promise.all(ss.map((s) => s.close()));
  rows.push({ n, pool: poolRate, queue: queueRate });
}
const base = rows[0]!;
console.log(
  `throughput, ${WORK_MS} ms simulated work per job, ${JOBS_PER_INSTANCE} jobs per instance:`,
);
console.log("  instances | pool jobs/s (× one) | queue jobs/s (× one)");
for (const r of rows)
  console.log(
    `  ${String(r.n).padStart(9)} | ${r.pool.toFixed(2).padStart(6)} (${(r.pool / base.pool).toFixed(2)}×, efficiency ${((r.pool / base.pool / r.n) * 100).toFixed(0)}%) | ${r.queue.toFixed(2).padStart(6)} (${(r.queue / base.queue).toFixed(2)}×, efficiency ${((r.queue / base.queue / r.n) * 100).toFixed(0)}%)`,
  );

// ---- Added latency -----------------------------------------------------------------------
const LATENCY_JOBS = 200;
const remote = await comfycService(["serve", "--port", "0"]);
const client = new ComfyClient({ url: remote.url });
const queue = new ComfyQueue({ redis: redis.url, name: "latency" });
const worker = new ComfyWorker({
  redis: redis.url,
  server: remote.url,
  queue: "latency",
  storage,
  logger: false,
});
await worker.start();
const direct: number[] = [];
const queued: number[] = [];
for (let i = 0; i < 20; i++) {
  await client.run(zeroWork(seed++));
  await queue.waitFor((await queue.enqueue(zeroWork(seed++))).id);
}
// Interleaved, so drift in the machine's load favours neither path.
for (let i = 0; i < LATENCY_JOBS; i++) {
  let t = performance.now();
  await client.run(zeroWork(seed++));
  direct.push(performance.now() - t);
  t = performance.now();
  await queue.waitFor((await queue.enqueue(zeroWork(seed++))).id);
  queued.push(performance.now() - t);
}
console.log(
  `added latency, zero-work graph (PrimitiveInt → PreviewAny), ${LATENCY_JOBS} jobs each, interleaved:`,
);
console.log(
  `  direct ComfyClient.run: median ${pct(direct, 0.5).toFixed(2)} ms, p95 ${pct(direct, 0.95).toFixed(2)} ms`,
);
console.log(
  `  enqueue → worker → record: median ${pct(queued, 0.5).toFixed(2)} ms, p95 ${pct(queued, 0.95).toFixed(2)} ms`,
);
console.log(
  `  added by the queue: median ${(pct(queued, 0.5) - pct(direct, 0.5)).toFixed(2)} ms, p95 ${(pct(queued, 0.95) - pct(direct, 0.95)).toFixed(2)} ms`,
);
await worker.close({ graceMs: 0 });
await client.close();
await queue.close();

// ---- Worker memory -----------------------------------------------------------------------
const MEMORY_JOBS = 10_000;
const child = spawnComfyc(
  [
    "worker",
    "--redis",
    redis.url,
    "--server",
    remote.url,
    "--queue",
    "memory",
    "--storage",
    storage.root,
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
await new Promise<void>((resolve) => {
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
    if (err.includes("serving")) resolve();
  });
});
const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
const mq = new ComfyQueue({ redis: redis.url, name: "memory" });
const samples: [number, number][] = [];
for (let done = 0; done < MEMORY_JOBS;) {
  const batch = await Promise.all(
    Array.from({ length: 500 }, () => mq.enqueue(zeroWork(seed++), { attempts: 1 })),
  );
  await Promise.all(batch.map(({ id }) => mq.waitFor(id)));
  done += batch.length;
  if (done % 1000 === 0) samples.push([done, rssMb()]);
}
console.log(
  `worker memory (RSS of a \`comfyc worker\` process) over ${MEMORY_JOBS} zero-work jobs:`,
);
console.log(`  ${samples.map(([n, mb]) => `${n}: ${mb.toFixed(0)} MB`).join(", ")}`);
console.log(`  after 1,000 → after 10,000: ${(samples.at(-1)![1] - samples[0]![1]).toFixed(1)} MB`);
child.kill("SIGTERM");
await new Promise((resolve) => child.once("exit", resolve));
await mq.close();
await remote.stop();
await redis.stop();
