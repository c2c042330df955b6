import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { isComfycError } from "../../src/errors.js";
import type { InputSpec } from "../../src/protocol/object-info.js";
import type { InputIR } from "../../src/schema/ir.js";
import { normalizeInput, normalizeObjectInfo, packOf } from "../../src/schema/normalize.js";
import { BUNDLED_SCHEMA, fixture, HAS_SHARED_DATA, objectInfoDumps, readJson } from "../helpers.js";

const pick = (ir: InputIR) => {
  const { config: _config, ...rest } = ir as InputIR & { config: unknown };
  return rest;
};

describe("normalizeInput", () => {
  const cases: [string, { given: InputSpec; want: object }][] = [
    [
      "legacy combo",
      {
        given: [["a", "b"], {}],
        want: {
          kind: "combo",
          name: "x",
          required: true,
          options: ["a", "b"],
          legacy: true,
          multiselect: false,
          remote: false,
        },
      },
    ],
    [
      "v3 combo",
      {
        given: ["COMBO", { options: ["a", "b"], default: "b", multiselect: false }],
        want: {
          kind: "combo",
          name: "x",
          required: true,
          options: ["a", "b"],
          default: "b",
          legacy: false,
          multiselect: false,
          remote: false,
        },
      },
    ],
    [
      "numeric combo",
      {
        given: ["COMBO", { options: [6, 10], default: 6 }],
        want: {
          kind: "combo",
          name: "x",
          required: true,
          options: [6, 10],
          default: 6,
          legacy: false,
          multiselect: false,
          remote: false,
        },
      },
    ],
    [
      "remote combo without options",
      {
        given: ["COMBO", { remote: { route: "/internal/files/output" }, image_upload: true }],
        want: {
          kind: "combo",
          name: "x",
          required: true,
          options: [],
          legacy: false,
          multiselect: false,
          remote: true,
          upload: "image",
        },
      },
    ],
    [
      "combo default not in options is dropped",
      {
        given: [["a"], { default: "z" }],
        want: {
          kind: "combo",
          name: "x",
          required: true,
          options: ["a"],
          legacy: true,
          multiselect: false,
          remote: false,
        },
      },
    ],
    [
      "int with 64-bit max",
      {
        given: ["INT", { default: 0, min: 0, max: 2 ** 64 }],
        want: {
          kind: "int",
          name: "x",
          required: true,
          default: 0,
          min: 0,
          max: 2 ** 64,
        },
      },
    ],
    [
      "float",
      {
        given: ["FLOAT", { default: 8.0, min: 0, max: 100, step: 0.1, round: 0.01 }],
        want: {
          kind: "float",
          name: "x",
          required: true,
          default: 8,
          min: 0,
          max: 100,
          step: 0.1,
          round: 0.01,
        },
      },
    ],
    [
      "float with list default keeps no default",
      {
        given: ["FLOAT", { default: [1.0], forceInput: true }],
        want: { kind: "float", name: "x", required: true, forceInput: true },
      },
    ],
    [
      "multiline string",
      {
        given: ["STRING", { multiline: true, default: "" }],
        want: { kind: "string", name: "x", required: true, multiline: true, default: "" },
      },
    ],
    [
      "boolean",
      {
        given: ["BOOLEAN", { default: false, label_on: "yes" }],
        want: { kind: "boolean", name: "x", required: true, default: false, labelOn: "yes" },
      },
    ],
    [
      "socket",
      {
        given: ["IMAGE"],
        want: { kind: "link", name: "x", required: true, type: "IMAGE", accepts: ["IMAGE"] },
      },
    ],
    [
      "comma union",
      {
        given: ["IMAGE,MASK", {}],
        want: {
          kind: "link",
          name: "x",
          required: true,
          type: "IMAGE,MASK",
          accepts: ["IMAGE", "MASK"],
        },
      },
    ],
    [
      "any",
      {
        given: ["*"],
        want: { kind: "link", name: "x", required: true, type: "*", accepts: ["*"] },
      },
    ],
    [
      "socket with null default",
      {
        given: ["IMAGE", { default: null, tooltip: "t" }],
        want: {
          kind: "link",
          name: "x",
          required: true,
          type: "IMAGE",
          accepts: ["IMAGE"],
          tooltip: "t",
        },
      },
    ],
    [
      "three-element spec",
      {
        given: ["STRING", { default: "p" }, "extra"],
        want: { kind: "string", name: "x", required: true, multiline: false, default: "p" },
      },
    ],
    [
      "matchtype",
      {
        given: [
          "COMFY_MATCHTYPE_V3",
          { template: { template_id: "T", allowed_types: "IMAGE,MASK" } },
        ],
        want: {
          kind: "matchtype",
          name: "x",
          required: true,
          templateId: "T",
          allowedTypes: ["IMAGE", "MASK"],
        },
      },
    ],
  ];
  test.each(cases)("%s", (_, { given, want }) =>
    expect(pick(normalizeInput("x", given, true))).toEqual(want),
  );

  test("autogrow with prefix expands prefix0…prefix(max-1)", () => {
    const ir = normalizeInput(
      "images",
      [
        "COMFY_AUTOGROW_V3",
        {
          template: {
            input: { required: { image: ["IMAGE", {}] } },
            prefix: "image",
            min: 1,
            max: 3,
          },
        },
      ],
      true,
    );
    expect(ir).toMatchObject({
      kind: "autogrow",
      names: ["image0", "image1", "image2"],
      prefix: "image",
      min: 1,
      template: { kind: "link", type: "IMAGE", required: true },
    });
  });

  test("dynamic combo keeps each option's inputs", () => {
    const ir = normalizeInput(
      "mode",
      [
        "COMFY_DYNAMICCOMBO_V3",
        {
          options: [
            { key: "a", inputs: { required: { w: ["INT", { default: 1 }] } } },
            { key: "b" },
          ],
        },
      ],
      true,
    );
    expect(ir).toMatchObject({
      kind: "dynamic_combo",
      options: [
        { key: "a", inputs: [{ kind: "int", name: "w", default: 1 }] },
        { key: "b", inputs: [] },
      ],
    });
  });
});

describe("normalizeObjectInfo", () => {
  // Every real dump when ../shared/data is there; the bundled and vendored ones otherwise.
  const dumps = HAS_SHARED_DATA
    ? objectInfoDumps()
    : [
        BUNDLED_SCHEMA,
        ...readdirSync(fixture("object_info")).map((f) => fixture("object_info", f)),
      ];
  test.each(dumps)("parses every class of %s without warnings", (path) => {
    const raw = readJson(path) as Record<string, unknown>;
    const schema = normalizeObjectInfo(raw, path);
    expect(schema.warnings).toEqual([]);
    expect(schema.classes.size).toBe(Object.keys(raw).length);
  });

  test("skips an odd node with a warning naming its JSON path, keeping the others", () => {
    const schema = normalizeObjectInfo({
      Good: { input: { required: { a: ["INT", { default: 1 }] } }, output: ["INT"] },
      Bad: { input: { required: { seed: "INT" } }, output: ["INT"] },
      Worse: { input: {}, output: "IMAGE" },
      BadCombo: { input: { required: { c: ["COMBO", { options: "a,b" }] } }, output: [] },
    });
    expect([...schema.classes.keys()]).toEqual(["Good"]);
    expect(schema.warnings.map((w) => w.path)).toEqual([
      "Bad.input.required.seed",
      "Worse.output",
      "BadCombo.input.required.c[1].options",
    ]);
  });

  test("lists a class under both required and optional once, as required", () => {
    const schema = normalizeObjectInfo({
      X: {
        input: { required: { a: ["IMAGE"] }, optional: { a: ["IMAGE"], b: ["MASK"] } },
        output: [],
      },
    });
    expect(schema.classes.get("X")!.inputs.map((i) => [i.name, i.required])).toEqual([
      ["a", true],
      ["b", false],
    ]);
  });

  const notObjectInfo: [string, unknown, RegExp][] = [
    ["an array", [1, 2], /array/],
    ["a string", "hello", /JSON object/],
    ["an empty object", {}, /no node classes/],
    ["a UI workflow", { last_node_id: 3, nodes: [], links: [] }, /UI workflow/],
    ["an API prompt", { "3": { class_type: "KSampler", inputs: {} } }, /API-format prompt/],
    [
      "objects that are no node infos",
      { a: { foo: 1 }, b: { bar: 2 } },
      /none is a valid node description/,
    ],
  ];
  test.each(notObjectInfo)("rejects %s with one OBJECT_INFO_INVALID error", (_, raw, message) => {
    try {
      normalizeObjectInfo(raw, "input.json");
      expect.unreachable();
    } catch (e) {
      expect(isComfycError(e, "OBJECT_INFO_INVALID")).toBe(true);
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).toContain("input.json");
    }
  });

  test("defaults display_name null to the class type and outputs to unique names", () => {
    const schema = normalizeObjectInfo({
      SplitSigmas: {
        input: {},
        output: ["SIGMAS", "SIGMAS"],
        output_name: ["SIGMAS", "SIGMAS"],
        display_name: null,
      },
    });
    const node = schema.classes.get("SplitSigmas")!;
    expect(node.displayName).toBe("SplitSigmas");
    expect(node.outputs.map((o) => o.identifier)).toEqual(["SIGMAS", "SIGMAS_1"]);
  });
});

describe("a lossless parse (what ComfyClient.objectInfo returns)", () => {
  test("normalizes like JSON.parse, bigint limits included, and the validator keeps working", () => {
    const text = readFileSync(BUNDLED_SCHEMA, "utf8");
    const lossless = parseJsonLossless(text) as Record<string, any>;
    expect(lossless["KSampler"].input.required.seed[1].max).toBe(2n ** 64n - 1n);
    const a = normalizeObjectInfo(JSON.parse(text));
    const b = normalizeObjectInfo(lossless);
    expect([...b.classes.keys()]).toEqual([...a.classes.keys()]);
    // Identical, except that integer limits beyond 2^53 stay exact bigints (JSON.parse rounds
    // 18446744073709551615 to 2^64, 9223372036854775807 to 2^63).
    const rounded = (i: Record<string, unknown>) => ({
      ...i,
      ...(typeof i["min"] === "bigint" ? { min: Number(i["min"]) } : {}),
      ...(typeof i["max"] === "bigint" ? { max: Number(i["max"]) } : {}),
    });
    for (const [name, cls] of a.classes)
      expect(b.classes.get(name)!.inputs.map(pick).map(rounded)).toEqual(cls.inputs.map(pick));
    const seed = b.classes.get("KSampler")!.inputs.find((i) => i.name === "seed")!;
    expect(seed.kind === "int" && seed.max).toBe(2n ** 64n - 1n);
    const prompt = (seed: bigint) => ({
      "1": {
        class_type: "CheckpointLoaderSimple",
        inputs: { ckpt_name: "v1-5-pruned-emaonly.safetensors" },
      },
      "2": { class_type: "EmptyLatentImage", inputs: { width: 64, height: 64, batch_size: 1 } },
      "3": { class_type: "CLIPTextEncode", inputs: { clip: ["1", 1], text: "x" } },
      "4": {
        class_type: "KSampler",
        inputs: {
          model: ["1", 0],
          positive: ["3", 0],
          negative: ["3", 0],
          latent_image: ["2", 0],
          seed,
          steps: 1,
          cfg: 1,
          sampler_name: "euler",
          scheduler: "normal",
          denoise: 1,
        },
      },
      "5": { class_type: "VAEDecode", inputs: { samples: ["4", 0], vae: ["1", 2] } },
      "6": { class_type: "PreviewImage", inputs: { images: ["5", 0] } },
    });
    expect(validatePrompt(prompt(2n ** 64n - 1n), b).valid).toBe(true);
    const over = validatePrompt(prompt(2n ** 64n), b);
    expect(over.nodeErrors["4"]?.errors[0]?.type).toBe("value_bigger_than_max");
  });
});

describe("packOf", () => {
  const cases: [string | undefined, string][] = [
    [undefined, "core"],
    ["nodes", "core"],
    ["comfy_extras.nodes_video", "core"],
    ["comfy_api_nodes.nodes_openai", "api-nodes"],
    ["custom_nodes.ComfyUI-Impact-Pack", "comfyui-impact-pack"],
    ["custom_nodes.was-node-suite-comfyui.nodes", "was-node-suite-comfyui"],
    ["custom_nodes.index", "pack-index"],
    ["custom_nodes...", "custom-nodes"],
  ];
  test.each(cases)("%j → %j", (module, pack) => expect(packOf(module)).toBe(pack));
});
