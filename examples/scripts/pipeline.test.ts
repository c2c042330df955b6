/**
 * Testing your own pipeline in CI, with no GPU: validate it offline against the schema it was
 * generated from, then run it on the test server, including a scripted failure.
 *
 *   npx vitest run examples/scripts/pipeline.test.ts
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { ComfyClient, ExecutionFailedError } from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import { workflow } from "comfyc";
import { EmptyImage, ImageInvert, PreviewAny, SaveImage } from "../../generated/core.js";
import txt2img from "../sd15-txt2img.js";

let server: TestServer;
let client: ComfyClient;
beforeAll(async () => {
  server = await startTestServer();
  client = new ComfyClient({ url: server.url });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

test("the graph is valid for every batch size we offer", () => {
  for (const batch of [1, 4, 8]) expect(() => txt2img.compile({ batch })).not.toThrow();
});

test("it saves one PNG per batch item", async () => {
  const result = await client.run(txt2img, { params: { batch: 2, width: 128, height: 128 } });
  expect(result.files.filter((f) => f.type === "output")).toHaveLength(2);
});

test("a sampler failure surfaces as a typed error naming the node", async () => {
  server.script.node("KSampler", { fail: { exceptionType: "torch.OutOfMemoryError" } });
  try {
    const error = await client.run(txt2img, { params: { seed: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect((error as ExecutionFailedError).nodeType).toBe("KSampler");
  } finally {
    server.script.clearNodes();
  }
});

test("outputs are typed from the node handles", async () => {
  const wf = workflow();
  const image = wf.add(EmptyImage, { width: 32, height: 16, batch_size: 3 });
  const saved = wf.add(SaveImage, {
    images: wf.add(ImageInvert, { image }),
    filename_prefix: "ci/t",
  });
  const shown = wf.add(PreviewAny, { source: image });
  const result = await client.run(wf);
  // `images` is `readonly UiFile[]` and `text` is `readonly string[]`, checked when read.
  expect(result.output(saved)?.images.map((f) => f.filename)).toEqual([
    "t_00001_.png",
    "t_00002_.png",
    "t_00003_.png",
  ]);
  // PreviewAny shows the IMAGE tensor as torch prints it: 3 × 16 × 32 × 3 values of 0.0, so
  // summarised with "..." and in integer mode.
  const [text] = result.output(shown)?.text ?? [];
  expect(text).toMatch(/^tensor\(\[\[\[\[0\., 0\., 0\.\],/);
  expect(text).toContain("...");
});
