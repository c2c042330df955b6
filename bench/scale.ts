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
import { availableParallelism, loadavg, tmpdir } from "node:os";

/** CPU ms a process has used so far (user + system, from /proc/<pid>/stat). */
function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
  } catch {
    return 0;
  }
}
/** Kernel clock ticks per second (USER_HZ: 100 on Linux). */
const TICKS = 100;
const CORES = availableParallelism();

/** Busy and total CPU ms of the whole machine so far (every process, other users' too). */
function machineMs(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: ((total - idle) * 1000) / TICKS, total: (total * 1000) / TICKS };
}

/** Where the CPU went during a measured stretch. */
interface CpuShare {
  /** ms of CPU per job used by this process (the pool or the queue, workers and servers). */
  readonly ownPerJob: number;
  /** ms of CPU per job used by redis-server. */
  readonly redisPerJob: number;
  /** Busy fraction of all cores during the stretch, every process on the machine counted. */
  readonly machineBusy: number;
}

async function measured<T>(
  jobs: number,
  fn: () => Promise<T>,
): Promise<{ ms: number; cpu: CpuShare }> {
  const own = process.cpuUsage();
  const redis0 = cpuMsOf(redisPid());
  const m0 = machineMs();
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  const o = process.cpuUsage(own);
  const m1 = machineMs();
  return {
    ms,
    cpu: {
      ownPerJob: (o.user + o.system) / 1000 / jobs,
      redisPerJob: (cpuMsOf(redisPid()) - redis0) / jobs,
      machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
    },
  };
}

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
const redisPid = () => redis.pid;
console.log(
  `machine: ${CORES} cores, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} at the start`,
);
const storage = new LocalStorage(mkdtempSync(join(tmpdir(), "comfyc-bench-")));
let seed = 0;

// ---- Throughput --------------------------------------------------------------------------
const rows: { n: number; pool: number; queue: number; poolCpu: CpuShare; queueCpu: CpuShare }[] =
  [];
for (const n of [1, 2, 4]) {
  const jobs = JOBS_PER_INSTANCE * n;
  const ss = await servers(n);
  const pool = new ComfyPool({ servers: ss.map((s) => s.url) });
  await pool.ready();
  await Promise.all(Array.from({ length: n }, () => pool.run(imageJob(seed++)))); // warm-up
  const poolRun = await measured(jobs, () =>
    Promise.all(Array.from({ length: jobs }, () => pool.run(imageJob(seed++)))),
  );
  const poolRate = jobs / (poolRun.ms / 1000);
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
  const queueRun = await measured(jobs, async () => {
    const ids = await Promise.all(
      Array.from({ length: jobs }, () => queue.enqueue(imageJob(seed++))),
    );
    await Promise.all(ids.map(({ id }) => queue.waitFor(id)));
  });
  const queueRate = jobs / (queueRun.ms / 1000);
  await Promise.all(workers.map((w) => w.close({ graceMs: 0 })));
  await queue.close();
  await Promise.all(ss.map((s) => s.close()));
  rows.push({ n, pool: poolRate, queue: queueRate, poolCpu: poolRun.cpu, queueCpu: queueRun.cpu });
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
// Whether the run waited on the simulated work (what is being measured) or on the CPU: the
// test servers share this process, and the machine is shared, so a busy machine slows every
// job's overhead and the figure stops saying anything about our layer.
console.log(
  "  CPU per job (this process: pool or queue + workers + test servers | redis-server) and machine busy:",
);
for (const r of rows)
  console.log(
    `  ${String(r.n).padStart(9)} | pool ${r.poolCpu.ownPerJob.toFixed(1)} ms, machine ${(r.poolCpu.machineBusy * 100).toFixed(0)}% busy | queue ${r.queueCpu.ownPerJob.toFixed(1)} + ${r.queueCpu.redisPerJob.toFixed(1)} ms, machine ${(r.queueCpu.machineBusy * 100).toFixed(0)}% busy`,
  );
const top = rows.at(-1)!;
const bound = (c: CpuShare) =>
  c.machineBusy > 0.9
    ? "CPU-bound (figure reflects the machine's load)"
    : "wait-bound (figure measures our layer)";
console.log(
  `  at ${top.n} instances: pool ${bound(top.poolCpu)}; queue ${bound(top.queueCpu)}. ` +
    `Our layer's ceiling on one core: pool ${(1000 / top.poolCpu.ownPerJob).toFixed(0)} jobs/s, ` +
    `queue ${(1000 / (top.queueCpu.ownPerJob + top.queueCpu.redisPerJob)).toFixed(0)} jobs/s ` +
    `(= ${(1000 / (top.queueCpu.ownPerJob + top.queueCpu.redisPerJob) / (1000 / WORK_MS)).toFixed(0)} instances of ${WORK_MS} ms jobs), test servers included`,
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
const batchOf = async (n: number) => {
  const batch = await Promise.all(
    Array.from({ length: n }, () => mq.enqueue(zeroWork(seed++), { attempts: 1 })),
  );
  await Promise.all(batch.map(({ id }) => mq.waitFor(id)));
};
// Warm-up: code paths compiled, pools and caches filled, the heap at its working size.
const WARMUP_JOBS = 1000;
for (let done = 0; done < WARMUP_JOBS; done += 500) await batchOf(500);
const warm = rssMb();
const samples: [number, number][] = [];
for (let done = 0; done < MEMORY_JOBS;) {
  await batchOf(500);
  done += 500;
  if (done % 2000 === 0) samples.push([done, rssMb()]);
}
const after = samples.at(-1)![1];
console.log(
  `worker memory (RSS of a \`comfyc worker\` process), ${MEMORY_JOBS} zero-work jobs after ${WARMUP_JOBS} warm-up jobs:`,
);
console.log(
  `  after warm-up ${warm.toFixed(0)} MB; then ${samples.map(([n, mb]) => `+${n}: ${mb.toFixed(0)} MB`).join(", ")}`,
);
console.log(
  `  after ${MEMORY_JOBS} more jobs / after warm-up: ${(after / warm).toFixed(2)}× (${(after - warm).toFixed(1)} MB)`,
);
child.kill("SIGTERM");
await new Promise((resolve) => child.once("exit", resolve));
await mq.close();
await remote.stop();
await redis.stop();
