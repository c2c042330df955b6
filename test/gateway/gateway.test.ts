import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { defineWorkflow } from "../../src/builder/define-workflow.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey, revokeKey } from "../../src/gateway/keys.js";
import { startRedisServer, type RedisServer } from "../../src/testing/redis.js";
import txt2img from "../../examples/sd15-txt2img.js";
import { tempDir } from "../helpers.js";
import { OpenApiContract } from "../openapi-contract.js";
import { GatewayContract } from "./helpers.js";

/** A workflow whose parameter transforms its value: compile() must see the raw input. */
const echo = defineWorkflow(
  {
    name: "echo",
    description: "one SaveImage",
    params: z.object({ size: z.string().transform((s) => Number(s)) }),
  },
  (wf, p) => {
    const img = wf.$raw("EmptyImage", { width: p.size, height: p.size, batch_size: 1, color: 0 });
    wf.$raw("SaveImage", { images: img.output(0), filename_prefix: "echo" }, { outputNode: true });
  },
);

let redis: RedisServer;
let gateway: Gateway;
let keysFile: string;
const contract = new GatewayContract();
const keys: Record<string, string> = {};

beforeAll(async () => {
  redis = await startRedisServer();
  keysFile = join(tempDir("comfyc-gw-"), "keys.json");
  keys["all"] = (await addKey(keysFile, { name: "all" })).key;
  keys["echo-only"] = (await addKey(keysFile, { name: "echo-only", workflows: ["echo"] })).key;
  keys["slow"] = (
    await addKey(keysFile, { name: "slow", rate: { points: 2, durationSec: 3600 } })
  ).key;
  keys["revoked"] = (await addKey(keysFile, { name: "revoked" })).key;
  await revokeKey(keysFile, "revoked");
  gateway = await createGateway({
    redis: redis.url,
    workflows: [{ workflow: txt2img }, { workflow: echo }],
    keysFile,
    storage: tempDir("comfyc-gw-out-"),
    bodyLimitBytes: 4096,
    webhookHosts: ["hooks.example.com", "127.0.0.1:9999"],
    webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    logger: false,
  });
  contract.watch(gateway);
});

afterEach(async () => expect(await contract.problems()).toEqual([]));

afterAll(async () => {
  await gateway?.close();
  await redis?.stop();
});

const bearer = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
const post = (url: string, payload: unknown, headers: Record<string, string> = bearer("all")) =>
  gateway.app.inject({ method: "POST", url, payload: payload as object, headers });
const body = (res: { body: string }) => JSON.parse(res.body) as Record<string, any>;

describe("authentication", () => {
  test("answers 401 without a key, with an unknown one and with a revoked one", async () => {
    for (const headers of [
      {},
      { authorization: "Bearer cfk_nope" },
      { "x-api-key": keys["revoked"]! },
      { authorization: "Basic abc" },
    ]) {
      const res = await gateway.app.inject({ method: "GET", url: "/v1/workflows", headers });
      expect(res.statusCode).toBe(401);
      expect(body(res).error.code).toBe("unauthorized");
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
  });

  test("accepts the key as a bearer token or as X-API-Key", async () => {
    const a = await gateway.app.inject({
      method: "GET",
      url: "/v1/workflows",
      headers: bearer("all"),
    });
    const b = await gateway.app.inject({
      method: "GET",
      url: "/v1/workflows",
      headers: { "x-api-key": keys["all"]! },
    });
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
  });

  test("answers 403 for a workflow the key may not use, and lists only its own", async () => {
    const res = await post("/v1/workflows/sd15-txt2img/jobs", {}, bearer("echo-only"));
    expect(res.statusCode).toBe(403);
    expect(body(res).error).toMatchObject({
      code: "forbidden",
      details: { workflow: "sd15-txt2img" },
    });
    const list = await gateway.app.inject({
      method: "GET",
      url: "/v1/workflows",
      headers: bearer("echo-only"),
    });
    expect(body(list).workflows.map((w: { name: string }) => w.name)).toEqual(["echo"]);
  });

  test("a key added while the gateway runs works after a reload; a revoked one stops", async () => {
    const { key } = await addKey(keysFile, { name: "late" });
    await gateway.reloadKeys();
    const headers = { authorization: `Bearer ${key}` };
    expect(
      (await gateway.app.inject({ method: "GET", url: "/v1/workflows", headers })).statusCode,
    ).toBe(200);
    await revokeKey(keysFile, "late");
    await gateway.reloadKeys();
    expect(
      (await gateway.app.inject({ method: "GET", url: "/v1/workflows", headers })).statusCode,
    ).toBe(401);
  });
});

describe("typed submission", () => {
  test("lists each workflow with its parameters' JSON Schema", async () => {
    const res = await gateway.app.inject({
      method: "GET",
      url: "/v1/workflows",
      headers: bearer("all"),
    });
    const listed = body(res).workflows as { name: string; endpoint: string; params_schema: any }[];
    expect(listed.map((w) => w.name)).toEqual(["echo", "sd15-txt2img"]);
    const sd = listed.find((w) => w.name === "sd15-txt2img")!;
    expect(sd.endpoint).toBe("/v1/workflows/sd15-txt2img/jobs");
    expect(sd.params_schema.properties.steps).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 150,
      default: 20,
    });
  });

  test("answers 422 listing every problem of a bad body, with its path", async () => {
    const res = await post("/v1/workflows/sd15-txt2img/jobs", {
      params: { steps: 0, seed: -1, stepz: 3, width: 100 },
      webhook: "http://evil.example.org/hook",
      priority: 0,
      extra: true,
    });
    expect(res.statusCode).toBe(422);
    const error = body(res).error;
    expect(error.code).toBe("invalid_request");
    const paths = (error.details.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        "extra",
        "params.seed",
        "params.steps",
        "params.stepz",
        "params.width",
        "priority",
        "webhook",
      ].sort(),
    );
    const webhook = error.details.issues.find((i: { path: string }) => i.path === "webhook");
    expect(webhook.message).toMatch(/not on the webhook allow-list/);
    expect(error.request_id).toBe(res.headers["x-request-id"]);
  });

  test("a webhook URL over 2048 characters is a 422 saying so, even on an allowed host", async () => {
    const url = `http://hooks.example.com/${"a".repeat(2100)}`;
    const res = await post("/v1/workflows/echo/jobs", { params: { size: "8" }, webhook: url });
    expect(res.statusCode).toBe(422);
    expect(body(res).error.details.issues).toEqual([
      {
        path: "webhook",
        message: `callback URLs may be at most 2048 characters, not ${url.length}`,
      },
    ]);
  });

  test("answers 400 for malformed JSON and 413 for a body over the limit, without a stack", async () => {
    const bad = await gateway.app.inject({
      method: "POST",
      url: "/v1/workflows/echo/jobs",
      payload: '{"params": ',
      headers: { ...bearer("all"), "content-type": "application/json" },
    });
    expect(bad.statusCode).toBe(400);
    expect(body(bad).error.code).toBe("invalid_json");
    const big = await post("/v1/workflows/echo/jobs", { params: { size: "x".repeat(5000) } });
    expect(big.statusCode).toBe(413);
    expect(body(big).error.code).toBe("payload_too_large");
    for (const res of [bad, big]) expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  test("answers 404 in the error envelope for an unknown workflow, naming it", async () => {
    const res = await post("/v1/workflows/nope/jobs", {});
    expect(res.statusCode).toBe(404);
    expect(body(res).error.code).toBe("not_found");
    expect(body(res).error.details).toEqual({ workflow: "nope" });
    expect(body(res).error.message).toContain('No workflow "nope"');
    expect(body(res).error.message).toContain("GET /v1/workflows");
    // A served workflow's other paths are plain unmatched routes.
    const other = await gateway.app.inject({ method: "GET", url: "/v1/workflows/echo/jobs" });
    expect(other.statusCode).toBe(404);
    expect(body(other).error.message).toBe("No route GET /v1/workflows/echo/jobs");
  });

  test("a text/plain body is 415 like any body that is not JSON", async () => {
    for (const type of [
      "text/plain",
      "text/plain; charset=utf-8",
      "application/x-www-form-urlencoded",
    ]) {
      const res = await gateway.app.inject({
        method: "POST",
        url: "/v1/workflows/echo/jobs",
        payload: '{"params": {"size": "8"}}',
        headers: { ...bearer("all"), "content-type": type },
      });
      expect([type, res.statusCode, body(res).error.code]).toEqual([
        type,
        415,
        "unsupported_media_type",
      ]);
    }
  });

  test("a multipart body to a workflow without image parameters is 415, not 'expected object'", async () => {
    const boundary = "----comfyc";
    const res = await gateway.app.inject({
      method: "POST",
      url: "/v1/workflows/echo/jobs",
      payload: `--${boundary}\r\ncontent-disposition: form-data; name="params"\r\n\r\n{"size": "8"}\r\n--${boundary}--\r\n`,
      headers: { ...bearer("all"), "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.statusCode).toBe(415);
    expect(body(res).error.code).toBe("unsupported_media_type");
    expect(body(res).error.message).toContain('"echo" has no image parameters');
  });

  test("valid JSON with a __proto__ key is refused saying so, not called malformed alone", async () => {
    const res = await gateway.app.inject({
      method: "POST",
      url: "/v1/workflows/echo/jobs",
      payload: '{"params": {"size": "8", "__proto__": {"x": 1}}}',
      headers: { ...bearer("all"), "content-type": "application/json" },
    });
    expect(res.statusCode).toBe(400);
    expect(body(res).error.code).toBe("invalid_json");
    expect(body(res).error.message).toContain('"__proto__"');
  });
});

describe("rate limits", () => {
  test("the third submission within the window gets 429 with Retry-After", async () => {
    const codes: number[] = [];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await post("/v1/workflows/echo/jobs", { params: {} }, bearer("slow"));
      codes.push(last.statusCode);
    }
    // Rate limits count submissions before their body is checked: bad bodies spend budget too.
    expect(codes).toEqual([422, 422, 429]);
    expect(body(last!).error.code).toBe("rate_limited");
    const retryAfter = Number(last!.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
  });
});

describe("service routes", () => {
  test("/openapi.json describes each workflow's body with its parameter schema and errors", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = body(res);
    expect(doc.openapi).toBe("3.1.0");
    const op = doc.paths["/v1/workflows/sd15-txt2img/jobs"].post;
    const schema = op.requestBody.content["application/json"].schema;
    expect(schema.properties.params.properties.cfg).toMatchObject({ type: "number", maximum: 30 });
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(op.responses).sort()).toEqual([
      "202",
      "400",
      "401",
      "403",
      "409",
      "413",
      "415",
      "422",
      "429",
      "503",
    ]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
  });

  test("/docs serves the viewer without a key", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/docs/" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/swagger/i);
  });

  test("/metrics counts requests by route and status; ids are echoed", async () => {
    const res = await gateway.app.inject({
      method: "GET",
      url: "/v1/workflows",
      headers: { ...bearer("all"), "x-request-id": "trace-123" },
    });
    expect(res.headers["x-request-id"]).toBe("trace-123");
    const metrics = await gateway.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(
      /comfyc_gateway_requests_total\{route="\/v1\/workflows",method="GET",status="200"\} [1-9]/,
    );
    expect(metrics.body).toMatch(
      /comfyc_gateway_request_duration_seconds_count\{route="\/v1\/workflows",method="GET"\} [1-9]/,
    );
  });
});

describe("the OpenAPI contract check", () => {
  test("finds an undeclared status and a body that does not match the gateway's document", async () => {
    const doc = body(await gateway.app.inject({ method: "GET", url: "/openapi.json" }));
    const check = new OpenApiContract(doc);
    const list = check.operationAt("get", "/v1/workflows")!;
    const submitOp = check.operationAt("post", "/v1/workflows/echo/jobs")!;
    expect(await check.responseProblems(list, 418, {})).toEqual([
      "GET /v1/workflows answered 418, which the document does not declare",
    ]);
    const wrong = await check.responseProblems(submitOp, 202, { id: 7, status: "sleeping" });
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.join("\n")).toMatch(/submit_echo 202 body/);
    expect(
      await check.responseProblems(submitOp, 202, {
        id: "a",
        status: "queued",
        links: { self: "/v1/jobs/a", events: "/v1/jobs/a/events", cancel: "/v1/jobs/a/cancel" },
      }),
    ).toEqual([]);
  });
});
