import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createGateway, type Gateway, type GatewayOptions } from "../../src/gateway/index.js";
import { addKey } from "../../src/gateway/keys.js";
import { newWebhookSecret } from "../../src/gateway/webhooks.js";
import type { TestServer } from "../../src/testing/app.js";
import { Cluster } from "../scale/cluster.js";
import { tempDir } from "../helpers.js";
import { GatewayContract, invert, readSse, WebhookReceiver, type SseEvent } from "./helpers.js";

let cluster: Cluster;
let gateway: Gateway;
let base: string;
let receiver: WebhookReceiver;
let keysFile: string;
const secret = newWebhookSecret();
const keys: Record<string, string> = {};
const contract = new GatewayContract();

function gatewayOptions(): GatewayOptions {
  return {
    redis: cluster.redis.url,
    workflows: [{ workflow: invert }],
    keysFile,
    storage: cluster.storage,
    webhookHosts: [receiver.host],
    webhookSecret: secret,
    webhookRetry: { attempts: 4, backoffMs: 50 },
    logger: false,
  };
}

beforeAll(async () => {
  cluster = await Cluster.start();
  const [a, b] = [await cluster.addServer(), await cluster.addServer()];
  await cluster.addWorker(a);
  await cluster.addWorker(b);
  receiver = await WebhookReceiver.start(secret);
  keysFile = join(tempDir("comfyc-gw-e2e-"), "keys.json");
  keys["alice"] = (await addKey(keysFile, { name: "alice" })).key;
  keys["bob"] = (await addKey(keysFile, { name: "bob" })).key;
  gateway = await createGateway(gatewayOptions());
  contract.watch(gateway);
  base = await gateway.listen({ port: 0 });
}, 60_000);

afterEach(async () => expect(await contract.problems()).toEqual([]));

afterAll(async () => {
  await gateway?.close();
  await receiver?.close();
  await cluster?.close();
});

const auth = (name = "alice") => ({ authorization: `Bearer ${keys[name]}` });

async function call(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = auth(),
): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const res = await request(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    json: text ? JSON.parse(text) : undefined,
  };
}

async function submit(params: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/workflows/invert/jobs", { params, ...extra });
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return res.json as { id: string; status: string; links: { self: string; events: string } };
}

/** Follows a job's events until `done`; returns the final job. */
async function finished(id: string, name = "alice"): Promise<any> {
  const { events } = await readSse(
    `${base}/v1/jobs/${id}/events`,
    auth(name),
    (e) => e.event === "done",
  );
  expect(contract.eventProblems("/v1/jobs/{id}/events", events)).toEqual([]);
  const done = events.at(-1)!;
  expect(done.event).toBe("done");
  return done.data;
}

/** Where a test server wrote a file, by its name. */
async function findOnServers(filename: string): Promise<Buffer> {
  for (const server of cluster.servers as TestServer[]) {
    const root = server.folders.dir("output");
    const entries = await readdir(root, { recursive: true });
    const hit = entries.find((e) => e.split(/[\\/]/).pop() === filename);
    if (hit) return readFile(join(root, hit));
  }
  throw new Error(`no server wrote ${filename}`);
}

describe("typed submission through the gateway", () => {
  test("queues, runs on a worker and serves outputs byte-identical to what the server wrote", async () => {
    const job = await submit({ width: 16, prefix: "gw/e2e" });
    expect(job.status).toBe("queued");
    expect(job.links.self).toBe(`/v1/jobs/${job.id}`);
    const done = await finished(job.id);
    expect(done.status).toBe("succeeded");
    expect(done.workflow).toBe("invert");
    expect(done.outputs).toHaveLength(1);
    const output = done.outputs[0];
    expect(output).toMatchObject({ kind: "image", content_type: "image/png" });
    const download = await request(`${base}${output.url}`, { headers: auth() });
    expect(download.statusCode).toBe(200);
    const bytes = Buffer.from(await download.body.arrayBuffer());
    expect(bytes.equals(await findOnServers(output.filename))).toBe(true);
    expect(bytes.length).toBe(output.size_bytes);
    // Another key sees neither the job nor its files.
    expect((await call("GET", `/v1/jobs/${job.id}`, undefined, auth("bob"))).status).toBe(404);
    expect((await request(`${base}${output.url}`, { headers: auth("bob") })).statusCode).toBe(404);
  });

  test("polling shows timings and the request id that followed the job", async () => {
    const res = await call(
      "POST",
      "/v1/workflows/invert/jobs",
      { params: {} },
      {
        ...auth(),
        "x-request-id": "req-e2e-1",
      },
    );
    const done = await finished(res.json.id);
    const polled = (await call("GET", `/v1/jobs/${res.json.id}`)).json;
    expect(polled).toMatchObject({ status: "succeeded", request_id: "req-e2e-1", attempts: 1 });
    expect(polled.timings.run_ms).toBeGreaterThanOrEqual(0);
    expect(polled.finished_at).toBe(done.finished_at);
  });

  test("a failing node fails the job with ComfyUI's details", async () => {
    for (const s of cluster.servers)
      s.script.node("ImageInvert", { fail: { exceptionType: "RuntimeError", message: "boom" } });
    try {
      const done = await finished((await submit({ width: 24 })).id);
      expect(done.status).toBe("failed");
      expect(done.error.code).toBe("EXECUTION_FAILED");
      expect(done.error.details).toMatchObject({
        exception_message: expect.stringContaining("boom"),
      });
    } finally {
      for (const s of cluster.servers) s.script.clearNodes();
    }
  });
});

describe("idempotency", () => {
  test("the same key and body return the same job; another body is 409", async () => {
    const headers = { ...auth(), "idempotency-key": `k-${Date.now()}` };
    const body = { params: { width: 32 } };
    const first = await call("POST", "/v1/workflows/invert/jobs", body, headers);
    const again = await call("POST", "/v1/workflows/invert/jobs", body, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.json.id).toBe(first.json.id);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    const other = await call(
      "POST",
      "/v1/workflows/invert/jobs",
      { params: { width: 40 } },
      headers,
    );
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe("idempotency_conflict");
    await finished(first.json.id);
    const listed = await cluster.queue.listJobs({ limit: 1000 });
    expect(listed.filter((r) => r.id === first.json.id)).toHaveLength(1);
  });
});

describe("events", () => {
  test("arrive in order with increasing ids, and resume after Last-Event-ID", async () => {
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 600 });
    try {
      const job = await submit({ width: 48 });
      // Read until the job runs, then drop the connection.
      const first = await readSse(
        `${base}${job.links.events}`,
        auth(),
        (e) => e.event === "progress" || (e.event === "status" && e.data.status === "running"),
      );
      expect(first.events[0]!.event).toBe("snapshot");
      const lastId = first.events.at(-1)!.id!;
      const rest = await readSse(
        `${base}${job.links.events}`,
        { ...auth(), "last-event-id": lastId },
        (e) => e.event === "done",
      );
      const all: SseEvent[] = [...first.events, ...rest.events];
      // Every payload has the shape /openapi.json gives for its event (x-sse-events).
      expect(contract.eventProblems("/v1/jobs/{id}/events", all)).toEqual([]);
      const ids = all.map((e) => e.id!);
      for (let i = 1; i < ids.length; i++) {
        const [am, as] = ids[i - 1]!.split("-").map(Number);
        const [bm, bs] = ids[i]!.split("-").map(Number);
        expect(bm! > am! || (bm === am && bs! > as!), `${ids[i - 1]} < ${ids[i]}`).toBe(true);
      }
      expect(rest.events[0]!.event).not.toBe("snapshot");
      expect(all.at(-1)).toMatchObject({ event: "done", data: { status: "succeeded" } });
      const progress = all.filter((e) => e.event === "progress").map((e) => e.data.value as number);
      expect(progress.length).toBeGreaterThan(0);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      // A stream opened after the end gives the final job at once.
      const after = await readSse(`${base}${job.links.events}`, auth());
      expect(after.events.map((e) => e.event)).toEqual(["done"]);
    } finally {
      for (const s of cluster.servers) s.script.clearNodes();
    }
  });
});

describe("cancel", () => {
  test("a running job is interrupted and ends cancelled", async () => {
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 2_000 });
    try {
      const job = await submit({ width: 56 });
      await readSse(
        `${base}${job.links.events}`,
        auth(),
        (e) => (e.event === "status" || e.event === "snapshot") && e.data.status === "running",
      );
      const res = await call("POST", `/v1/jobs/${job.id}/cancel`);
      expect(res.status).toBe(200);
      const done = await finished(job.id);
      expect(done.status).toBe("cancelled");
    } finally {
      for (const s of cluster.servers) s.script.clearNodes();
    }
  });
});

describe("webhooks", () => {
  test("the job record is POSTed once, signed per Standard Webhooks, and the attempt recorded", async () => {
    receiver.statuses = [];
    const before = receiver.deliveries.length;
    receiver.statuses[before] = 500; // the first attempt fails: retried with backoff
    const job = await submit({ width: 64 }, { webhook: receiver.url });
    await receiver.until(() =>
      receiver.deliveries
        .slice(before)
        .some(
          (d) =>
            d.payload?.data?.id === job.id &&
            d.verified &&
            d.payload.type === "job.succeeded" &&
            receiver.deliveries.indexOf(d) > before,
        ),
    );
    const mine = receiver.deliveries.slice(before).filter((d) => d.payload?.data?.id === job.id);
    expect(mine.length).toBe(2);
    expect(mine.every((d) => d.verified)).toBe(true);
    expect(mine[0]!.headers["webhook-id"]).toBe(mine[1]!.headers["webhook-id"]);
    expect(mine[1]!.payload.data).toMatchObject({ id: job.id, status: "succeeded" });
    const polled = (await call("GET", `/v1/jobs/${job.id}`)).json;
    expect(polled.webhook.url).toBe(receiver.url);
    expect(polled.webhook.attempts.map((a: { status: number }) => a.status)).toEqual([500, 204]);
    expect(polled.webhook.delivered).toBe(true);
  });

  test("a callback to a host off the allow-list is a 422, never a job", async () => {
    const res = await call("POST", "/v1/workflows/invert/jobs", {
      webhook: "http://169.254.169.254/latest",
    });
    expect(res.status).toBe(422);
    expect(res.json.error.details.issues[0].path).toBe("webhook");
  });
});

describe("restarts", () => {
  test("jobs running while the gateway restarts finish, and their webhooks still arrive once", async () => {
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 400 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++)
        ids.push((await submit({ width: 8 + 8 * i }, { webhook: receiver.url })).id);
      await gateway.close();
      gateway = await createGateway(gatewayOptions());
      contract.watch(gateway);
      base = await gateway.listen({ port: 0 });
      for (const id of ids) expect((await finished(id)).status).toBe("succeeded");
      await receiver.until(() =>
        ids.every((id) =>
          receiver.deliveries.some((d) => d.verified && d.payload?.data?.id === id),
        ),
      );
      for (const id of ids) {
        const got = receiver.deliveries.filter((d) => d.payload?.data?.id === id && d.verified);
        expect(got, id).toHaveLength(1);
      }
    } finally {
      for (const s of cluster.servers) s.script.clearNodes();
    }
  });
});

describe("job data in Redis that is not what the worker wrote", () => {
  test("a finished job whose result, progress and meta were damaged still reads: 200 without what does not fit, never a 500", async () => {
    const job = await submit({ width: 20 });
    expect((await finished(job.id)).status).toBe("succeeded");
    const record = (await cluster.queue.getJob(job.id))!;
    // BullMQ keeps a job as one hash; damage its fields as another writer might.
    const hash = `comfyc-bull:${cluster.queue.name}.${record.lane}:${job.id}`;
    expect(await cluster.queue.redis.exists(hash)).toBe(1);
    const data = JSON.parse((await cluster.queue.redis.hget(hash, "data"))!) as {
      meta: Record<string, unknown>;
    };
    await cluster.queue.redis.hset(hash, {
      returnvalue: JSON.stringify({ promptId: 5, outputs: "none" }),
      progress: JSON.stringify({ nodesDone: "many" }),
      data: JSON.stringify({ ...data, meta: { ...data.meta, webhook: 42 } }),
    });
    const polled = await call("GET", `/v1/jobs/${job.id}`);
    expect(polled.status, JSON.stringify(polled.json)).toBe(200);
    expect(polled.json).toMatchObject({
      id: job.id,
      status: "succeeded",
      outputs: [],
      webhook: null,
    });
    // The owner is still read: another key still sees nothing.
    expect((await call("GET", `/v1/jobs/${job.id}`, undefined, auth("bob"))).status).toBe(404);
  });
});
