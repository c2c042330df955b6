/**
 * The gateway: requests/s of `POST /v1/workflows/{name}/jobs` (validate, rate-limit check,
 * compile, enqueue into Redis; no worker running) and of `GET /v1/jobs/{id}`, and the latency
 * the gateway path (HTTP submit → queue → worker → SSE `done`) adds over a direct
 * `ComfyClient.run` of the same zero-work graph on the same server.
 *
 * The gateway runs as `comfyc gateway` in its own process and the test server as
 * `comfyc serve` in another, as they would be deployed; load comes from autocannon here.
 */
import { join } from "node:path";
import autocannon from "autocannon";
import { request } from "undici";
import { addKey } from "../src/gateway/keys.js";
import { ComfyClient } from "../src/runtime/client.js";
import { LocalStorage } from "../src/scale/local-storage.js";
import { ComfyQueue } from "../src/scale/queue.js";
import { ComfyWorker } from "../src/scale/worker.js";
import { startRedisServer } from "../src/testing/redis.js";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { comfycService, pct, ROOT, zeroWork } from "./util.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 10);
const LATENCY_JOBS = Number(process.env["BENCH_JOBS"] ?? 200);

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Runs autocannon and reports, beside its figures, the CPU the gateway and Redis spent per request. */
async function load(options: autocannon.Options) {
  const g0 = cpuSeconds(gateway.proc.pid);
  const r0 = cpuSeconds(redis.pid);
  const result = await autocannon(options);
  const n = result.requests.total;
  const gatewayUs = ((cpuSeconds(gateway.proc.pid) - g0) / n) * 1e6;
  const redisUs = ((cpuSeconds(redis.pid) - r0) / n) * 1e6;
  return { result, gatewayUs, redisUs };
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0];

const redis = await startRedisServer();
const dir = mkdtempSync(join(tmpdir(), "comfyc-bench-gw-"));
const storage = new LocalStorage(join(dir, "outputs"));
const keysFile = join(dir, "keys.json");
const { key } = await addKey(keysFile, { name: "bench" });
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const comfy = await comfycService(["serve", "--port", "0"], true);
const gateway = await comfycService(
  [
    "gateway",
    "--redis",
    redis.url,
    "--workflows",
    join(ROOT, "bench", "gateway-workflows"),
    "--keys",
    keysFile,
    "--storage",
    storage.root,
    "--port",
    "0",
    "--log-level",
    "warn",
  ],
  true,
);

// A worker registers the server's capability lane, then stops: submissions queue up unrun.
let worker = new ComfyWorker({ redis: redis.url, server: comfy.url, storage, logger: false });
await worker.start();
await worker.close({ graceMs: 0 });

const submitBody = JSON.stringify({ params: { value: 1 } });
console.log(
  `load average before: ${loadAverage()} (2 cores; figures scale with what other processes leave)`,
);
const {
  result: submit,
  gatewayUs: submitCpu,
  redisUs: submitRedis,
} = await load({
  url: `${gateway.url}/v1/workflows/zero/jobs`,
  method: "POST",
  headers,
  body: submitBody,
  connections: 32,
  duration: SECONDS,
});
const queue = new ComfyQueue({ redis: redis.url });
const waiting = (await queue.counts()).reduce((n, c) => n + c.waiting, 0);
console.log(
  `POST /v1/workflows/zero/jobs (enqueue only, 32 connections, ${SECONDS} s): ${submit.requests.average.toFixed(0)} req/s, p50 ${submit.latency.p50} ms, p99 ${submit.latency.p99} ms; ${submit["2xx"]} accepted, ${submit.non2xx} other, ${waiting} jobs waiting in Redis`,
);
console.log(
  `  CPU per submission: gateway ${submitCpu.toFixed(0)} µs, Redis ${submitRedis.toFixed(0)} µs → one free core serves ≈ ${(1e6 / submitCpu).toFixed(0)} submissions/s`,
);

const one = await request(`${gateway.url}/v1/workflows/zero/jobs`, {
  method: "POST",
  headers,
  body: submitBody,
});
const { id } = (await one.body.json()) as { id: string };
const {
  result: poll,
  gatewayUs: pollCpu,
  redisUs: pollRedis,
} = await load({
  url: `${gateway.url}/v1/jobs/${id}`,
  headers,
  connections: 32,
  duration: SECONDS,
});
console.log(
  `GET /v1/jobs/{id} (32 connections, ${SECONDS} s): ${poll.requests.average.toFixed(0)} req/s, p50 ${poll.latency.p50} ms, p99 ${poll.latency.p99} ms; ${poll.non2xx} non-2xx`,
);
console.log(
  `  CPU per read: gateway ${pollCpu.toFixed(0)} µs, Redis ${pollRedis.toFixed(0)} µs → one free core serves ≈ ${(1e6 / pollCpu).toFixed(0)} reads/s; load average after: ${loadAverage()}`,
);

// Latency: a fresh queue name would need another gateway; drain the backlog instead.
await redis.restart();
worker = new ComfyWorker({ redis: redis.url, server: comfy.url, storage, logger: false });
await worker.start();
const client = new ComfyClient({ url: comfy.url });

async function viaGateway(value: number): Promise<void> {
  const res = await request(`${gateway.url}/v1/workflows/zero/jobs`, {
    method: "POST",
    headers,
    body: JSON.stringify({ params: { value } }),
  });
  const job = (await res.body.json()) as { id: string; links: { events: string } };
  if (res.statusCode !== 202) throw new Error(`submit answered ${res.statusCode}`);
  const events = await request(`${gateway.url}${job.links.events}`, { headers });
  let text = "";
  for await (const chunk of events.body) {
    text += (chunk as Buffer).toString();
    if (text.includes("event: done")) break;
  }
  events.body.destroy();
  if (!/"status":"succeeded"/.test(text.slice(text.indexOf("event: done"))))
    throw new Error(`job ${job.id} did not succeed`);
}

let value = 1000;
for (let i = 0; i < 20; i++) {
  await client.run(zeroWork(value++));
  await viaGateway(value++);
}
const direct: number[] = [];
const gated: number[] = [];
// Interleaved, so drift in the machine's load favours neither path.
for (let i = 0; i < LATENCY_JOBS; i++) {
  let t = performance.now();
  await client.run(zeroWork(value++));
  direct.push(performance.now() - t);
  t = performance.now();
  await viaGateway(value++);
  gated.push(performance.now() - t);
}
console.log(`added latency, zero-work graph, ${LATENCY_JOBS} jobs each, interleaved:`);
console.log(
  `  direct ComfyClient.run: median ${pct(direct, 0.5).toFixed(2)} ms, p95 ${pct(direct, 0.95).toFixed(2)} ms`,
);
console.log(
  `  POST → queue → worker → SSE done: median ${pct(gated, 0.5).toFixed(2)} ms, p95 ${pct(gated, 0.95).toFixed(2)} ms`,
);
console.log(
  `  added by the gateway path: median ${(pct(gated, 0.5) - pct(direct, 0.5)).toFixed(2)} ms, p95 ${(pct(gated, 0.95) - pct(direct, 0.95)).toFixed(2)} ms (target ≤ 25 ms median)`,
);

await worker.close({ graceMs: 0 });
await client.close();
await queue.close();
await gateway.stop();
await comfy.stop();
await redis.stop();
