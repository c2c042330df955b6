/**
 * Comfy API v2 job routes of the gateway, every response validated against the v2 OpenAPI
 * document (test/fixtures/comfy-api-v2/openapi.yaml, a copy of ../shared/comfy-api-v2-openapi.yaml)
 * with openapi-backend; SSE payloads against the document's event schemas with Ajv.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { OpenAPIBackend, SetMatchType } from "openapi-backend";
import { request } from "undici";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey } from "../../src/gateway/keys.js";
import { Cluster, imageGraph } from "../scale/cluster.js";
import { ROOT, tempDir } from "../helpers.js";
import { invert, readSse } from "./helpers.js";

const FIXTURE = join(ROOT, "test", "fixtures", "comfy-api-v2", "openapi.yaml");
const SHARED = join(ROOT, "..", "shared", "comfy-api-v2-openapi.yaml");
const definition = nullableAllOf(parse(readFileSync(FIXTURE, "utf8"))) as Record<string, any>;

/**
 * Ajv reads OpenAPI 3.0's `nullable: true` only beside a `type`. The document also writes it
 * beside `allOf` (`Job.progress`, `Job.error`); rewrite those as `anyOf [the schema, null]`,
 * which is what OpenAPI 3.0.3 means by it.
 */
function nullableAllOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableAllOf);
  if (node === null || typeof node !== "object") return node;
  const o = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, nullableAllOf(v)]));
  if (o["nullable"] === true && o["type"] === undefined && Array.isArray(o["allOf"])) {
    const { nullable: _n, allOf, ...rest } = o;
    return { ...rest, anyOf: [{ allOf }, { enum: [null] }] };
  }
  return o;
}

const api = new OpenAPIBackend({
  definition: structuredClone(definition) as never,
  strict: false,
  customizeAjv: (ajv) => {
    addFormats.default(ajv as unknown as Ajv);
    return ajv;
  },
});
const events = new Ajv({ strict: false, allErrors: true });
addFormats.default(events);
// Each event schema on its own, with the components it refers to (Ajv reads OpenAPI 3.0's
// `nullable` beside a `type`; the Job schema's `allOf` + `nullable` it does not, so not the whole document).
const components = { schemas: definition.components.schemas };
const eventSchema = (name: string) =>
  events.compile({
    ...structuredClone(components.schemas[name]),
    components: structuredClone(components),
  });

let cluster: Cluster;
let gateway: Gateway;
let base: string;
let key: string;
let limited: string;

beforeAll(async () => {
  await api.init();
  cluster = await Cluster.start();
  await cluster.addWorker(await cluster.addServer());
  const keysFile = join(tempDir("comfyc-gw-v2-"), "keys.json");
  key = (await addKey(keysFile, { name: "v2" })).key;
  limited = (await addKey(keysFile, { name: "limited", workflows: ["invert"] })).key;
  gateway = await createGateway({
    redis: cluster.redis.url,
    workflows: [{ workflow: invert }],
    keysFile,
    storage: cluster.storage,
    logger: false,
  });
  base = await gateway.listen({ port: 0 });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await cluster?.close();
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
  const valid = api.validateResponse(json, operationId, res.statusCode);
  expect(valid.errors ?? [], `${operationId} ${res.statusCode}: ${text}`).toEqual([]);
  const declared = definition.paths;
  const op = Object.values(declared)
    .flatMap((p: any) => Object.values(p))
    .find((o: any) => o.operationId === operationId) as any;
  expect(
    Object.keys(op.responses),
    `${operationId} answered an undocumented ${res.statusCode}`,
  ).toContain(String(res.statusCode));
  const hdrs = api.validateResponseHeaders(res.headers, operationId, {
    statusCode: res.statusCode,
    setMatchType: SetMatchType.Superset,
  });
  expect(hdrs.errors ?? []).toEqual([]);
  return { status: res.statusCode, json, headers: res.headers };
}

describe("Comfy API v2 job routes", () => {
  test("the fixture is the shared document", () => {
    if (!existsSync(SHARED)) {
      console.log(
        "skip: ../shared/comfy-api-v2-openapi.yaml not present (the fixture copy is used)",
      );
      return;
    }
    expect(readFileSync(FIXTURE, "utf8")).toBe(readFileSync(SHARED, "utf8"));
  });

  test("submit, poll to success, outputs as absolute URLs that download", async () => {
    const created = await v2("postJobs", "POST", "/api/v2/jobs", {
      workflow: imageGraph(16, "v2/ok").compile(),
    });
    expect(created.status).toBe(201);
    expect(["queued", "running", "succeeded"]).toContain(created.json.status);
    const { events: stream } = await readSse(`${base}${created.json.urls.events}`, {
      authorization: `Bearer ${key}`,
    });
    const schemas = {
      status: eventSchema("StatusEvent"),
      progress: eventSchema("Progress"),
      output: eventSchema("Output"),
    };
    for (const e of stream) {
      const schema = schemas[e.event as keyof typeof schemas];
      expect(schema(e.data), `${e.event}: ${JSON.stringify(schema.errors)}`).toBe(true);
      expect(e.id).toBeUndefined();
    }
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
