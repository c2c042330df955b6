import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { describeNodeErrors, promptLinks } from "../../src/protocol/describe-errors.js";
import { parseJsonLossless } from "../../src/protocol/json.js";
import type { ErrorObj } from "../../src/protocol/prompt.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt, type ValidationResult } from "../../src/schema/validate.js";
import { startTestServer } from "../../src/testing/index.js";
import { cli } from "../helpers-cli.js";
import { fixture, ROOT, tempDir } from "../helpers.js";

/**
 * Numbers written as floats, as ComfyUI 0.3.64 and 0.33.0 judge them (each case observed on both
 * real releases; the differential suite repeats them against the servers). Schema: five classes
 * of a real 0.33.0 `/object_info` (`test/fixtures/object-info/README.md`).
 */

const FIXTURE = fixture("object-info", "comfyui-0.33.0-floats.json");
const text = readFileSync(FIXTURE, "utf8");
/** Read as `comfyc validate --schema` reads it: which limits are floats is known. */
const schema = normalizeObjectInfo(parseJsonLossless(text, { floats: true }));
/** Read without floats (as the builder's generated tables are): FLOAT limits print as floats. */
const plainSchema = normalizeObjectInfo(parseJsonLossless(text));

const empty = `{"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}}`;
const node = (classType: string, inputs: string) =>
  `{"class_type": "${classType}", "inputs": ${inputs}}`;
const promptText = (nodes: Record<string, string>) =>
  `{${Object.entries(nodes)
    .map(([id, n]) => `"${id}": ${n}`)
    .join(", ")}}`;

/** Validates a prompt given as JSON text, read as `comfyc validate` reads a file. */
function check(
  nodes: Record<string, string>,
  comfyuiVersion = "0.33.0",
  using = schema,
): ValidationResult {
  return validatePrompt(parseJsonLossless(promptText(nodes), { floats: true }), using, {
    comfyuiVersion,
  });
}

/** The errors of one node, as `type: message | details`. */
function errorsOf(r: ValidationResult, id: string): string[] {
  return (r.nodeErrors[id]?.errors ?? []).map(
    (e: ErrorObj) => `${e.type}: ${e.message} | ${e.details}`,
  );
}

describe("link indices written as floats", () => {
  test("0.0 on the output node: TypeError from RETURN_TYPES[0.0]; 0 is fine", () => {
    const bad = check({ "1": empty, "2": node("PreviewImage", `{"images": ["1", 0.0]}`) });
    expect(bad.valid).toBe(false);
    expect(errorsOf(bad, "2")).toEqual([
      "exception_during_validation: Exception when validating node | tuple indices must be integers or slices, not float",
    ]);
    expect(bad.nodeErrors["2"]!.errors[0]!.extra_info["exception_type"]).toBe("TypeError");
    const good = check({ "1": empty, "2": node("PreviewImage", `{"images": ["1", 0]}`) });
    expect(good.valid).toBe(true);
  });

  test("0e0, -0.0 and 1.0 on inner nodes: the node that links to them records the exception", () => {
    const r = check({
      "1": empty,
      "3": node("ImageInvert", `{"image": ["1", 0e0]}`),
      "4": node("ImageInvert", `{"image": ["1", -0.0]}`),
      "5": node("ImageInvert", `{"image": ["1", 1.0]}`),
      "2": node("PreviewImage", `{"images": ["3", 0]}`),
      "6": node("PreviewImage", `{"images": ["4", 0]}`),
      "7": node("PreviewImage", `{"images": ["5", 0]}`),
    });
    for (const id of ["3", "4", "5"]) {
      expect(errorsOf(r, id), id).toEqual([
        "exception_during_inner_validation: Exception when validating inner node | tuple indices must be integers or slices, not float",
      ]);
    }
  });

  test("from a V3 node the message says list (its RETURN_TYPES is a list), also out of range", () => {
    expect(schema.classes.get("PrimitiveString")?.v3).toBe(true);
    expect(schema.classes.get("EmptyImage")?.v3).toBeUndefined();
    const string = node("PrimitiveString", `{"value": "x"}`);
    const r = check({ "1": string, "2": node("PreviewAny", `{"source": ["1", 0.0]}`) });
    expect(errorsOf(r, "2")).toEqual([
      "exception_during_validation: Exception when validating node | list indices must be integers or slices, not float",
    ]);
    const out = check({ "1": string, "2": node("PreviewAny", `{"source": ["1", 2]}`) });
    expect(errorsOf(out, "2")).toEqual([
      "exception_during_validation: Exception when validating node | list index out of range",
    ]);
  });

  test("a source node id written 1.0 is a KeyError naming 1.0", () => {
    const r = check({ "1": empty, "2": node("PreviewImage", `{"images": [1.0, 0]}`) });
    expect(errorsOf(r, "2")).toEqual([
      "exception_during_validation: Exception when validating node | 1.0",
    ]);
  });

  test("the readable text says how to write the index", () => {
    const prompt = parseJsonLossless(
      promptText({ "1": empty, "2": node("PreviewImage", `{"images": ["1", 0.0]}`) }),
      { floats: true },
    ) as Record<string, unknown>;
    const r = validatePrompt(prompt, schema);
    const described = describeNodeErrors({ node_errors: r.nodeErrors }, (id) => ({
      links: promptLinks(prompt, id, (c) => schema.classes.get(c)?.outputs.map((o) => o.type)),
    }));
    expect(described).toContain(
      'input images links to output 0.0 of node "1" (EmptyImage): an output index must be written as an integer (0, not 0.0)',
    );
  });

  test("a prompt built in JavaScript has no floats to find: [id, 0] links", () => {
    const r = validatePrompt(
      {
        "1": JSON.parse(empty) as unknown,
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0.0] } },
      },
      schema,
    );
    expect(r.valid).toBe(true);
  });
});

describe("values written as floats", () => {
  test("INT and BOOLEAN inputs convert them (int(16385.0) is 16385)", () => {
    const r = check({
      "1": node(
        "EmptyImage",
        `{"width": 16.0, "height": 16385.0, "batch_size": 1e0, "color": 0.0}`,
      ),
      "2": node("PreviewImage", `{"images": ["1", 0]}`),
    });
    expect(errorsOf(r, "1")).toEqual([
      "value_bigger_than_max: Value 16385 bigger than max of 16384 | height",
    ]);
  });

  test("a STRING input given 5.0 becomes '5.0' (str(5.0)); given 5, '5'", () => {
    for (const [written, str] of [
      ["5.0", "5.0"],
      ["5", "5"],
      ["1e3", "1000.0"],
    ] as const) {
      const r = check({
        "1": node("PrimitiveString", `{"value": ${written}}`),
        "2": node("PreviewAny", `{"source": ["1", 0]}`),
      });
      expect(r.valid).toBe(true);
      expect((r.prompt["1"] as { inputs: { value: unknown } }).inputs.value, written).toBe(str);
    }
  });

  test("a combo given 5.0: '5.0' in quotes on 0.3.64, repr 5.0 from 0.21.0", () => {
    const nodes = {
      "1": empty,
      "3": node("ImageScaleBy", `{"image": ["1", 0], "upscale_method": 5.0, "scale_by": 1}`),
      "2": node("PreviewImage", `{"images": ["3", 0]}`),
    };
    const list = "['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']";
    expect(errorsOf(check(nodes, "0.3.64"), "3")).toEqual([
      `value_not_in_list: Value not in list | upscale_method: '5.0' not in ${list}`,
    ]);
    expect(errorsOf(check(nodes, "0.33.0"), "3")).toEqual([
      `value_not_in_list: Value not in list | upscale_method: 5.0 not in ${list}`,
    ]);
  });

  test("an image loader given 5.0: 'float' object has no attribute 'endswith'", () => {
    const r = check({
      "1": node("LoadImageOutput", `{"image": 5.0}`),
      "2": node("PreviewImage", `{"images": ["1", 0]}`),
    });
    expect(r.nodeErrors["1"]!.errors[0]!.details).toBe(
      "'float' object has no attribute 'endswith'",
    );
  });

  test("an output node whose inputs is 5.0 (0.3.64): argument of type 'float'", () => {
    const r = check({ "1": empty, "2": `{"class_type": "PreviewImage", "inputs": 5.0}` }, "0.3.64");
    expect(errorsOf(r, "2")).toEqual([
      "exception_during_validation: Exception when validating node | argument of type 'float' is not iterable",
    ]);
  });
});

describe("limits print as the object_info wrote them", () => {
  const latent = node("EmptyLatentImage", `{"width": 16, "height": 16, "batch_size": 1}`);
  const blend = (factor: string) =>
    node("LatentBlend", `{"samples1": ["9", 0], "samples2": ["9", 0], "blend_factor": ${factor}}`);
  const audio = (rate: string) =>
    node(
      "LTXVEmptyLatentAudio",
      `{"frames_number": 97, "frame_rate": ${rate}, "batch_size": 1, "audio_vae": ["9", 2]}`,
    );
  const any = (from: string) => node("PreviewAny", `{"source": ["${from}", 0]}`);

  test("a classic FLOAT input declaring int limits: Value 2.0 bigger than max of 1", () => {
    expect(schema.classes.get("LatentBlend")?.numbersAsWritten).toBe(true);
    const r = check({
      "9": latent,
      "1": blend("2"),
      "3": blend("-1.0"),
      "2": any("1"),
      "4": any("3"),
    });
    expect(errorsOf(r, "1")).toEqual([
      "value_bigger_than_max: Value 2.0 bigger than max of 1 | blend_factor",
    ]);
    expect(errorsOf(r, "3")).toEqual([
      "value_smaller_than_min: Value -1.0 smaller than min of 0 | blend_factor",
    ]);
  });

  test("a V3 FLOAT,INT input: its value as written, its max of 1000.0", () => {
    const loader = node("CheckpointLoaderSimple", `{"ckpt_name": "x"}`);
    const r = check({
      "9": loader,
      "1": audio("2000"),
      "3": audio("2000.0"),
      "2": any("1"),
      "4": any("3"),
    });
    expect(errorsOf(r, "1")).toEqual([
      "value_bigger_than_max: Value 2000 bigger than max of 1000.0 | frame_rate",
    ]);
    expect(errorsOf(r, "3")).toEqual([
      "value_bigger_than_max: Value 2000.0 bigger than max of 1000.0 | frame_rate",
    ]);
  });

  test("an unconverted type (FLOATS) keeps the value as written: Value -2.0 smaller than min of -1", () => {
    const hook = (v: string) =>
      node(
        "CreateHookKeyframesFromFloats",
        `{"floats_strength": ${v}, "start_percent": 0, "end_percent": 1, "print_keyframes": false}`,
      );
    const r = check({ "1": hook("-2.0"), "3": hook("-2"), "2": any("1"), "4": any("3") });
    expect(errorsOf(r, "1")).toEqual([
      "value_smaller_than_min: Value -2.0 smaller than min of -1 | floats_strength",
    ]);
    expect(errorsOf(r, "3")).toEqual([
      "value_smaller_than_min: Value -2 smaller than min of -1 | floats_strength",
    ]);
  });

  test("a schema read without floats: a FLOAT input's limits print as floats, others as ints", () => {
    expect(plainSchema.classes.get("LatentBlend")?.numbersAsWritten).toBeUndefined();
    const r = check({ "9": latent, "1": blend("2"), "2": any("1") }, "0.33.0", plainSchema);
    // What most classes declare (KSampler's cfg max is 100.0); LatentBlend's own "max": 1 is lost.
    expect(errorsOf(r, "1")).toEqual([
      "value_bigger_than_max: Value 2.0 bigger than max of 1.0 | blend_factor",
    ]);
  });
});

describe("comfyc validate keeps the floats of the prompt file and the schema", () => {
  test("--schema: a link index of 0.0 exits 1 with the server's TypeError", async () => {
    const dir = tempDir();
    const file = join(dir, "prompt.json");
    writeFileSync(
      file,
      promptText({ "1": empty, "2": node("PreviewImage", `{"images": ["1", 0.0]}`) }),
    );
    const out = await cli("validate", file, "--schema", FIXTURE, "--json");
    expect(out.code, out.stderr).toBe(1);
    const body = parseJsonLossless(out.stdout) as {
      node_errors: Record<string, { errors: ErrorObj[] }>;
    };
    expect(body.node_errors["2"]!.errors[0]!.details).toBe(
      "tuple indices must be integers or slices, not float",
    );
    const text = await cli("validate", file, "--schema", FIXTURE);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain("(0, not 0.0)");
  });

  test("--schema: limits as written (max of 1000.0, max of 1)", async () => {
    const dir = tempDir();
    const file = join(dir, "prompt.json");
    writeFileSync(
      file,
      promptText({
        "9": node("EmptyLatentImage", `{"width": 16, "height": 16, "batch_size": 1}`),
        "1": node("LatentBlend", `{"samples1": ["9", 0], "samples2": ["9", 0], "blend_factor": 2}`),
        "2": node("PreviewAny", `{"source": ["1", 0]}`),
      }),
    );
    const out = await cli("validate", file, "--schema", FIXTURE, "--json");
    expect(out.code, out.stderr).toBe(1);
    expect(out.stdout).toContain("Value 2.0 bigger than max of 1");
    expect(out.stdout).not.toContain("max of 1.0");
  });

  test("--url of the test server: its /object_info writes floats as ComfyUI does, and validate agrees with its POST /prompt", async () => {
    const server = await startTestServer({
      port: 0,
      objectInfo: FIXTURE,
      comfyuiVersion: "0.33.0",
      warn: false,
    });
    try {
      const served = await (await fetch(`${server.url}/object_info`)).text();
      expect(served).toContain('"frame_rate":["FLOAT,INT",{');
      expect(served).toMatch(/"frame_rate":\["FLOAT,INT",\{[^}]*"max":1000\.0[,}]/);
      expect(served).toMatch(/"blend_factor":\["FLOAT",\{"default":0\.5,"min":0,"max":1,/);
      const one = await (await fetch(`${server.url}/object_info/ImageScaleBy`)).text();
      expect(one).toContain('"max":8.0');
      const body = promptText({
        "9": node("CheckpointLoaderSimple", `{"ckpt_name": "x"}`),
        "1": node(
          "LTXVEmptyLatentAudio",
          `{"frames_number": 97, "frame_rate": 2000, "batch_size": 1, "audio_vae": ["9", 2]}`,
        ),
        "2": node("PreviewAny", `{"source": ["1", 0]}`),
      });
      const answer = (await (
        await fetch(`${server.url}/prompt`, { method: "POST", body: `{"prompt": ${body}}` })
      ).json()) as { node_errors: Record<string, { errors: ErrorObj[] }> };
      const file = join(tempDir(), "prompt.json");
      writeFileSync(file, body);
      const out = await cli("validate", file, "--url", server.url, "--json");
      expect(out.code, out.stderr).toBe(1);
      const ours = parseJsonLossless(out.stdout) as typeof answer;
      const message = "Value 2000 bigger than max of 1000.0";
      expect(answer.node_errors["1"]!.errors.map((e) => e.message)).toContain(message);
      expect(ours.node_errors["1"]!.errors.map((e) => e.message)).toContain(message);
    } finally {
      await server.close();
    }
  });

  test("compile --schema: a built workflow's limits print as the file wrote them", async () => {
    const file = join(tempDir(), "blend.ts");
    const core = JSON.stringify(join(ROOT, "generated", "core.js"));
    const comfyc = JSON.stringify(join(ROOT, "src", "index.ts"));
    writeFileSync(
      file,
      [
        `import { workflow } from ${comfyc};`,
        `import { EmptyLatentImage, LatentBlend, PreviewAny } from ${core};`,
        "const wf = workflow();",
        "const latent = wf.add(EmptyLatentImage, { width: 16, height: 16, batch_size: 1 });",
        "const blend = wf.add(LatentBlend, { samples1: latent.LATENT, samples2: latent.LATENT, blend_factor: 2 });",
        "wf.add(PreviewAny, { source: blend.LATENT });",
        "export default wf;",
      ].join("\n"),
    );
    const out = await cli("compile", file, "--schema", FIXTURE);
    expect(out.code, out.stderr).toBe(1);
    expect(out.stderr).toContain("Value 2.0 bigger than max of 1");
    expect(out.stderr).not.toContain("max of 1.0");
  });
});
