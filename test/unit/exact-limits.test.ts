import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { normalizeObjectInfo, validatePrompt } from "comfyc";
import { generate, loadObjectInfo } from "comfyc/codegen";
import { BUNDLED_SCHEMA, ROOT, tempDir } from "../helpers.js";

// 64-bit limits read from a schema file stay exact (a lossless parse), so they are compared
// exactly and shown digit for digit. JSON.parse would round PrimitiveInt's max 2^63−1 up to 2^63
// (and accept 2^63), and the seeds' 2^64−1 to 2^64.

const TWO_63 = 2n ** 63n;
const TWO_64 = 2n ** 64n;

const prompt = (classType: string, input: string, value: bigint) => ({
  "1": { class_type: classType, inputs: { [input]: value } },
  "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
});

describe("a schema read from a --schema file (library call)", async () => {
  const { raw, label } = await loadObjectInfo({ file: BUNDLED_SCHEMA });
  const schema = normalizeObjectInfo(raw, label);
  const errorsOf = (p: Record<string, unknown>) =>
    validatePrompt(p, schema).nodeErrors["1"]?.errors;

  const cases: [string, string, string, bigint, string | undefined][] = [
    [
      "2^63 against PrimitiveInt's max 2^63−1",
      "PrimitiveInt",
      "value",
      TWO_63,
      "value_bigger_than_max",
    ],
    ["2^63−1 at PrimitiveInt's max", "PrimitiveInt", "value", TWO_63 - 1n, undefined],
    ["−(2^63−1) at PrimitiveInt's min", "PrimitiveInt", "value", -(TWO_63 - 1n), undefined],
    ["−2^63 below PrimitiveInt's min", "PrimitiveInt", "value", -TWO_63, "value_smaller_than_min"],
    ["2^64−1 at RandomNoise's seed max", "RandomNoise", "noise_seed", TWO_64 - 1n, undefined],
    [
      "2^64 above RandomNoise's seed max",
      "RandomNoise",
      "noise_seed",
      TWO_64,
      "value_bigger_than_max",
    ],
  ];
  test.each(cases)("%s", (_, classType, input, value, want) => {
    const errors = errorsOf(prompt(classType, input, value));
    if (want === undefined) expect(errors).toBeUndefined();
    else expect(errors?.map((e) => e.type)).toEqual([want]);
  });

  test("the rejection names the exact limit", () => {
    const error = errorsOf(prompt("PrimitiveInt", "value", TWO_63))?.[0];
    expect(error?.message).toContain(
      "Value 9223372036854775808 bigger than max of 9223372036854775807",
    );
  });
});

describe("generated docs show ±(2^64−1) exactly", () => {
  // An INT and a FLOAT with the unsigned-64 range, as TrimAudioDuration's start_index has it.
  const text =
    '{"Wide": {"input": {"required": {' +
    '"i": ["INT", {"default": 0, "min": -18446744073709551615, "max": 18446744073709551615}], ' +
    '"f": ["FLOAT", {"default": 0, "min": -18446744073709551615, "max": 18446744073709551615}]}}, ' +
    '"output": [], "output_is_list": [], "output_name": [], "name": "Wide", ' +
    '"display_name": "Wide", "description": "", "python_module": "nodes", "category": "t", ' +
    '"output_node": true}}';

  test.each([
    [
      "read losslessly from a file",
      async () => {
        const file = join(tempDir(), "object_info.json");
        writeFileSync(file, text);
        return (await loadObjectInfo({ file })).raw;
      },
    ],
    // Someone else's JSON.parse gives the floats ±2^64; they mean ±(2^64−1).
    ["given as JSON.parse's floats", async () => JSON.parse(text) as unknown],
  ])("%s", async (_, read) => {
    const { files } = await generate(await read());
    const dts = files.find((f) => f.path === "core.d.ts")!.content;
    expect(dts).toContain("Integer, min -18446744073709551615, max 18446744073709551615.");
    expect(dts).toContain("Number, min -18446744073709551615, max 18446744073709551615.");
    expect(dts).not.toContain("18446744073709551616");
  });

  test("the repository's generated/ (TrimAudioDuration) says -18446744073709551615", () => {
    const dts = readFileSync(join(ROOT, "generated", "core.d.ts"), "utf8");
    expect(dts).toContain(
      "Number, min -18446744073709551615, max 18446744073709551615, step 0.01.",
    );
    expect(dts).not.toContain("18446744073709551616");
  });
});
