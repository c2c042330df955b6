/**
 * Comfy API v2 job routes of the gateway, every response validated against the v2 OpenAPI
 * document (test/fixtures/comfy-api-v2/openapi.yaml, a copy of ../shared/comfy-api-v2-openapi.yaml)
 * with openapi-backend; SSE payloads against the document's event schemas with Ajv.
 */
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { Cluster, imageGraph } from "../scale/cluster.js";
import { v2Contract, v2ResponseProblems } from "../comfy-api-v2-openapi.js";
import { GatewayContract, readSse, startGatewayCluster, type GatewayCluster } from "./helpers.js";

let cluster: Cluster;
const contract = new GatewayContract();
let base: string;
let key: string;
let limited: string;

let started: GatewayCluster | undefined;

beforeAll(async () => {
  started = await startGatewayCluster({
    keys: [{ name: "v2" }, { name: "limited", workflows: ["invert"] }],
    contract,
  });
  ({ cluster, base } = started);
  [key, limited] = started.keys as [string, string];
}, 60_000);

afterEach(async () => expect(await contract.problems()).toEqual([]));

afterAll(async () => {
  await started?.close();
});

/** Calls the gateway and validates the response against the operation's OpenAPI response. */
async function v2(
  operationId: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${key}` },
): Promise<{ status: number; json: any; headers: Record<string, unknown> }> {
  const res = await request(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  const json = text ? JSON.parse(text) : undefined;
  expect(
    await v2ResponseProblems(operationId, res.statusCode, json, res.headers),
    `${operationId} ${res.statusCode}: ${text}`,
  ).toEqual([]);
  return { status: res.statusCode, json, headers: res.headers };
}

describe("Comfy API v2 job routes", () => {
  test("submit, poll to success, outputs as absolute URLs that download", async () => {
    const created = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: imageGraph(16, "v2/ok").compile(),
    });
    expect(created.status).toBe(201);
    expect(["queued", "running", "succeeded"]).toContain(created.json.status);
    const { events: stream } = await readSse(`${base}${created.json.urls.events}`, {
      authorization: `Bearer ${key}`,
    });
    // Every payload has the shape the document's x-sse-events gives for its event.
    expect(
      stream.flatMap((e) => v2Contract.eventProblems("/api/v2/jobs/{id}/events", e.event, e.data)),
    ).toEqual([]);
    expect(stream.map((e) => e.id).filter((id) => id !== undefined)).toEqual([]);
    expect(stream[0]!.event).toBe("status");
    expect(stream.at(-1)).toMatchObject({ event: "status", data: { status: "succeeded" } });
    const job = await v2("getJob", "GET", created.json.urls.self);
    expect(job.json.status).toBe("succeeded");
    expect(job.json.outputs).toHaveLength(1);
    const out = job.json.outputs[0];
    expect(out.url.startsWith(base)).toBe(true);
    const file = await request(out.url, { headers: { authorization: `Bearer ${key}` } });
    expect(file.statusCode).toBe(200);
    expect(Buffer.from(await file.body.arrayBuffer()).length).toBe(out.size_bytes);
  });

  test("a UI-format workflow, a broken link and an empty graph are 422s", async () => {
    const ui = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: { nodes: [], links: [], last_node_id: 0 },
    });
    expect([ui.status, ui.json.error.code]).toEqual([422, "workflow_format_ui"]);
    const broken = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: { "1": { class_type: "SaveImage", inputs: { images: ["9", 0] } } },
    });
    expect([broken.status, broken.json.error.code]).toEqual([422, "invalid_workflow"]);
    const empty = await v2("postJobs", "POST", "/api/v2/jobs", { workflow: {} });
    expect(empty.status).toBe(422);
    const reserved = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: imageGraph().compile(),
      webhook_url: "http://x",
    });
    expect(reserved.status).toBe(422);
    const unknownClass = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: { "1": { class_type: "NoSuchNode", inputs: {} } },
    });
    expect([unknownClass.status, unknownClass.json.error.code]).toEqual([422, "invalid_workflow"]);
    expect(unknownClass.json.error.message).toMatch(/NoSuchNode/);
    expect(unknownClass.json.error.message).not.toMatch(/127\.0\.0\.1/);
  });

  test("Idempotency-Key is single-use: a second use is 422 idempotency_key_reuse", async () => {
    const headers = { authorization: `Bearer ${key}`, "idempotency-key": `v2-${Date.now()}` };
    const body = { workflow: imageGraph(24, "v2/idem").compile() };
    const first = await v2("postJobs", "POST", "/api/v2/jobs", body, headers);
    const second = await v2("postJobs", "POST", "/api/v2/jobs", body, headers);
    expect(first.status).toBe(201);
    expect([second.status, second.json.error.code]).toEqual([422, "idempotency_key_reuse"]);
  });

  test("cancel answers the job; unknown ids, other keys and no key are 404/403/401", async () => {
    for (const s of cluster.servers) s.script.node("ImageInvert", { durationMs: 1500 });
    try {
      const created = await v2("postJobs", "POST", "/api/v2/jobs", {
        workflow: imageGraph(32, "v2/cancel").compile(),
      });
      const cancelled = await v2("cancelJob", "POST", created.json.urls.cancel);
      expect(["canceled", "canceling"]).toContain(cancelled.json.status);
      const again = await v2("cancelJob", "POST", created.json.urls.cancel);
      expect(["canceled", "canceling", "failed"]).toContain(again.json.status);
    } finally {
      for (const s of cluster.servers) s.script.clearNodes();
    }
    expect((await v2("getJob", "GET", "/api/v2/jobs/no-such-job")).status).toBe(404);
    expect((await v2("getJob", "GET", "/api/v2/jobs/x", undefined, {})).status).toBe(401);
    const forbidden = await v2(
      "postJobs",
      "POST",
      "/api/v2/jobs",
      { workflow: imageGraph().compile() },
      { authorization: `Bearer ${limited}` },
    );
    expect(forbidden.status).toBe(403);
  });
});
