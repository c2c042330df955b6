import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../../src/testing/index.js";
import { get, post } from "./ws-helper.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

// Classes that really execute in the simulation, fed hostile inputs.
const classes = [
  "EmptyImage",
  "ImageInvert",
  "ImageScale",
  "ImageBatch",
  "SaveImage",
  "PreviewImage",
  "PreviewAny",
  "PrimitiveInt",
  "LoadImage",
  "KSampler",
  "VAEDecode",
];
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.tuple(fc.constantFrom("1", "2", "3", "9"), fc.integer({ min: -1, max: 3 })),
);
const node = fc.record({
  class_type: fc.constantFrom(...classes),
  inputs: fc.dictionary(
    fc.constantFrom(
      "image",
      "images",
      "width",
      "height",
      "batch_size",
      "source",
      "value",
      "upscale_method",
      "filename_prefix",
      "samples",
      "vae",
      "crop",
      "image1",
      "image2",
    ),
    value,
  ),
});
const prompt = fc.dictionary(fc.constantFrom("1", "2", "3"), node, { minKeys: 1 });

test("hostile prompts and bodies never take the server down", async () => {
  const accepted: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(prompt, fc.jsonValue({ maxDepth: 3 })),
      fc.boolean(),
      async (p, wrap) => {
        const res = await post(`${server.url}/prompt`, wrap ? { prompt: p } : p);
        // 500 is faithful where ComfyUI's handler raises (prompt not iterable, §2.1).
        expect([200, 400, 500]).toContain(res.status);
        if (res.status === 200) accepted.push(res.body.prompt_id);
        if (res.status === 400) expect(typeof res.body.error).toBe("object");
        if (res.status === 500) expect(res.type).toMatch(/^text\/plain/);
      },
    ),
    // Seeded: the same 300 hostile bodies on every run (a failure is reproducible as it is).
    { numRuns: 300, seed: 20261130 },
  );
  // Every accepted prompt ran to an end, and the server still works normally.
  await Promise.all(accepted.map((id) => server.finished(id)));
  const q = (await get(`${server.url}/queue`)).body;
  expect([q.queue_running, q.queue_pending]).toEqual([[], []]);
  expect((await get(`${server.url}/system_stats`)).status).toBe(200);
  const ok = await post(`${server.url}/prompt`, {
    prompt: {
      "1": { class_type: "EmptyImage", inputs: { width: 3, height: 3, batch_size: 1, color: 7 } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    },
  });
  expect(ok.status).toBe(200);
  await server.finished(ok.body.prompt_id);
  const entry = (await get(`${server.url}/history/${ok.body.prompt_id}`)).body[ok.body.prompt_id];
  expect(entry.status.status_str).toBe("success");
});

test("malformed JSON is a plain-text 500, as aiohttp answers", async () => {
  for (const raw of ["{", "nul", "[1,", '{"prompt": {"1": }']) {
    const res = await post(`${server.url}/prompt`, raw, true);
    expect(res.status).toBe(500);
    expect(res.type).toMatch(/^text\/plain/);
  }
});

// The default release (0.33.0) calls prompt.items() for node replacement (0.14.0+), so an empty
// list or string is a 500 there too; before 0.14.0 they iterate as no nodes (server.test.ts).
test.each([
  [{}, 400, "prompt_no_outputs"],
  [[], 500, undefined],
  ["", 500, undefined],
  [[1], 500, undefined],
  [5, 500, undefined],
  [null, 500, undefined],
  ["abc", 500, undefined],
])("prompt %j: %i %s, as ComfyUI iterates it without a type check", async (p, status, type) => {
  const res = await post(`${server.url}/prompt`, { prompt: p });
  expect(res.status).toBe(status);
  if (type) expect(res.body.error.type).toBe(type);
});
