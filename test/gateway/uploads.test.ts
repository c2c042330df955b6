import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { defineWorkflow } from "../../src/builder/define-workflow.js";
import { imageParam } from "../../src/builder/image-param.js";
import { ImageInvert, LoadImage, SaveImage } from "../../generated/core.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey } from "../../src/gateway/keys.js";
import { decodePng, encodePng, invert, toRgba } from "../../src/testing/images.js";
import type { TestServer } from "../../src/testing/app.js";
import { Cluster } from "../scale/cluster.js";
import { tempDir } from "../helpers.js";
import { GatewayContract } from "./helpers.js";

/** LoadImage(image parameter) → ImageInvert → SaveImage. */
const invertImage = defineWorkflow(
  {
    name: "invert-image",
    description: "Inverts the image it is given",
    params: z.object({
      image: imageParam().describe("The image to invert"),
      prefix: z.string().default("gw/upload"),
    }),
  },
  (wf, p) => {
    const photo = wf.add(LoadImage, { image: p.image });
    wf.add(SaveImage, {
      images: wf.add(ImageInvert, { image: photo.IMAGE }),
      filename_prefix: p.prefix,
    });
  },
);

/** Image parameters beside an object-level refinement (zod cannot `.extend()` such an object). */
const refined = defineWorkflow(
  {
    name: "refined",
    params: z
      .object({ image: imageParam(), copies: z.number().int().default(1) })
      .refine((p) => p.copies <= 2, { message: "at most 2 copies", path: ["copies"] }),
  },
  (wf, p) => {
    const photo = wf.add(LoadImage, { image: p.image });
    for (let i = 0; i < p.copies; i++)
      wf.add(SaveImage, { images: photo.IMAGE, filename_prefix: `gw/refined${i}` });
  },
);

/** A 4×4 PNG whose pixels depend on `seed`. */
function png(seed: number): Buffer {
  const rgba = Buffer.alloc(64);
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = (seed * 41 + i) & 255;
    rgba[i + 1] = (seed * 7 + i * 3) & 255;
    rgba[i + 2] = (seed * 13) & 255;
    rgba[i + 3] = 255;
  }
  return encodePng(4, 4, rgba);
}

const LIMIT = 4096;
let cluster: Cluster;
let server: TestServer;
let gateway: Gateway;
let base: string;
let images: Server;
let imagesBase: string;
let key: string;
/** Paths the image host served, in order. */
const fetched: string[] = [];
const contract = new GatewayContract();

beforeAll(async () => {
  cluster = await Cluster.start();
  server = await cluster.addServer();
  await cluster.addWorker(server);
  // An image host: /images/ is allow-listed, /private/ is not.
  images = createServer((req, res) => {
    const url = req.url ?? "";
    fetched.push(url);
    if (url === "/images/cat.png") return res.writeHead(200).end(png(2));
    if (url === "/images/hop.png") return res.writeHead(302, { location: "/images/cat.png" }).end();
    if (url === "/images/escape.png")
      return res.writeHead(302, { location: "/private/secret.png" }).end();
    if (url === "/private/secret.png") return res.writeHead(200).end(png(3));
    if (url === "/images/huge.png") {
      // No Content-Length: the limit must hold while streaming.
      res.writeHead(200, { "transfer-encoding": "chunked" });
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024, 1));
      return res.end();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => images.listen(0, "127.0.0.1", resolve));
  imagesBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  const keysFile = join(tempDir("comfyc-gw-up-"), "keys.json");
  key = (await addKey(keysFile, { name: "uploader" })).key;
  gateway = await createGateway({
    redis: cluster.redis.url,
    workflows: [{ workflow: invertImage }, { workflow: refined }],
    keysFile,
    storage: cluster.storage,
    allowUrlPrefixes: [`${imagesBase}/images`],
    uploadLimitBytes: LIMIT,
    logger: false,
  });
  contract.watch(gateway);
  base = await gateway.listen({ port: 0 });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => images?.close(resolve));
  await cluster?.close();
});

afterEach(async () => expect(await contract.problems()).toEqual([]));

const auth = () => ({ authorization: `Bearer ${key}` });
const uploads = () =>
  server.requests.filter((r) => /^POST (\/api)?\/upload\/image$/.test(r)).length;

async function submitJson(body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/v1/workflows/invert-image/jobs`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function submitForm(form: FormData): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/v1/workflows/invert-image/jobs`, {
    method: "POST",
    headers: auth(),
    body: form,
  });
  return { status: res.status, json: await res.json() };
}

/** The job ran and its output is `input` inverted: the worker's instance got those bytes. */
async function expectInverted(id: string, input: Buffer): Promise<void> {
  const record = await cluster.queue.waitFor(id, { timeoutMs: 30_000 });
  expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
  // Saved as ComfyUI saves 1.0 - x: the float32 product truncated (see src/testing/images.ts).
  const out = toRgba(decodePng(await cluster.stored(record.outputs![0]!.key)).image.frames[0]!);
  expect(out).toEqual(toRgba(invert(decodePng(input).image).frames[0]!));
}

describe("image parameters on the gateway", { timeout: 60_000 }, () => {
  test("a multipart file part is stored, queued and uploaded to the worker's instance", async () => {
    const before = uploads();
    const form = new FormData();
    form.append("params", JSON.stringify({ prefix: "gw/mp" }));
    form.append("image", new Blob([png(1)], { type: "image/png" }), "cat.png");
    const res = await submitForm(form);
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    await expectInverted(res.json.id, png(1));
    expect(uploads()).toBe(before + 1);
  });

  test("an allow-listed URL is fetched (following a redirect that stays on the list)", async () => {
    for (const path of ["/images/cat.png", "/images/hop.png"]) {
      const res = await submitJson({ params: { image: `${imagesBase}${path}` } });
      expect(res.status, JSON.stringify(res.json)).toBe(202);
      await expectInverted(res.json.id, png(2));
    }
  });

  test("an Idempotency-Key replay returns the same job without fetching the image again", async () => {
    const send = (image: string) =>
      fetch(`${base}/v1/workflows/invert-image/jobs`, {
        method: "POST",
        headers: { ...auth(), "content-type": "application/json", "idempotency-key": "img-1" },
        body: JSON.stringify({ params: { image } }),
      });
    const url = `${imagesBase}/images/cat.png`;
    const before = fetched.length;
    const first = await send(url);
    expect(first.status).toBe(202);
    const again = await send(url);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const [a, b] = [(await first.json()) as { id: string }, (await again.json()) as { id: string }];
    expect(b.id).toBe(a.id);
    expect(fetched.length).toBe(before + 1);
    const other = await send(`${imagesBase}/images/hop.png`);
    expect(other.status).toBe(409);
    await expectInverted(a.id, png(2));
  });

  test("a URL off the allow-list, or a redirect off it, is a 422 naming the rule", async () => {
    const off = await submitJson({ params: { image: `${imagesBase}/private/secret.png` } });
    expect(off.status).toBe(422);
    expect(off.json.error.code).toBe("invalid_request");
    expect(off.json.error.details.issues[0].path).toBe("params.image");
    expect(off.json.error.details.issues[0].message).toContain("--allow-url-prefix");
    // A look-alike host is not under the prefix either.
    const alike = await submitJson({
      params: { image: `${imagesBase}/imagesX/cat.png` },
    });
    expect(alike.status).toBe(422);
    const escape = await submitJson({ params: { image: `${imagesBase}/images/escape.png` } });
    expect(escape.status).toBe(422);
    expect(escape.json.error.message).toContain("redirected to");
    expect(escape.json.error.message).toContain("--allow-url-prefix");
  });

  test("an image over the upload limit is a 413 naming the limit, uploaded or fetched", async () => {
    const form = new FormData();
    form.append("image", new Blob([Buffer.alloc(LIMIT + 1, 7)]), "big.png");
    const uploaded = await submitForm(form);
    expect(uploaded.status).toBe(413);
    expect(uploaded.json.error).toMatchObject({
      code: "payload_too_large",
      details: { limit_bytes: LIMIT, path: "params.image" },
    });
    expect(uploaded.json.error.message).toContain(String(LIMIT));
    const fetched = await submitJson({ params: { image: `${imagesBase}/images/huge.png` } });
    expect(fetched.status).toBe(413);
    expect(fetched.json.error.details.limit_bytes).toBe(LIMIT);
  });

  test("a missing image, a file part for no image parameter and bad params JSON are 422s", async () => {
    const missing = await submitJson({ params: {} });
    expect(missing.status).toBe(422);
    expect(missing.json.error.details.issues.map((i: { path: string }) => i.path)).toContain(
      "params.image",
    );
    const form = new FormData();
    form.append("params", "{not json");
    form.append("photo", new Blob([png(1)]), "x.png");
    const bad = await submitForm(form);
    expect(bad.status).toBe(422);
    expect(bad.json.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "params",
      "photo",
    ]);
  });

  test("an image parameter sent as a text field is a 422 saying to send a file part", async () => {
    const form = new FormData();
    form.append("image", "cat.png");
    const res = await submitForm(form);
    expect(res.status).toBe(422);
    expect(res.json.error.details.issues).toEqual([
      {
        path: "params.image",
        message:
          "send the image as a file part (curl -F image=@photo.png), or its URL inside params",
      },
    ]);
  });

  test("a workflow whose parameters carry a refinement takes images too, and its refinement holds", async () => {
    const url = `${base}/v1/workflows/refined/jobs`;
    const send = (copies: number) =>
      fetch(url, {
        method: "POST",
        headers: { ...auth(), "content-type": "application/json" },
        body: JSON.stringify({ params: { image: `${imagesBase}/images/cat.png`, copies } }),
      });
    const bad = await send(3);
    expect(bad.status).toBe(422);
    const good = await send(2);
    expect(good.status).toBe(202);
    const record = await cluster.queue.waitFor(((await good.json()) as { id: string }).id);
    expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.outputs).toHaveLength(2);
  });

  test("the OpenAPI document describes the multipart body and the image URL", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
    const body = doc.paths["/v1/workflows/invert-image/jobs"].post.requestBody.content;
    expect(Object.keys(body).sort()).toEqual(["application/json", "multipart/form-data"]);
    expect(body["multipart/form-data"].schema.properties.image).toMatchObject({
      type: "string",
      format: "binary",
      contentMediaType: "image/*",
    });
    const list = (await (await fetch(`${base}/v1/workflows`, { headers: auth() })).json()) as any;
    const listed = list.workflows.find((w: { name: string }) => w.name === "invert-image");
    expect(listed.params_schema.properties.image.contentMediaType).toBe("image/*");
  });
});
