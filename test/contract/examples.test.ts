import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import type { AnyWorkflow } from "comfyc";
import { ComfyClient } from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import { tempDir } from "../helpers.js";
import hiresFix from "../../examples/hires-fix.js";
import importedTemplate from "../../examples/imported-template.js";
import img2img from "../../examples/img2img.js";
import inpaint from "../../examples/inpaint.js";
import invertImage from "../../examples/invert-image.js";
import loraStack from "../../examples/lora-stack.js";
import sd15 from "../../examples/sd15-txt2img.js";
import sdxlRefiner from "../../examples/sdxl-refiner.js";
import { main as runScript } from "../../examples/scripts/run-on-test-server.js";

let server: TestServer;
let client: ComfyClient;
beforeAll(async () => {
  // The LoRA example names a LoRA file; the server lists it the way a real install would.
  server = await startTestServer({ models: { loras: ["sample_lora.safetensors"] } });
  client = new ComfyClient({ url: server.url });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

/** [example, params, expected saved images as width×height]. */
const cases: [string, AnyWorkflow, Record<string, unknown>, string[]][] = [
  ["sd15-txt2img", sd15, { width: 256, height: 192, batch: 2 }, ["256x192", "256x192"]],
  ["sdxl-refiner", sdxlRefiner, {}, ["1024x1024"]],
  ["img2img", img2img, {}, ["512x512"]],
  ["inpaint", inpaint, {}, ["512x512"]],
  ["lora-stack", loraStack, {}, ["512x512"]],
  ["hires-fix", hiresFix, {}, ["768x768"]],
  // The gateway's image-parameter example, on the server's input/example.png.
  ["invert-image", invertImage, {}, ["512x512"]],
  // The editor's default template, imported with `comfyc import` (see the README).
  ["imported-template", importedTemplate, { prompt: "a lighthouse", steps: 4 }, ["512x512"]],
];

describe("the examples run on the test server", () => {
  test.each(cases)("%s produces real PNG files", async (_name, wf, params, sizes) => {
    // Validate against the server's own schema, which lists its model files.
    const result = await client.run(wf, { params, compile: { schema: server.schema } });
    // Every output node of the graph reports (hires-fix has a preview and a save).
    const report =
      "params" in wf
        ? wf.compileWithReport(params, { schema: server.schema })
        : wf.compileWithReport({ schema: server.schema });
    expect(Object.keys(result.outputs).sort()).toEqual([...report.validation!.outputs].sort());
    const saved = result.files.filter((f) => f.type === "output");
    expect(saved.every((f) => f.kind === "image" && f.filename.endsWith(".png"))).toBe(true);
    const dir = tempDir();
    const got: string[] = [];
    for (const file of saved) {
      const png = PNG.sync.read(readFileSync(await client.save(file, dir)));
      got.push(`${png.width}x${png.height}`);
    }
    expect(got).toEqual(sizes);
    expect(
      saved.every((f) => readFileSync(join(dir, f.subfolder ?? "", f.filename)).length > 0),
    ).toBe(true);
  });
});

test("examples/scripts/run-on-test-server.ts runs and saves a 256×256 PNG", async () => {
  const dir = tempDir();
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line) => void lines.push(String(line)));
  const saved = await runScript(dir).finally(() => log.mockRestore());
  expect(lines.some((line) => line.includes("step 8/8"))).toBe(true);
  expect(saved).toHaveLength(1);
  const png = PNG.sync.read(readFileSync(saved[0]!));
  expect([png.width, png.height]).toEqual([256, 256]);
  expect(saved[0]!.startsWith(dir)).toBe(true);
});
