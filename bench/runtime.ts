/**
 * The runtime client against the test server:
 * 1. per-job time of ComfyClient next to a raw undici loop (POST, wait for `executing` with
 *    `node: null`, GET history) on the same zero-work graph, with the server in its own process
 *    as ComfyUI would be (in one process, server and client share one thread); the classic
 *    transport and Comfy API v2 (`api: "v2"`, the test server's v2 routes) in the same rounds;
 *    and, where `../shared/comfyui-real` is, ComfyClient next to the raw loop on a real
 *    ComfyUI 0.33.0;
 * 2. completion latency, from the server sending the job's final event to `result()` resolving;
 * 3. peak memory while saving a 200 MB output (streamed to disk) next to reading it into memory.
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, rmSync } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";
import { Agent, request, WebSocket } from "undici";
import { workflow } from "../src/index.js";
import { ComfyClient } from "../src/runtime/index.js";
import { startTestServer } from "../src/testing/index.js";
import { HAS_REAL_COMFYUI, startRealComfyui } from "../test/real-comfyui.js";
import { PreviewAny, PrimitiveInt } from "../generated/core.js";
import { comfycService, ms, pct } from "./util.js";

// BENCH_JOBS=5 for a quick check that it runs; figures come from the default.
const JOBS = Number(process.env["BENCH_JOBS"] ?? 300);
const server = await startTestServer();
let value = 0;
const apiPrompt = () => ({
  "1": { class_type: "PrimitiveInt", inputs: { value: value++ } },
  "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
});
const builderGraph = () => {
  const wf = workflow();
  wf.add(PreviewAny, { source: wf.add(PrimitiveInt, { value: value++ }) });
  return wf;
};
const median = (xs: number[]) => pct(xs, 0.5);
const p99 = (xs: number[]) => pct(xs, 0.99);

// 1a. The raw loop: what a careful hand-written client does.
async function rawLoop(url: string): Promise<number[]> {
  const agent = new Agent({ connections: 4 });
  const clientId = randomUUID();
  const ws = new WebSocket(`${url.replace("http", "ws")}/ws?clientId=${clientId}`, {
    dispatcher: agent,
  });
  await once(ws as unknown as EventTarget, "open");
  let waiting: { id: string; resolve: () => void } | undefined;
  ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string" || !waiting) return;
    const m = JSON.parse(event.data) as {
      type: string;
      data: { node?: unknown; prompt_id?: string };
    };
    if (m.type === "executing" && m.data.node === null && m.data.prompt_id === waiting.id)
      waiting.resolve();
  });
  const times: number[] = [];
  const prompts = Array.from({ length: JOBS }, apiPrompt);
  for (let i = 0; i < JOBS; i++) {
    const t = performance.now();
    const id = randomUUID();
    const done = new Promise<void>((resolve) => (waiting = { id, resolve }));
    const res = await request(`${url}/prompt`, {
      method: "POST",
      body: JSON.stringify({ prompt: prompts[i], client_id: clientId, prompt_id: id }),
      dispatcher: agent,
    });
    await res.body.json();
    await done;
    const history = await request(`${url}/history/${id}`, { dispatcher: agent });
    const entry = ((await history.body.json()) as Record<string, { outputs: unknown }>)[id];
    if (!entry?.outputs) throw new Error("raw loop: no history entry");
    times.push(performance.now() - t);
  }
  ws.close();
  await agent.close();
  return times;
}

// 1b. ComfyClient, with the final-event-to-resolve latency measured from the server's log.
async function clientLoop(
  url: string,
  make: () => Parameters<ComfyClient["run"]>[0],
  options: Parameters<ComfyClient["run"]>[1] = {},
  api: "classic" | "v2" = "classic",
) {
  const client = new ComfyClient({ url, api });
  const times: number[] = [];
  const latencies: number[] = [];
  // Graphs are built up front, as the raw loop's prompts are: this measures the client.
  const sources = Array.from({ length: JOBS }, make);
  for (let i = 0; i < JOBS; i++) {
    const t = performance.now();
    const result = await client.run(sources[i]!, options);
    const resolved = performance.now();
    if (Object.keys(result.outputs).length !== 1) throw new Error("client: missing outputs");
    times.push(resolved - t);
    if (url !== server.url || api !== "classic") continue;
    // The last message the server sent this client for the job before result() resolved.
    const sent = server.wsLog.filter(
      ([to, type, at]) =>
        to === client.clientId &&
        at <= resolved &&
        (type === "execution_success" || type === "executing"),
    );
    latencies.push(resolved - sent.at(-1)![2]);
  }
  await client.close();
  return { times, latencies };
}

const remote = await comfycService(["serve", "--port", "0"]);
for (let warm = 0; warm < 2; warm++) {
  await rawLoop(remote.url);
  await clientLoop(remote.url, builderGraph);
}
// Three interleaved rounds, so drift in the machine's load does not favour one loop.
const raw: number[] = [];
const builder: number[] = [];
const unvalidated: number[] = [];
const api: number[] = [];
const v2: number[] = [];
for (let round = 0; round < 3; round++) {
  raw.push(...(await rawLoop(remote.url)));
  builder.push(...(await clientLoop(remote.url, builderGraph)).times);
  unvalidated.push(
    ...(await clientLoop(remote.url, builderGraph, { compile: { validate: false } })).times,
  );
  api.push(...(await clientLoop(remote.url, apiPrompt)).times);
  v2.push(...(await clientLoop(remote.url, apiPrompt, {}, "v2")).times);
}
await remote.stop();
// Latency needs the server's send times: measured against the in-process server.
const builderLatency = (await clientLoop(server.url, builderGraph)).latencies;
const apiLatency = (await clientLoop(server.url, apiPrompt)).latencies;
const row = (label: string, xs: number[]) =>
  console.log(`  ${label.padEnd(58)} median ${ms(median(xs))}  p99 ${ms(p99(xs))}`);
console.log(
  `per job, zero-work graph (PrimitiveInt → PreviewAny), server in its own process, 3 interleaved rounds of ${JOBS} jobs:`,
);
row("raw undici loop (POST, WS executing null, GET history)", raw);
row("ComfyClient.run(builder workflow), validated locally", builder);
row("ComfyClient.run(builder workflow), compile.validate: false", unvalidated);
row("ComfyClient.run(API prompt)", api);
row('ComfyClient.run(API prompt), api: "v2" (Comfy API v2)', v2);
console.log(
  `  v2 / classic, per job (medians): ${(median(v2) / median(api)).toFixed(2)}×; classic / raw: ${(median(api) / median(raw)).toFixed(2)}×`,
);
console.log(`completion latency, the server's last event before resolving → result() resolved:`);
row("builder workflow (resolves on execution_success)", builderLatency);
row("API prompt (resolves on execution_success)", apiLatency);
// 3. A 200 MB output written straight into the server's output folder.
{
  const SIZE = 200 * 1024 * 1024;
  const name = "big_00001_.bin";
  const path = join(server.folders.dir("output"), name);
  const out = createWriteStream(path);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  for (let i = 0; i < SIZE / chunk.length; i++) if (!out.write(chunk)) await once(out, "drain");
  out.end();
  await once(out, "finish");
  const client = new ComfyClient({ url: server.url });
  const ref = { filename: name, subfolder: "", type: "output" as const };
  // RSS alone misleads once earlier benchmarks grew the heap, so the JS heap plus Buffers
  // (external memory) is sampled too.
  const used = () => {
    const m = process.memoryUsage();
    return { rss: m.rss, js: m.heapUsed + m.external };
  };
  const peakDuring = async (fn: () => Promise<unknown>) => {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 50));
    const base = used();
    const peak = { ...base };
    const sample = () => {
      const now = used();
      peak.rss = Math.max(peak.rss, now.rss);
      peak.js = Math.max(peak.js, now.js);
    };
    const timer = setInterval(sample, 2);
    const t = performance.now();
    await fn();
    const took = performance.now() - t;
    clearInterval(timer);
    sample();
    const mb = (n: number) => `+${(n / 1024 / 1024).toFixed(0)} MB`;
    return `${mb(peak.js - base.js)} heap+buffers, ${mb(peak.rss - base.rss)} RSS, in ${ms(took)}`;
  };
  const dir = join(server.folders.dir("temp"), "bench-save");
  const saved = await peakDuring(() => client.save(ref, dir));
  const read = await peakDuring(() => client.read(ref));
  console.log(`200 MB output, peak memory above baseline (server and client in one process):`);
  console.log(`  client.save(ref, dir) (streamed to disk)   ${saved}`);
  console.log(`  client.read(ref) (a Buffer, for contrast)  ${read}`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(path, { force: true });
  await client.close();
}

// 4. The same comparison against a real ComfyUI 0.33.0, where ../shared/comfyui-real is.
if (!HAS_REAL_COMFYUI)
  console.log("real ComfyUI 0.33.0: skipped (../shared/comfyui-real is absent)");
else {
  const real = await startRealComfyui("0.33.0");
  try {
    for (let warm = 0; warm < 1; warm++) {
      await rawLoop(real.url);
      await clientLoop(real.url, apiPrompt);
    }
    const realRaw: number[] = [];
    const realClient: number[] = [];
    for (let round = 0; round < 3; round++) {
      realRaw.push(...(await rawLoop(real.url)));
      realClient.push(...(await clientLoop(real.url, apiPrompt)).times);
    }
    console.log(
      `per job, the same graph on a real ComfyUI 0.33.0 (CPU), 3 interleaved rounds of ${JOBS} jobs:`,
    );
    row("raw undici loop (POST, WS executing null, GET history)", realRaw);
    row("ComfyClient.run(API prompt)", realClient);
    console.log(
      `  ComfyClient / raw, per job (medians): ${(median(realClient) / median(realRaw)).toFixed(2)}×`,
    );
  } finally {
    await real.stop();
  }
}

await server.close();
