import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { serializePrompt, workflow, type Output, type Workflow } from "comfyc";
import {
  EmptyImage,
  ImageBlend,
  ImageInvert,
  PreviewImage,
  SaveImage,
} from "../../generated/core.js";
import { ApiPromptSchema } from "../../src/protocol/prompt.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { BUNDLED_SCHEMA, readJson } from "../helpers.js";

const schema = normalizeObjectInfo(readJson(BUNDLED_SCHEMA));

type Step =
  | { kind: "image"; width: number; height: number }
  | { kind: "invert"; from: number }
  | { kind: "blend"; a: number; b: number; factor: number }
  | { kind: "output"; from: number; save: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("image" as const),
    width: fc.integer({ min: 1, max: 4096 }),
    height: fc.integer({ min: 1, max: 4096 }),
  }),
  fc.record({ kind: fc.constant("invert" as const), from: fc.nat() }),
  fc.record({
    kind: fc.constant("blend" as const),
    a: fc.nat(),
    b: fc.nat(),
    factor: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({ kind: fc.constant("output" as const), from: fc.nat(), save: fc.boolean() }),
);

/** Builds a random graph: every link points at an IMAGE output created earlier. */
function build(steps: readonly Step[]): Workflow {
  const wf = workflow();
  const images: Output<"IMAGE">[] = [wf.add(EmptyImage, {})];
  const pick = (i: number) => images[i % images.length]!;
  for (const s of steps) {
    if (s.kind === "image") images.push(wf.add(EmptyImage, { width: s.width, height: s.height }));
    if (s.kind === "invert") images.push(wf.add(ImageInvert, { image: pick(s.from) }));
    if (s.kind === "blend")
      images.push(
        wf.add(ImageBlend, {
          image1: pick(s.a),
          image2: pick(s.b),
          blend_factor: s.factor,
          blend_mode: "normal",
        }),
      );
    if (s.kind === "output") {
      if (s.save) wf.add(SaveImage, { images: pick(s.from) });
      else wf.add(PreviewImage, { images: pick(s.from) });
    }
  }
  wf.add(PreviewImage, { images: images[images.length - 1]! });
  return wf;
}

describe("builder properties", () => {
  test("any graph compiles to a prompt whose links resolve and which the validator accepts", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const prompt = JSON.parse(serializePrompt(build(steps).compile()));
        expect(ApiPromptSchema.safeParse(prompt).success).toBe(true);
        for (const node of Object.values(prompt) as { inputs: Record<string, unknown> }[]) {
          for (const value of Object.values(node.inputs)) {
            if (Array.isArray(value)) {
              const [id, index] = value as [string, number];
              expect(prompt[id]).toBeDefined();
              expect(schema.classes.get(prompt[id].class_type)!.outputs[index]).toBeDefined();
            }
          }
        }
        const result = validatePrompt(prompt, schema);
        expect(result.valid).toBe(true);
        expect(result.nodeErrors).toEqual({});
      }),
      { numRuns: 150 },
    );
  });

  const mutations: [string, unknown, string][] = [
    ["width", 0, "value_smaller_than_min"],
    ["width", 16385, "value_bigger_than_max"],
    ["width", "wide", "invalid_input_type"],
    ["height", null, "invalid_input_type"],
  ];
  test.each(mutations)(
    "setting %s to %j on one node yields exactly one %s",
    (input, value, type) => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
          const prompt = JSON.parse(serializePrompt(build(steps).compile()));
          // Node "1" is the first EmptyImage; every graph reaches it through the last image chain or not.
          const target = Object.entries(prompt).find(
            ([, n]) => (n as { class_type: string }).class_type === "EmptyImage",
          )![0];
          prompt[target].inputs[input] = value;
          const result = validatePrompt(prompt, schema);
          const errors = Object.entries(result.nodeErrors).flatMap(([id, n]) =>
            n.errors.map((e) => [id, e.type, e.extra_info["input_name"]]),
          );
          expect(errors).toEqual([[target, type, input]]);
        }),
        { numRuns: 60 },
      );
    },
  );

  test("arbitrary JSON in any input never crashes the validator; errors name real nodes", () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 15 }),
        fc.nat(),
        fc.jsonValue({ maxDepth: 3 }),
        (steps, pick, garbage) => {
          const prompt = JSON.parse(serializePrompt(build(steps).compile()));
          const ids = Object.keys(prompt);
          const id = ids[pick % ids.length]!;
          const inputs = Object.keys(prompt[id].inputs);
          if (inputs.length === 0) return;
          prompt[id].inputs[inputs[pick % inputs.length]!] = garbage;
          const result = validatePrompt(prompt, schema);
          for (const nodeId of Object.keys(result.nodeErrors)) expect(ids).toContain(nodeId);
          if (!result.valid) expect(result.error?.type).toMatch(/^[a-z_]+$/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
