import { describe, expect, test } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import {
  BUNDLED_SCHEMA,
  HAS_SHARED_DATA,
  objectInfoDumps,
  readJson,
  sharedFiles,
} from "../helpers.js";

const schema = normalizeObjectInfo(readJson(BUNDLED_SCHEMA));
const LEGACY = { comfyuiVersion: "0.3.64" };
const img = (extra: object = {}) => ({
  class_type: "EmptyImage",
  inputs: { width: 64, height: 64, batch_size: 1, color: 0, ...extra },
});
const preview = (from: string) => ({ class_type: "PreviewImage", inputs: { images: [from, 0] } });

describe("validatePrompt: one case per ComfyUI error type, in the server's exact shape", () => {
  test("value_smaller_than_min upstream of the output: details is empty (protocol §2.1)", () => {
    const r = validatePrompt(
      { "1": img({ width: 0, height: 512, color: 0 }), "2": preview("1") },
      schema,
    );
    expect(r.valid).toBe(false);
    expect({ error: r.error, node_errors: r.nodeErrors }).toEqual({
      error: {
        type: "prompt_outputs_failed_validation",
        message: "Prompt outputs failed validation",
        details: "",
        extra_info: {},
      },
      node_errors: {
        "1": {
          errors: [
            {
              type: "value_smaller_than_min",
              message: "Value 0 smaller than min of 1",
              details: "width",
              extra_info: {
                input_name: "width",
                input_config: ["INT", { default: 512, min: 1, max: 16384, step: 1 }],
                received_value: 0,
              },
            },
          ],
          dependent_outputs: ["2"],
          class_type: "EmptyImage",
        },
      },
    });
  });

  test("required_input_missing on the output itself fills error.details", () => {
    const r = validatePrompt(
      { "9": { class_type: "SaveImage", inputs: { filename_prefix: "x" } } },
      schema,
    );
    expect(r.error).toEqual({
      type: "prompt_outputs_failed_validation",
      message: "Prompt outputs failed validation",
      details: "Required input is missing: images",
      extra_info: {},
    });
    expect(r.nodeErrors["9"]).toEqual({
      errors: [
        {
          type: "required_input_missing",
          message: "Required input is missing",
          details: "images",
          extra_info: { input_name: "images" },
        },
      ],
      dependent_outputs: ["9"],
      class_type: "SaveImage",
    });
  });

  test("value_bigger_than_max", () => {
    const r = validatePrompt({ "1": img({ color: 16777216 }), "2": preview("1") }, schema);
    expect(r.nodeErrors["1"]!.errors[0]).toMatchObject({
      type: "value_bigger_than_max",
      message: "Value 16777216 bigger than max of 16777215",
      details: "color",
      extra_info: { received_value: 16777216 },
    });
  });

  test("invalid_input_type with Python's message", () => {
    const r = validatePrompt({ "1": img({ width: "abc" }), "2": preview("1") }, schema);
    expect(r.nodeErrors["1"]!.errors[0]).toEqual({
      type: "invalid_input_type",
      message: "Failed to convert an input value to a INT value",
      details: "width, abc, invalid literal for int() with base 10: 'abc'",
      extra_info: {
        input_name: "width",
        input_config: ["INT", { default: 512, min: 1, max: 16384, step: 1 }],
        received_value: "abc",
        exception_message: "invalid literal for int() with base 10: 'abc'",
      },
    });
  });

  test("value_not_in_list on a legacy combo, with the list's Python repr", () => {
    const r = validatePrompt(
      {
        "1": img(),
        "2": {
          class_type: "ImageScale",
          inputs: {
            image: ["1", 0],
            upscale_method: "nonexistent",
            width: 8,
            height: 8,
            crop: "disabled",
          },
        },
        "3": preview("2"),
      },
      schema,
    );
    expect(r.nodeErrors["2"]!.errors[0]).toEqual({
      type: "value_not_in_list",
      message: "Value not in list",
      details:
        "upscale_method: 'nonexistent' not in ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']",
      extra_info: {
        input_name: "upscale_method",
        input_config: [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"], {}],
        received_value: "nonexistent",
      },
    });
  });

  test("return_type_mismatch names both types and the link", () => {
    const r = validatePrompt(
      {
        "1": img(),
        "2": {
          class_type: "ImageCompositeMasked",
          inputs: {
            destination: ["1", 0],
            source: ["1", 0],
            x: 0,
            y: 0,
            resize_source: false,
            mask: ["1", 0],
          },
        },
        "3": preview("2"),
      },
      schema,
    );
    expect(r.nodeErrors["2"]!.errors[0]).toEqual({
      type: "return_type_mismatch",
      message: "Return type mismatch between linked nodes",
      details: "mask, received_type(IMAGE) mismatch input_type(MASK)",
      extra_info: {
        input_name: "mask",
        input_config: ["MASK", {}],
        received_type: "IMAGE",
        linked_node: ["1", 0],
      },
    });
  });

  test("a link to a missing node is an exception_during_inner_validation on the node holding it", () => {
    const r = validatePrompt(
      { "1": { class_type: "ImageInvert", inputs: { image: ["99", 0] } }, "2": preview("1") },
      schema,
    );
    expect(r.nodeErrors).toEqual({
      "1": {
        errors: [
          {
            type: "exception_during_inner_validation",
            message: "Exception when validating inner node",
            details: "'99'",
            extra_info: {
              input_name: "images",
              input_config: ["IMAGE", {}],
              exception_message: "'99'",
              exception_type: "KeyError",
              traceback: [],
              linked_node: ["1", 0],
            },
          },
        ],
        dependent_outputs: ["2"],
        class_type: "ImageInvert",
      },
    });
  });

  test("an output index out of range is an IndexError", () => {
    const r = validatePrompt(
      {
        "1": img(),
        "2": { class_type: "ImageInvert", inputs: { image: ["1", 3] } },
        "3": preview("2"),
      },
      schema,
    );
    expect(r.nodeErrors["2"]!.errors[0]).toMatchObject({
      type: "exception_during_inner_validation",
      details: "tuple index out of range",
      extra_info: { exception_type: "IndexError", input_name: "images" },
    });
  });

  test("an exception on an output node itself is exception_during_validation", () => {
    const r = validatePrompt(
      { "2": { class_type: "PreviewImage", inputs: { images: ["99", 0] } } },
      schema,
    );
    expect(r.nodeErrors["2"]!.errors[0]).toMatchObject({
      type: "exception_during_validation",
      message: "Exception when validating node",
      details: "'99'",
    });
  });

  test("bad_linked_input for a list that is not [id, index]", () => {
    const r = validatePrompt({ "1": img({ width: [1, 2, 3] }), "2": preview("1") }, schema);
    expect(r.nodeErrors["1"]!.errors[0]).toMatchObject({
      type: "bad_linked_input",
      details: "width",
      extra_info: { received_value: [1, 2, 3] },
    });
  });

  test("custom_validation_failed once per argument of the custom validator", () => {
    const r = validatePrompt(
      { "1": { class_type: "LoadImage", inputs: { image: "missing.png" } }, "2": preview("1") },
      schema,
      {
        customValidators: {
          LoadImage: {
            inputs: ["image"],
            check: (v) =>
              v["image"] === "example.png" ? true : `Invalid image file: ${String(v["image"])}`,
          },
        },
      },
    );
    expect(r.nodeErrors["1"]!.errors).toEqual([
      {
        type: "custom_validation_failed",
        message: "Custom validation failed for node",
        details: "image - Invalid image file: missing.png",
        extra_info: { input_name: "image" },
      },
    ]);
  });

  test("prompt_no_outputs for an empty prompt and for a graph without output nodes", () => {
    for (const prompt of [{}, { "1": img() }]) {
      const r = validatePrompt(prompt, schema);
      expect(r.error).toEqual({
        type: "prompt_no_outputs",
        message: "Prompt has no outputs",
        details: "",
        extra_info: {},
      });
      expect(r.nodeErrors).toEqual({});
    }
  });

  test("unknown class: missing_node_type by default, invalid_prompt for v0.3.64", () => {
    const prompt = { "5": { class_type: "NoSuchNode", inputs: {}, _meta: { title: "My node" } } };
    expect(validatePrompt(prompt, schema).error).toEqual({
      type: "missing_node_type",
      message: "Node 'My node' not found. The custom node may not be installed.",
      details: "Node ID '#5'",
      extra_info: { node_id: "5", class_type: "NoSuchNode", node_title: "My node" },
    });
    expect(validatePrompt(prompt, schema, LEGACY).error).toEqual({
      type: "invalid_prompt",
      message: "Cannot execute because node NoSuchNode does not exist.",
      details: "Node ID '#5'",
      extra_info: {},
    });
    expect(validatePrompt({ "7": { inputs: {} } }, schema, LEGACY).error).toEqual({
      type: "invalid_prompt",
      message: "Cannot execute because a node is missing the class_type property.",
      details: "Node ID '#7'",
      extra_info: {},
    });
  });

  test("a 200 with node_errors: failing outputs are dropped, dependent_outputs over-reports (§5.1)", () => {
    const r = validatePrompt(
      {
        "1": img({ width: 0 }),
        "2": preview("1"),
        "4": preview("3"),
        "3": img(),
        "5": img({ height: 0 }),
        "6": { class_type: "ImageBatch", inputs: { image1: ["1", 0], image2: ["5", 0] } },
        "7": preview("6"),
      },
      schema,
    );
    expect(r.valid).toBe(true);
    expect(r.outputs).toEqual(["4"]);
    expect(r.nodeErrors["1"]!.dependent_outputs).toEqual(["2", "7"]);
    expect(r.nodeErrors["5"]!.dependent_outputs).toEqual(["7"]);
    expect(r.nodeErrors["6"]).toBeUndefined();
  });

  test("cycles: dependency_cycle on every node of the cycle; v0.3.64 hits the recursion limit", () => {
    const prompt = {
      "1": { class_type: "ImageInvert", inputs: { image: ["2", 0] } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": preview("2"),
    };
    const r = validatePrompt(prompt, schema);
    expect(r.nodeErrors["1"]!.errors[0]).toMatchObject({
      type: "dependency_cycle",
      message: "Dependency cycle detected",
      details: "2 (ImageInvert) -> 1 (ImageInvert) -> 2 (ImageInvert)",
    });
    expect(r.nodeErrors["2"]!.errors[0]).toMatchObject({
      type: "dependency_cycle",
      extra_info: { node_id: "2", cycle_nodes: ["2", "1"] },
    });
    // Observed on a real 0.3.64: 400, prompt_outputs_failed_validation, node_errors {}.
    const legacy = validatePrompt(prompt, schema, LEGACY);
    expect(legacy.valid).toBe(false);
    expect(legacy.error?.type).toBe("prompt_outputs_failed_validation");
    expect(legacy.nodeErrors).toEqual({});
    // dependency_cycle arrived in 0.20.0 (2327fa1c); 0.19.x still answers like 0.3.64.
    expect(validatePrompt(prompt, schema, { comfyuiVersion: "0.19.3" }).nodeErrors).toEqual({});
    expect(
      Object.keys(validatePrompt(prompt, schema, { comfyuiVersion: "0.20.0" }).nodeErrors).sort(),
    ).toEqual(["1", "2"]);
  });

  test("a self-link is a one-node cycle", () => {
    const prompt = {
      "1": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": preview("1"),
    };
    expect(validatePrompt(prompt, schema).nodeErrors["1"]!.errors).toEqual([
      {
        type: "dependency_cycle",
        message: "Dependency cycle detected",
        details: "1 (ImageInvert) -> 1 (ImageInvert)",
        extra_info: { node_id: "1", cycle_nodes: ["1"] },
      },
    ]);
    expect(validatePrompt(prompt, schema, LEGACY).nodeErrors).toEqual({});
  });

  test("long link chains stop where Python's recursion limit stops the release (measured on the real servers)", () => {
    /** EmptyImage ← `n` ImageInvert (ids "10"…) ← PreviewImage "2". */
    const chain = (n: number) => {
      const prompt: Record<string, unknown> = { "1": img() };
      let last = "1";
      for (let i = 0; i < n; i++) {
        prompt[String(10 + i)] = { class_type: "ImageInvert", inputs: { image: [last, 0] } };
        last = String(10 + i);
      }
      prompt["2"] = preview(last);
      return prompt;
    };
    // Real 0.3.64: 983 inverts pass, 984 fail on node "14" (981 links below the output);
    // real 0.33.0: 981 pass, 982 fail on "14"; 1,000 fail on "30" and "32".
    for (const [version, longest, at1000] of [
      ["0.3.64", 983, "30"],
      ["0.33.0", 981, "32"],
    ] as const) {
      const options = { comfyuiVersion: version };
      expect(validatePrompt(chain(longest), schema, options).valid).toBe(true);
      const over = validatePrompt(chain(longest + 1), schema, options);
      expect(over.valid).toBe(false);
      expect(over.error?.type).toBe("prompt_outputs_failed_validation");
      expect(over.nodeErrors).toEqual({
        "14": {
          errors: [
            {
              type: "exception_during_inner_validation",
              message: "Exception when validating inner node",
              details: "maximum recursion depth exceeded while calling a Python object",
              extra_info: {
                input_name: "image",
                input_config: ["IMAGE", {}],
                exception_message: "maximum recursion depth exceeded while calling a Python object",
                exception_type: "RecursionError",
                traceback: [],
                linked_node: ["14", 0],
              },
            },
          ],
          dependent_outputs: ["2"],
          class_type: "ImageInvert",
        },
      });
      expect(Object.keys(validatePrompt(chain(1000), schema, options).nodeErrors)).toEqual([
        at1000,
      ]);
    }
    // Validation keeps its own stack: a chain far past the JavaScript stack's depth is judged,
    // not thrown.
    const deep = validatePrompt(chain(50_000), schema);
    expect(Object.keys(deep.nodeErrors)).toEqual([String(10 + 50_000 - 979 + 1)]);
  });

  test('"COMBO" membership is checked by newer servers only', () => {
    const prompt = {
      "1": {
        class_type: "SamplerER_SDE",
        inputs: { solver_type: "nope", max_stage: 3, eta: 1, s_noise: 1 },
      },
      "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
    };
    expect(validatePrompt(prompt, schema).nodeErrors["1"]!.errors[0]).toMatchObject({
      type: "value_not_in_list",
      details: "solver_type: 'nope' not in ['ER-SDE', 'Reverse-time SDE', 'ODE']",
    });
    expect(validatePrompt(prompt, schema, LEGACY).valid).toBe(true);
  });

  test('a "*" output (AnyType) matches any input on every release; "*" in a comma set from 0.8.0', () => {
    const schemaWithAny = normalizeObjectInfo({
      ...(readJson(BUNDLED_SCHEMA) as object),
      Reroute: { input: { required: { x: ["*"] } }, output: ["*"], output_node: false },
      AnyOrInt: { input: { required: { x: ["*"] } }, output: ["INT,*"], output_node: false },
    });
    const prompt = {
      "1": img(),
      "2": { class_type: "Reroute", inputs: { x: ["1", 0] } },
      "3": preview("2"),
    };
    expect(validatePrompt(prompt, schemaWithAny).valid).toBe(true);
    expect(validatePrompt(prompt, schemaWithAny, LEGACY).valid).toBe(true);
    const set = { ...prompt, "2": { class_type: "AnyOrInt", inputs: { x: ["1", 0] } } };
    expect(validatePrompt(set, schemaWithAny, { comfyuiVersion: "0.8.0" }).valid).toBe(true);
    expect(
      validatePrompt(set, schemaWithAny, { comfyuiVersion: "0.7.0" }).nodeErrors["3"]!.errors[0],
    ).toMatchObject({
      type: "return_type_mismatch",
      details: "images, received_type(INT,*) mismatch input_type(IMAGE)",
    });
  });

  test("a node id __proto__ stays an ordinary node of the coerced prompt", () => {
    const prompt = JSON.parse(
      '{"__proto__": {"class_type": "EmptyImage", "inputs": {"width": "64", "height": 64, "batch_size": 1, "color": 0}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["__proto__", 0]}}}',
    );
    const r = validatePrompt(prompt, schema);
    expect(r.valid).toBe(true);
    expect(Object.keys(r.prompt)).toEqual(["2", "__proto__"]);
    expect(Object.getPrototypeOf(r.prompt)).toBe(Object.prototype);
    expect((r.prompt["__proto__"] as { inputs: { width: unknown } }).inputs.width).toBe(64);
    expect(prompt["__proto__"].inputs.width).toBe("64");
  });

  test("coerces values like Python and writes them back", () => {
    const r = validatePrompt(
      {
        "1": img({ width: " 12 ", height: 7.9, batch_size: true }),
        "2": {
          class_type: "ImageCompositeMasked",
          inputs: { destination: ["1", 0], source: ["1", 0], x: "3", y: 0, resize_source: "false" },
        },
        "3": preview("2"),
      },
      schema,
    );
    expect(r.valid).toBe(true);
    expect((r.prompt["1"] as any).inputs).toMatchObject({ width: 12, height: 7, batch_size: 1 });
    expect((r.prompt["2"] as any).inputs).toMatchObject({ x: 3, resize_source: true });
  });

  test("an upload combo (LoadImage.image) accepts files the schema does not list", () => {
    const r = validatePrompt(
      { "1": { class_type: "LoadImage", inputs: { image: "sub/x.png" } }, "2": preview("1") },
      schema,
    );
    expect(r.valid).toBe(true);
  });

  test("the 64-bit seed max is compared exactly", () => {
    const ks = (seed: unknown) => ({
      "1": { class_type: "PrimitiveInt", inputs: { value: 1 } },
      "2": { class_type: "KSampler", inputs: { seed } },
    });
    const seedError = (seed: unknown) =>
      validatePrompt(
        { ...ks(seed), "3": { class_type: "PreviewAny", inputs: { source: ["2", 0] } } },
        schema,
      ).nodeErrors["2"]?.errors.find((e) => e.details === "seed");
    expect(seedError(2n ** 64n - 1n)).toBeUndefined();
    expect(seedError(2 ** 64)).toMatchObject({
      type: "value_bigger_than_max",
      message: "Value 18446744073709551616 bigger than max of 18446744073709551615",
    });
  });
});

describe.runIf(HAS_SHARED_DATA)("real API workflows (../shared/data)", () => {
  const dumps = objectInfoDumps().map((path) => ({
    path,
    schema: normalizeObjectInfo(readJson(path)),
  }));
  const workflows = sharedFiles("workflows/api");

  test.each(workflows)(
    "%s: only model-file and seed-mode problems against dumps with its classes",
    (file) => {
      const prompt = readJson(file) as Record<string, { class_type: string }>;
      const classes = new Set(Object.values(prompt).map((n) => n.class_type));
      for (const { schema: s } of dumps.filter((d) =>
        [...classes].every((c) => d.schema.classes.has(c)),
      )) {
        const r = validatePrompt(prompt, s);
        for (const [id, nodeError] of Object.entries(r.nodeErrors)) {
          for (const e of nodeError.errors) {
            // A dump only lists the model files of the machine it came from; the "randomize"
            // seed is the UI's control value pasted into a prompt, which ComfyUI rejects too.
            const fileValue =
              e.type === "value_not_in_list" &&
              /(_name\d*|^image|^model|^video|^audio)$/.test(String(e.extra_info["input_name"]));
            const seedMode =
              e.type === "invalid_input_type" && e.extra_info["received_value"] === "randomize";
            expect(fileValue || seedMode, `${file} node ${id}: ${e.type} ${e.details}`).toBe(true);
          }
        }
      }
    },
  );
});

describe("NaN, Infinity and -Infinity in prompt text (Python's JSON reads them)", () => {
  // Each expected body was answered by real ComfyUI 0.3.64 and 0.33.0 (identical on both).
  const scale = (by: string) =>
    parseJsonLossless(
      `{"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": ${by}}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}`,
    );
  const scaleConfig = ["FLOAT", { default: 1, min: 0.01, max: 8, step: 0.01 }];

  test.each(["0.3.64", "0.33.0"])("NaN or Infinity for an INT is invalid_input_type (%s)", (v) => {
    const prompt = parseJsonLossless(
      '{"1": {"class_type": "EmptyImage", "inputs": {"width": NaN, "height": Infinity, "batch_size": 1, "color": 0}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}',
    );
    const r = validatePrompt(prompt, schema, { comfyuiVersion: v });
    const config = ["INT", { default: 512, min: 1, max: 16384, step: 1 }];
    expect(r.nodeErrors["1"]!.errors).toEqual([
      {
        type: "invalid_input_type",
        message: "Failed to convert an input value to a INT value",
        details: "width, nan, cannot convert float NaN to integer",
        extra_info: {
          input_name: "width",
          input_config: config,
          received_value: NaN,
          exception_message: "cannot convert float NaN to integer",
        },
      },
      {
        type: "invalid_input_type",
        message: "Failed to convert an input value to a INT value",
        details: "height, inf, cannot convert float infinity to integer",
        extra_info: {
          input_name: "height",
          input_config: config,
          received_value: Infinity,
          exception_message: "cannot convert float infinity to integer",
        },
      },
    ]);
  });

  test("Infinity over a FLOAT max, -Infinity under its min, NaN passes", () => {
    expect(validatePrompt(scale("Infinity"), schema).nodeErrors["3"]!.errors).toEqual([
      {
        type: "value_bigger_than_max",
        message: "Value inf bigger than max of 8.0",
        details: "scale_by",
        extra_info: { input_name: "scale_by", input_config: scaleConfig, received_value: Infinity },
      },
    ]);
    expect(validatePrompt(scale("-Infinity"), schema).nodeErrors["3"]!.errors).toEqual([
      {
        type: "value_smaller_than_min",
        message: "Value -inf smaller than min of 0.01",
        details: "scale_by",
        extra_info: {
          input_name: "scale_by",
          input_config: scaleConfig,
          received_value: -Infinity,
        },
      },
    ]);
    expect(validatePrompt(scale("NaN"), schema).valid).toBe(true);
  });
});

describe("V3 dynamic inputs and COMBO outputs, per release", () => {
  // Specs as ComfyUI 0.33.0's /object_info lists them (BatchImagesNode), plus a DynamicCombo
  // holding an Autogrow and a V1 node whose own input name has a dot.
  const v3 = normalizeObjectInfo({
    EmptyImage: (readJson(BUNDLED_SCHEMA) as Record<string, unknown>)["EmptyImage"],
    PreviewImage: (readJson(BUNDLED_SCHEMA) as Record<string, unknown>)["PreviewImage"],
    BatchImagesNode: {
      input: {
        required: {
          images: [
            "COMFY_AUTOGROW_V3",
            {
              template: {
                input: { required: { image: ["IMAGE", {}] } },
                prefix: "image",
                min: 1,
                max: 50,
              },
            },
          ],
        },
      },
      output: ["IMAGE"],
      output_node: false,
    },
    Picker: {
      input: {
        required: {
          model: [
            "COMFY_DYNAMICCOMBO_V3",
            {
              options: [
                {
                  key: "multi",
                  inputs: {
                    required: {
                      images: [
                        "COMFY_AUTOGROW_V3",
                        {
                          template: {
                            input: { required: { image: ["IMAGE", {}] } },
                            names: ["image_1", "image_2"],
                            min: 1,
                          },
                        },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      },
      output: ["IMAGE"],
      output_node: false,
    },
    Dotted: {
      input: { required: { "input_blocks.0.": ["IMAGE", {}] } },
      output: ["IMAGE"],
      output_node: false,
    },
    ComboSource: { input: {}, output: ["COMBO"], output_name: ["choice"], output_node: false },
    ComboListSource: { input: {}, output: [["a", "b"]], output_node: false },
    ComboSink: {
      input: { required: { v3: ["COMBO", { options: ["a", "b"] }], legacy: [["a", "b"]] } },
      output: [],
      output_node: true,
    },
  });
  const missing = (id: string, classType: string, inputs: object, version: string) =>
    validatePrompt({ [id]: { class_type: classType, inputs }, "9": preview(id) }, v3, {
      comfyuiVersion: version,
    }).nodeErrors[id]?.errors;

  test("Autogrow: details is the last segment from 0.8.0, input_name the full key (observed on 0.33.0)", () => {
    expect(missing("1", "BatchImagesNode", {}, "0.33.0")).toEqual([
      {
        type: "required_input_missing",
        message: "Required input is missing",
        details: "image0",
        extra_info: { input_name: "images.image0" },
      },
    ]);
    expect(missing("1", "BatchImagesNode", {}, "0.7.0")![0]).toMatchObject({
      details: "images.image0",
      extra_info: { input_name: "images.image0" },
    });
  });

  test("nested DynamicCombo → Autogrow keys: model.images.image_1", () => {
    expect(missing("1", "Picker", { model: "multi" }, "0.33.0")![0]).toMatchObject({
      details: "image_1",
      extra_info: { input_name: "model.images.image_1" },
    });
  });

  test("an input whose own name has a dot keeps it in both", () => {
    expect(missing("1", "Dotted", {}, "0.33.0")![0]).toMatchObject({
      details: "input_blocks.0.",
      extra_info: { input_name: "input_blocks.0." },
    });
  });

  test('a "COMBO" output (0.8.0+) feeds a "COMBO" input, not a legacy list input', () => {
    const r = validatePrompt(
      {
        "1": { class_type: "ComboSource", inputs: {} },
        "2": { class_type: "ComboSink", inputs: { v3: ["1", 0], legacy: ["1", 0] } },
      },
      v3,
    );
    expect(r.nodeErrors["2"]!.errors).toEqual([
      expect.objectContaining({
        type: "return_type_mismatch",
        details: "legacy, received_type(COMBO) mismatch input_type(['a', 'b'])",
      }),
    ]);
  });

  test('a list-typed output feeds a "COMBO" input from 0.8.0; an identical list always', () => {
    const prompt = {
      "1": { class_type: "ComboListSource", inputs: {} },
      "2": { class_type: "ComboSink", inputs: { v3: ["1", 0], legacy: ["1", 0] } },
    };
    expect(validatePrompt(prompt, v3, { comfyuiVersion: "0.8.0" }).valid).toBe(true);
    expect(
      validatePrompt(prompt, v3, { comfyuiVersion: "0.7.0" }).nodeErrors["2"]!.errors.map(
        (e) => e.details,
      ),
    ).toEqual(["v3, received_type(['a', 'b']) mismatch input_type(COMBO)"]);
  });
});
