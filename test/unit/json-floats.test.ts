import { readFileSync } from "node:fs";
import { basename } from "node:path";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parseJsonLossless, parsedWithFloats, writtenAsFloat } from "../../src/protocol/json.js";
import { fixture, HAS_SHARED_DATA, objectInfoDumps } from "../helpers.js";

/**
 * `parseJsonLossless(text, { floats: true })`: which integral numbers the text wrote as floats
 * (`0.0`, `1e3`), as Python's `json` tells them apart (a fraction or an exponent makes a float).
 */

const FIXTURE = fixture("object-info", "comfyui-0.33.0-floats.json");

type Doc = Record<string, unknown>;
const parse = (text: string) => parseJsonLossless(text, { floats: true }) as Doc;

describe("parseJsonLossless with floats", () => {
  test("integral floats are recorded per container and key; ints and fractions are not", () => {
    const v = parse(
      '{"link": ["4", 0.0], "e": 1e3, "E": 1E+2, "f": 1.5e1, "neg": -0.0, "int": 1000, "half": 0.5, "list": [1.0, 2, 3.0e-0]}',
    );
    expect(v).toEqual({
      link: ["4", 0],
      e: 1000,
      E: 100,
      f: 15,
      neg: -0,
      int: 1000,
      half: 0.5,
      list: [1, 2, 3],
    });
    expect(Object.is(v["neg"], -0)).toBe(true);
    expect(writtenAsFloat(v["link"] as object, 1)).toBe(true);
    expect(writtenAsFloat(v["link"] as object, 0)).toBe(false);
    for (const key of ["e", "E", "f", "neg"]) expect(writtenAsFloat(v, key), key).toBe(true);
    // 0.5 is a float in JavaScript too: nothing to record.
    for (const key of ["int", "half"]) expect(writtenAsFloat(v, key), key).toBe(false);
    const list = v["list"] as object;
    expect([0, 1, 2].map((i) => writtenAsFloat(list, i))).toEqual([true, false, true]);
  });

  test("without the option nothing is recorded, and the values are the same", () => {
    const text = '{"link": ["4", 0.0], "max": 1000.0}';
    const plain = parseJsonLossless(text) as Doc;
    expect(plain).toEqual(parse(text));
    expect(writtenAsFloat(plain["link"] as object, 1)).toBe(false);
    expect(writtenAsFloat(plain, "max")).toBe(false);
    expect(parsedWithFloats(plain)).toBe(false);
  });

  test("float-looking text inside strings stays text and is not recorded", () => {
    // `"a": "x, 1.0]"` stands like a token by its neighbours: the guess fails and the exact scan
    // that skips strings decides.
    const v = parse('{"a": "x, 1.0]", "b": "\\" 2.0 ,", "c": [ 3.0 ], "d": "v1.0"}');
    expect(v).toEqual({ a: "x, 1.0]", b: '" 2.0 ,', c: [3], d: "v1.0" });
    expect(writtenAsFloat(v["c"] as object, 0)).toBe(true);
    expect(writtenAsFloat(v, "a")).toBe(false);
  });

  test("prose and JSON kept in strings, as real object_info has them, stay text", () => {
    // A `:` not after a key's closing quote is inside a string: such candidates are skipped.
    const text =
      '{"tooltip": "scale (default: 0.0]", "expr": "{\\"usd\\": 1.0, \\"n\\": [2.0]}", "a\\\\": 3.0, "b": [4.0]}';
    const v = parse(text);
    expect(v).toEqual({
      tooltip: "scale (default: 0.0]",
      expr: '{"usd": 1.0, "n": [2.0]}',
      "a\\": 3,
      b: [4],
    });
    expect(writtenAsFloat(v, "a\\")).toBe(true);
    expect(writtenAsFloat(v["b"] as object, 0)).toBe(true);
    expect(writtenAsFloat(v, "expr")).toBe(false);
  });

  test("with NaN, Infinity and 64-bit integers in the same text", () => {
    const v = parse(
      '{"seed": 18446744073709551615, "x": NaN, "y": -Infinity, "big": 12345678901234567890.0, "z": 2.0}',
    );
    expect(v["seed"]).toBe(2n ** 64n - 1n);
    expect(v["x"]).toBeNaN();
    expect(v["y"]).toBe(-Infinity);
    // A float of 20 digits is a Python float (rounded), not an exact int.
    expect(v["big"]).toBe(Number("12345678901234567890"));
    expect(writtenAsFloat(v, "big")).toBe(true);
    expect(writtenAsFloat(v, "seed")).toBe(false);
    expect(writtenAsFloat(v, "z")).toBe(true);
  });

  test("an own __proto__ key keeps its float as an own property", () => {
    const v = parse('{"__proto__": 1.0, "a": {"__proto__": [2.0]}}');
    expect(Object.hasOwn(v, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(writtenAsFloat(v, "__proto__")).toBe(true);
    const inner = (v["a"] as Doc)["__proto__"] as object;
    expect(writtenAsFloat(inner, 0)).toBe(true);
  });

  test("invalid text is still refused", () => {
    expect(() => parseJsonLossless("[1.0 2.0]", { floats: true })).toThrow(SyntaxError);
    expect(() => parseJsonLossless('{"a": 1.}', { floats: true })).toThrow(SyntaxError);
    expect(() => parseJsonLossless('{"a": 01.0}', { floats: true })).toThrow(SyntaxError);
    // A leading zero is refused in a long integer too (it was once marked as a bigint).
    expect(() => parseJsonLossless('{"a": 012345678901234567890}')).toThrow(SyntaxError);
  });

  test("parsedWithFloats: the root and the objects directly in it, whatever the text holds", () => {
    const v = parse('{"A": {"input": {"x": 1}}, "B": [1], "n": 1}');
    expect(parsedWithFloats(v)).toBe(true);
    expect(parsedWithFloats(v["A"] as object)).toBe(true);
    expect(parsedWithFloats(v["B"] as object)).toBe(true);
    expect(parsedWithFloats((v["A"] as Doc)["input"] as object)).toBe(false);
    expect(parsedWithFloats({ ...v })).toBe(false);
  });

  test("a real 0.33.0 object_info keeps its float limits (fixture)", () => {
    const info = parse(readFileSync(FIXTURE, "utf8"));
    const options = (cls: string, input: string) =>
      (info[cls] as { input: { required: Record<string, [unknown, Doc]> } }).input.required[
        input
      ]![1] as Doc;
    // V3 io.Float inside a MultiType: min=1.0, max=1000.0, default=25.0, step=0.01.
    const rate = options("LTXVEmptyLatentAudio", "frame_rate");
    expect(["min", "max", "default", "step"].map((k) => writtenAsFloat(rate, k))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // Classic LatentBlend declares its FLOAT limits as ints: "min": 0, "max": 1.
    const blend = options("LatentBlend", "blend_factor");
    expect(["min", "max", "default"].map((k) => writtenAsFloat(blend, k))).toEqual([
      false,
      false,
      false,
    ]);
    // ImageScaleBy: "min": 0.01, "max": 8.0, "default": 1.0.
    const scale = options("ImageScaleBy", "scale_by");
    expect(["max", "default"].map((k) => writtenAsFloat(scale, k))).toEqual([true, true]);
  });

  test("property: every number is recorded exactly when written as an integral float", () => {
    // A number written as an int, or as a float (with a fraction or an exponent).
    const numberText = fc.oneof(
      fc.integer({ min: -1e6, max: 1e6 }).map((n) => ({ text: String(n), float: false })),
      fc
        .tuple(
          fc.integer({ min: -1e6, max: 1e6 }),
          fc.constantFrom(".0", ".00", "e0", "E+2", ".0e1"),
        )
        .map(([n, tail]) => ({ text: `${n}${tail}`, float: true })),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => ({
        text: JSON.stringify(x),
        float: !Number.isInteger(x) || /[.eE]/.test(JSON.stringify(x)),
      })),
    );
    const item = fc.oneof(
      numberText,
      fc.string().map((s) => ({ text: JSON.stringify(s), float: false, string: s })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), fc.boolean(), (items, asObject) => {
        const text = asObject
          ? `{${items.map((it, i) => `"k${i}": ${it.text}`).join(", ")}}`
          : `[${items.map((it) => it.text).join(",")}]`;
        const v = parseJsonLossless(text, { floats: true }) as Doc | unknown[];
        const plain = parseJsonLossless(text) as Doc | unknown[];
        expect(v).toEqual(plain);
        items.forEach((it, i) => {
          const key = asObject ? `k${i}` : i;
          const value = (v as Record<string | number, unknown>)[key];
          const expected = it.float && typeof value === "number" && Number.isInteger(value);
          expect(writtenAsFloat(v, key), `${it.text} in ${text}`).toBe(expected);
        });
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * The integral float tokens of a JSON text, counted by a plain character loop that skips strings:
 * a reference independent of the parser's guesses.
 */
function integralFloatTokens(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i, i + 400))!;
      if ((m[1] || m[2]) && Number.isInteger(Number(m[0]))) count++;
      i += m[0].length - 1;
    }
  }
  return count;
}

/** How many numbers of a parsed document are recorded as written as floats. */
function recordedFloats(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let count = 0;
  for (const [key, v] of Object.entries(value)) {
    if (writtenAsFloat(value, Array.isArray(value) ? Number(key) : key)) count++;
    count += recordedFloats(v);
  }
  return count;
}

// Without ../shared/data, one line for every skipped suite says so (test/shared.setup.ts).
describe.runIf(HAS_SHARED_DATA)("parseJsonLossless with floats on the object_info corpus", () => {
  test("every dump parses to the same value, with each integral float token recorded", () => {
    const counts: Record<string, number> = {};
    for (const file of [FIXTURE, ...objectInfoDumps()]) {
      const text = readFileSync(file, "utf8");
      const value = parseJsonLossless(text, { floats: true });
      expect(value, file).toEqual(parseJsonLossless(text));
      const recorded = recordedFloats(value);
      expect(recorded, file).toBe(integralFloatTokens(text));
      counts[basename(file)] = recorded;
    }
    // Real dumps hold thousands (V3 and classic FLOAT limits written 1.0, 100.0, …).
    expect(counts["oi_2026-05_yuzuki_custom_1686.json"]).toBeGreaterThan(1000);
  });
});
