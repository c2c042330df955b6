import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey } from "../../src/gateway/keys.js";
import { newWebhookSecret } from "../../src/gateway/webhooks.js";
import type { ComfyWorker } from "../../src/scale/worker.js";
import type { TestServer } from "../../src/testing/app.js";
import { Cluster, nextPhase } from "../scale/cluster.js";
import { tempDir } from "../helpers.js";
import { GatewayContract, invert, readSse, WebhookReceiver } from "./helpers.js";

/**
 * A cancel through the gateway that the instance does not take (it is frozen, as `kill -STOP`
 * leaves a real ComfyUI): the worker's client gives up after its cancel budget and the job is
 * recorded as what it is, `failed` with `CANCEL_UNDELIVERED` and the prompt id, not `cancelled`.
 */
describe("a cancel the instance does not take (real Redis, frozen test server)", () => {
  let cluster: Cluster;
  let server: TestServer;
  let worker: ComfyWorker;
  let gateway: Gateway;
  let base: string;
  let receiver: WebhookReceiver;
  let key: string;
  const secret = newWebhookSecret();
  const contract = new GatewayContract();

  beforeAll(async () => {
    cluster = await Cluster.start();
    server = await cluster.addServer();
    // A short cancel budget; no health probe during the test (the freeze would take the
    // instance out, which is another story).
    worker = await cluster.addWorker(server, {
      server: { url: server.url, cancelTimeoutMs: 300 },
      healthIntervalMs: 600_000,
    });
    receiver = await WebhookReceiver.start(secret);
    const keysFile = join(tempDir("comfyc-gw-cancel-"), "keys.json");
    key = (await addKey(keysFile, { name: "alice" })).key;
    gateway = await createGateway({
      redis: cluster.redis.url,
      workflows: [{ workflow: invert }],
      keysFile,
      storage: cluster.storage,
      webhookHosts: [receiver.host],
      webhookSecret: secret,
      webhookRetry: { attempts: 4, backoffMs: 50 },
      logger: false,
    });
    contract.watch(gateway);
    base = await gateway.listen({ port: 0 });
  }, 60_000);

  afterAll(async () => {
    server?.script.thaw();
    await gateway?.close();
    await receiver?.close();
    await cluster?.close();
  });

  const auth = () => ({ authorization: `Bearer ${key}` });
  async function call(method: "GET" | "POST", path: string, body?: unknown) {
    const res = await request(`${base}${path}`, {
      method,
      headers: { ...auth(), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
  }

  test("the job ends failed with CANCEL_UNDELIVERED and the prompt id in the status API, SSE, v2 view, webhook and metrics", async () => {
    server.script.node("ImageInvert", { durationMs: 60_000 });
    const running = nextPhase(worker, "running");
    const submitted = await call("POST", "/v1/workflows/invert/jobs", {
      params: { width: 24 },
      webhook: receiver.url,
    });
    expect(submitted.status, JSON.stringify(submitted.json)).toBe(202);
    const id = submitted.json.id as string;
    const { promptId } = await running;
    server.script.freeze();

    expect((await call("POST", `/v1/jobs/${id}/cancel`)).status).toBe(200);
    const { events } = await readSse(
      `${base}/v1/jobs/${id}/events`,
      auth(),
      (e) => e.event === "done",
    );
    expect(contract.eventProblems("/v1/jobs/{id}/events", events)).toEqual([]);
    const done = events.at(-1)!.data;
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({
      code: "CANCEL_UNDELIVERED",
      details: { prompt_id: promptId, server: server.url, reason: "TIMEOUT" },
    });
    expect(done.error.message).toContain(`Prompt ${String(promptId)} was not cancelled`);

    const polled = await call("GET", `/v1/jobs/${id}`);
    expect(polled.json).toMatchObject({ status: "failed", attempts: 1 });
    expect(polled.json.error.code).toBe("CANCEL_UNDELIVERED");
    const v2 = await call("GET", `/api/v2/jobs/${id}`);
    expect(v2.json).toMatchObject({ status: "failed", error: { code: "cancel_undelivered" } });

    await receiver.until(() => receiver.deliveries.some((d) => d.payload?.data?.id === id));
    const hook = receiver.deliveries.find((d) => d.payload?.data?.id === id)!;
    expect(hook.verified).toBe(true);
    expect(hook.payload.type).toBe("job.failed");
    expect(hook.payload.data.error.details.prompt_id).toBe(promptId);

    const jobs = (await worker.metrics.jobs.get()).values;
    expect(jobs.filter((v) => v.labels.outcome === "cancelled")).toEqual([]);
    expect(jobs.find((v) => v.labels.outcome === "failed")?.value).toBe(1);
    const failures = (await worker.metrics.failures.get()).values;
    expect(failures).toEqual([
      expect.objectContaining({ labels: { code: "CANCEL_UNDELIVERED" }, value: 1 }),
    ]);
    // The truth of the record: the prompt is still there once the instance answers again.
    server.script.thaw();
    const queue = (await fetch(`${server.url}/queue`).then((r) => r.json())) as {
      queue_running: unknown[];
    };
    expect(JSON.stringify(queue.queue_running)).toContain(String(promptId));
    server.script.interrupt();
  }, 60_000);
});
