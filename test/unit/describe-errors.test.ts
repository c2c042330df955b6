import { describe, expect, test } from "vitest";
import { describeNodeErrors, promptLinks } from "../../src/protocol/describe-errors.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { BUNDLED_SCHEMA, readJson } from "../helpers.js";

const schema = normalizeObjectInfo(readJson(BUNDLED_SCHEMA));
const outputsOf = (c: string) => schema.classes.get(c)?.outputs.map((o) => o.type);
const empty = {
  class_type: "EmptyImage",
  inputs: { width: 8, height: 8, batch_size: 1, color: 0 },
};

function text(prompt: Record<string, unknown>, withLinks = true): string {
  const r = validatePrompt(prompt, schema);
  return describeNodeErrors({ error: r.error, node_errors: r.nodeErrors }, (id) =>
    withLinks ? { links: promptLinks(prompt, id, outputsOf) } : undefined,
  );
}

describe("readable node_errors", () => {
  test("show ComfyUI's own text next to ours, so it can be searched for", () => {
    expect(
      text({
        "1": { ...empty, inputs: { ...empty.inputs, width: 0 } },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      }),
    ).toBe(
      'Node "1" (EmptyImage): input width: 0 is below the minimum (allowed 1 … 16384) [ComfyUI: "Value 0 smaller than min of 1: width"]',
    );
  });

  test("a link to an output the source lacks names the node and input holding it, the link and the outputs (inner)", () => {
    const prompt = {
      "1": empty,
      "3": { class_type: "ImageInvert", inputs: { image: ["1", 3] } },
      "2": { class_type: "PreviewImage", inputs: { images: ["3", 0] } },
    };
    // ComfyUI files this under node 3 with input_name "images" (node 2's input).
    expect(text(prompt)).toBe(
      'Node "3" (ImageInvert): input image links to output 3 of node "1" (EmptyImage), which has 1 output(s) (0: IMAGE) [ComfyUI: "Exception when validating inner node: tuple index out of range"]',
    );
  });

  test("the same on the output node itself, and never 'undefined' without context", () => {
    const prompt = {
      "1": empty,
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 3] } },
    };
    expect(text(prompt)).toContain(
      'Node "2" (PreviewImage): input images links to output 3 of node "1"',
    );
    const bare = text(prompt, false);
    expect(bare).not.toContain("undefined");
    expect(bare).toContain("a link of this node names an output its source does not have");
  });

  test("a link to a missing node names the input that holds it", () => {
    const prompt = {
      "1": { class_type: "ImageInvert", inputs: { image: ["99", 0] } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    };
    expect(text(prompt)).toContain(
      'Node "1" (ImageInvert): input image links to node "99" (["99",0]), which is not in the prompt',
    );
  });
});
