/**
 * Comfy API v2 uploads on the gateway: `POST /api/v2/assets` (multipart) stores the bytes
 * through the storage interface, a `POST /api/v2/jobs` workflow references them as `core/ASSET`
 * objects, and the worker that takes the job puts the file on its instance. Every response is
 * validated against the v2 OpenAPI document (test/comfy-api-v2-openapi.ts), and the runtime's
 * own v2 client (written for Comfy Cloud) runs an upload job through the gateway.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { fileBytes, workflow } from "../../src/index.js";
import { ComfyClient } from "../../src/runtime/client.js";
import { ImageInvert, LoadImage, SaveImage } from "../../generated/core.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey } from "../../src/gateway/keys.js";
import { decodePng, encodePng, invert, toRgba } from "../../src/testing/images.js";
import type { TestServer } from "../../src/testing/app.js";
import { Cluster } from "../scale/cluster.js";
import { v2ResponseProblems } from "../comfy-api-v2-openapi.js";
import { tempDir } from "../helpers.js";

const LIMIT = 4096;
let cluster: Cluster;
let server: TestServer;
let gateway: Gateway;
let base: string;
const keys: Record<string, string> = {};
/** Responses of this test not yet checked against the document. */
const unchecked: Promise<string[]>[] = [];

beforeAll(async () => {
  cluster = await Cluster.start();
  server = await cluster.addServer();
  await cluster.addWorker(server);
  const keysFile = join(tempDir("comfyc-gw-assets-"), "keys.json");
  for (const name of ["alice", "bob"]) keys[name] = (await addKey(keysFile, { name })).key;
  keys["limited"] = (await addKey(keysFile, { name: "limited", workflows: ["x"] })).key;
  gateway = await createGateway({
    redis: cluster.redis.url,
    workflows: [],
    keysFile,
    storage: cluster.storage,
    uploadLimitBytes: LIMIT,
    logger: false,
  });
  base = await gateway.listen({ port: 0 });
}, 60_000);

afterEach(async () => expect((await Promise.all(unchecked.splice(0))).flat()).toEqual([]));

afterAll(async () => {
  await gateway?.close();
  await cluster?.close();
});

/** A 4×4 PNG whose pixels depend on `seed`. */
function png(seed: number): Buffer {
  const rgba = Buffer.alloc(64);
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = (seed * 29 + i) & 255;
    rgba[i + 1] = (seed * 5 + i * 7) & 255;
    rgba[i + 2] = (seed * 17) & 255;
    rgba[i + 3] = 255;
  }
  return encodePng(4, 4, rgba);
}

const auth = (name = "alice") => ({ authorization: `Bearer ${keys[name]}` });

/** Calls the gateway; the response is checked against the operation in the v2 document. */
async function call(
  operationId: string,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: FormData | unknown,
  headers: Record<string, string> = auth(),
): Promise<{ status: number; json: any; bytes: Buffer; headers: Headers }> {
  const form = body instanceof FormData;
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...headers,
      ...(body !== undefined && !form ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: form ? body : JSON.stringify(body) } : {}),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json = res.headers.get("content-type")?.startsWith("application/json")
    ? JSON.parse(bytes.toString("utf8"))
    : undefined;
  unchecked.push(
    v2ResponseProblems(
      operationId,
      res.status,
      json,
      Object.fromEntries(res.headers.entries()),
    ).then((p) => p.map((x) => `${x} (${bytes.toString("utf8").slice(0, 200)})`)),
  );
  return { status: res.status, json, bytes, headers: res.headers };
}

function assetForm(bytes: Buffer, fields: Record<string, string | string[]> = {}): FormData {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type: "image/png" }), "photo.png");
  const all = { content_type: "image/png", file_path: "photo.png", tags: ["input"], ...fields };
  for (const [name, value] of Object.entries(all))
    for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
  return form;
}

/** LoadImage(asset) → ImageInvert → SaveImage, as an API-format graph. */
function invertGraph(image: unknown, prefix: string): Record<string, unknown> {
  return {
    "1": { class_type: "LoadImage", inputs: { image } },
    "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
    "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: prefix } },
  };
}

const ref = (id: string) => ({ __type: "core/ASSET", info: { id, file_path: "photo.png" } });

/** The job succeeded and its output is `input` inverted: the worker's instance got the bytes. */
async function expectInverted(id: string, input: Buffer): Promise<void> {
  const record = await cluster.queue.waitFor(id, { timeoutMs: 30_000 });
  expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
  const out = toRgba(decodePng(await cluster.stored(record.outputs![0]!.key)).image.frames[0]!);
  expect(out).toEqual(toRgba(invert(decodePng(input).image).frames[0]!));
}

describe("Comfy API v2 assets on the gateway", { timeout: 60_000 }, () => {
  test("an uploaded asset is referenced by a job, whose worker loads its bytes", async () => {
    const bytes = png(1);
    const up = await call("postAssets", "POST", "/api/v2/assets", assetForm(bytes));
    expect(up.status).toBe(201);
    expect(up.json).toMatchObject({
      size_bytes: bytes.length,
      content_type: "image/png",
      file_path: "photo.png",
      created_new: true,
    });
    expect(up.json.url).toBe(`${base}/api/v2/assets/${up.json.id}/content`);
    // Stored through the storage interface, content-addressed.
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    expect(await cluster.stored(`inputs/${sha256}.png`)).toEqual(bytes);

    const read = await call("getAsset", "GET", `/api/v2/assets/${up.json.id}`);
    expect(read.json.id).toBe(up.json.id);
    const content = await call("getAssetContent", "GET", `/api/v2/assets/${up.json.id}/content`);
    expect([content.status, content.headers.get("content-type")]).toEqual([
      200,
      "application/octet-stream",
    ]);
    expect(content.bytes).toEqual(bytes);

    const uploadsBefore = server.requests.filter((r) => /\/upload\/image$/.test(r)).length;
    const job = await call("postJobs", "POST", "/api/v2/jobs", {
      workflow: invertGraph(ref(up.json.id), "gw/v2asset"),
    });
    expect(job.status, JSON.stringify(job.json)).toBe(201);
    await expectInverted(job.json.id, bytes);
    expect(server.requests.filter((r) => /\/upload\/image$/.test(r)).length).toBe(
      uploadsBefore + 1,
    );
    const done = await call("getJob", "GET", job.json.urls.self);
    expect(done.json.status).toBe("succeeded");
  });

  test("the gateway's own /openapi.json describes the upload form", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
    const form = doc.paths["/api/v2/assets"].post.requestBody.content["multipart/form-data"].schema;
    expect(form.required).toEqual(["file", "content_type", "file_path"]);
    expect(form.properties.file).toMatchObject({ type: "string", format: "binary" });
  });

  test("the same bytes again are a 200 dedup hit with a new asset id", async () => {
    const first = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(2)));
    const again = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(2)));
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.json.created_new).toBe(false);
    expect(again.json.id).not.toBe(first.json.id);
  });

  test("bad forms are 422 listing every problem; over --upload-limit is 422 payload_too_large", async () => {
    const form = new FormData();
    form.append("file", new Blob([png(3)]), "x.png");
    const missing = await call("postAssets", "POST", "/api/v2/assets", form);
    expect([missing.status, missing.json.error.code]).toEqual([422, "invalid_request"]);
    expect(missing.json.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "content_type",
      "file_path",
    ]);
    const noFile = new FormData();
    noFile.append("content_type", "image/png");
    noFile.append("file_path", "a.png");
    const empty = await call("postAssets", "POST", "/api/v2/assets", noFile);
    expect(empty.json.error.details.issues).toEqual([
      { path: "file", message: "the file part is missing" },
    ]);
    const badExpiry = await call(
      "postAssets",
      "POST",
      "/api/v2/assets",
      assetForm(png(3), { expires_in: "5" }),
    );
    expect(badExpiry.json.error.details.issues[0].path).toBe("expires_in");
    const big = await call(
      "postAssets",
      "POST",
      "/api/v2/assets",
      assetForm(Buffer.alloc(LIMIT + 1, 7)),
    );
    expect([big.status, big.json.error.code, big.json.error.details.limit_bytes]).toEqual([
      422,
      "payload_too_large",
      LIMIT,
    ]);
    const json = await call("postAssets", "POST", "/api/v2/assets", { file: "x" });
    expect(json.status).toBe(422);
  });

  test("assets belong to their key: others get 404 and missing_asset; no key 401, a limited key 403", async () => {
    const up = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(4)));
    expect(up.status).toBe(201);
    const other = await call(
      "getAsset",
      "GET",
      `/api/v2/assets/${up.json.id}`,
      undefined,
      auth("bob"),
    );
    expect(other.status).toBe(404);
    const stolen = await call(
      "postJobs",
      "POST",
      "/api/v2/jobs",
      { workflow: invertGraph(ref(up.json.id), "gw/stolen") },
      auth("bob"),
    );
    expect([stolen.status, stolen.json.error.code]).toEqual([422, "missing_asset"]);
    expect(stolen.json.error.details.asset_ids).toEqual([up.json.id]);
    const malformed = await call("postJobs", "POST", "/api/v2/jobs", {
      workflow: invertGraph({ __type: "core/ASSET", info: {} }, "gw/bad"),
    });
    expect([malformed.status, malformed.json.error.code]).toEqual([422, "missing_asset"]);
    expect((await call("postAssets", "POST", "/api/v2/assets", assetForm(png(4)), {})).status).toBe(
      401,
    );
    expect(
      (await call("postAssets", "POST", "/api/v2/assets", assetForm(png(4)), auth("limited")))
        .status,
    ).toBe(403);
  });

  test("Idempotency-Key is single-use; a failed upload frees it", async () => {
    const headers = { ...auth(), "idempotency-key": `asset-${Date.now()}` };
    const bad = await call("postAssets", "POST", "/api/v2/assets", new FormData(), headers);
    expect(bad.status).toBe(422);
    const first = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(5)), headers);
    expect(first.status).toBe(201);
    const second = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(5)), headers);
    expect([second.status, second.json.error.code]).toEqual([422, "idempotency_key_reuse"]);
  });

  test("a deleted asset is gone (404), and jobs can no longer reference it", async () => {
    const up = await call("postAssets", "POST", "/api/v2/assets", assetForm(png(6)));
    const del = await call("deleteAsset", "DELETE", `/api/v2/assets/${up.json.id}`);
    expect(del.status).toBe(204);
    expect((await call("deleteAsset", "DELETE", `/api/v2/assets/${up.json.id}`)).status).toBe(404);
    expect((await call("getAsset", "GET", `/api/v2/assets/${up.json.id}`)).status).toBe(404);
    const job = await call("postJobs", "POST", "/api/v2/jobs", {
      workflow: invertGraph(ref(up.json.id), "gw/deleted"),
    });
    expect(job.json.error.code).toBe("missing_asset");
  });

  test("the runtime's v2 client uploads fileBytes() as an asset and runs the job through the gateway", async () => {
    const bytes = png(7);
    const client = new ComfyClient({ url: base, api: "v2", auth: { bearer: keys["alice"]! } });
    try {
      const wf = workflow();
      const loaded = wf.add(LoadImage, { image: fileBytes(bytes, "seven.png") });
      wf.add(SaveImage, {
        images: wf.add(ImageInvert, { image: loaded.IMAGE }).IMAGE,
        filename_prefix: "gw/v2client",
      });
      const result = await client.run(wf);
      const images = result.files.filter((f) => f.kind === "image");
      expect(images).toHaveLength(1);
      const [saved] = await client.saveOutputs(result, tempDir("comfyc-gw-v2client-"));
      const out = toRgba(decodePng(await readFile(saved!)).image.frames[0]!);
      expect(out).toEqual(toRgba(invert(decodePng(bytes).image).frames[0]!));
    } finally {
      await client.close();
    }
  });
});
