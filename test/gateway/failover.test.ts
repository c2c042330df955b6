import { request } from "undici";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import type { TestServer } from "../../src/testing/app.js";
import { Cluster } from "../scale/cluster.js";
import { GatewayContract, readSse, startGatewayCluster, type GatewayCluster } from "./helpers.js";

let cluster: Cluster;
const contract = new GatewayContract();
let base: string;
let key: string;
let a: TestServer;
let b: TestServer;

let started: GatewayCluster | undefined;

beforeAll(async () => {
  // Two instances without workers: each test starts the workers it kills.
  started = await startGatewayCluster({
    keys: [{ name: "k" }],
    servers: 2,
    workers: false,
    contract,
  });
  ({ cluster, base } = started);
  [a, b] = started.servers as [TestServer, TestServer];
  [key] = started.keys as [string];
}, 60_000);

afterEach(async () => expect(await contract.problems()).toEqual([]));

afterAll(async () => {
  await started?.close();
});

test("a worker killed mid-job: the job is taken over, runs once, and its outputs are served", async () => {
  a.script.node("ImageInvert", { durationMs: 1500 });
  const child = await cluster.spawnWorker(a);
  const auth = { authorization: `Bearer ${key}` };
  const res = await request(`${base}/v1/workflows/invert/jobs`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ params: { width: 72, prefix: "gw/failover" } }),
  });
  const { id } = (await res.body.json()) as { id: string };
  await readSse(
    `${base}/v1/jobs/${id}/events`,
    auth,
    (e) => e.event === "progress" || e.data?.status === "running",
  );
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  // Another worker, on the other instance, takes the job over once its lock expires.
  await cluster.addWorker(b);
  const { events } = await readSse(`${base}/v1/jobs/${id}/events`, auth, (e) => e.event === "done");
  const done = events.at(-1)!.data;
  expect(done.status).toBe("succeeded");
  // This cluster ran one prompt, exactly once: the takeover collected it, it did not rerun it.
  expect([...cluster.executions().values()]).toEqual([1]);
  const file = await request(`${base}${done.outputs[0].url}`, { headers: auth });
  expect(file.statusCode).toBe(200);
  expect(Buffer.from(await file.body.arrayBuffer()).length).toBe(done.outputs[0].size_bytes);
}, 120_000);
