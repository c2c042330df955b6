import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { isComfycError, serializePrompt, type AnyWorkflow } from "comfyc";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { BUNDLED_SCHEMA, fixture, readJson, ROOT } from "../helpers.js";
import hiresFix from "../../examples/hires-fix.js";
import img2img from "../../examples/img2img.js";
import inpaint from "../../examples/inpaint.js";
import loraStack from "../../examples/lora-stack.js";
import sd15 from "../../examples/sd15-txt2img.js";
import sdxlRefiner from "../../examples/sdxl-refiner.js";

const dump = (path: string) => normalizeObjectInfo(readJson(path));
// The bundled schema is the orchestrator dump of Oct 2025 (data/object_info.json).
const orchestrator = dump(BUNDLED_SCHEMA);
const icefairy = dump(fixture("object_info", "oi_2024-04_icefairy_169.json"));

const compileDefault = (
  wf: AnyWorkflow,
  schema = orchestrator,
  params: Record<string, unknown> = {},
) => ("params" in wf ? wf.compile(params, { schema }) : wf.compile({ schema }));

const cases: [string, AnyWorkflow, ReturnType<typeof dump>, Record<string, unknown>][] = [
  ["sd15-txt2img", sd15, orchestrator, {}],
  ["sdxl-refiner", sdxlRefiner, orchestrator, {}],
  ["img2img", img2img, orchestrator, {}],
  ["inpaint", inpaint, orchestrator, {}],
  ["lora-stack", loraStack, icefairy, { checkpoint: "sample_model.safetensors" }],
  ["hires-fix", hiresFix, orchestrator, {}],
];

describe("examples", () => {
  test.each(cases)(
    "%s compiles, validates against a real dump and matches its golden file",
    async (name, wf, schema, params) => {
      const prompt = compileDefault(wf, schema, params);
      const result = validatePrompt(JSON.parse(serializePrompt(prompt)), schema);
      expect(result.valid).toBe(true);
      expect(result.nodeErrors).toEqual({});
      await expect(`${serializePrompt(prompt, 2)}\n`).toMatchFileSnapshot(
        join(ROOT, "examples", "golden", `${name}.json`),
      );
    },
  );

  test("compiling twice gives byte-identical JSON", () => {
    for (const [, wf, schema, params] of cases) {
      expect(serializePrompt(compileDefault(wf, schema, params))).toBe(
        serializePrompt(compileDefault(wf, schema, params)),
      );
    }
  });

  test("the parameterized example exposes its parameters as JSON Schema", () => {
    const schema = sd15.paramsJsonSchema() as {
      properties: Record<string, { type?: string; default?: unknown }>;
    };
    expect(schema.properties["steps"]).toMatchObject({ type: "integer", default: 20 });
    expect(Object.keys(schema.properties)).toContain("prompt");
  });

  test("bad parameters are all reported at once", () => {
    try {
      sd15.compile({ steps: 0, width: 513, prompt: "" });
      expect.unreachable();
    } catch (e) {
      expect(isComfycError(e, "PARAMS_INVALID")).toBe(true);
      const message = (e as Error).message;
      for (const name of ["steps", "width", "prompt"]) expect(message).toContain(`${name}:`);
    }
  });

  test("parameters change the graph", () => {
    const prompt = sd15.compile({ prompt: "a red fox", steps: 30, batch: 2 });
    const nodes = Object.values(prompt);
    expect(nodes.find((n) => n.class_type === "KSampler")!.inputs["steps"]).toBe(30);
    expect(nodes.find((n) => n.class_type === "EmptyLatentImage")!.inputs["batch_size"]).toBe(2);
    expect(nodes.some((n) => n.inputs["text"] === "a red fox")).toBe(true);
  });

  test("the LoRA example fails validation on a server without its LoRA files, naming the source line", () => {
    try {
      loraStack.compile({});
      expect.unreachable();
    } catch (e) {
      expect(isComfycError(e, "PROMPT_INVALID")).toBe(true);
      expect((e as Error).message).toMatch(
        /Node "2" \(LoraLoader "LoRA sample_lora\.safetensors" at examples\/components\/lora-stack\.ts:\d+:\d+\): input lora_name/,
      );
    }
  });
});
