import { describe, expect, test } from "vitest";
import { parseJsonLossless, stringifyJson } from "../../src/protocol/json.js";
import { pyJsonDumps } from "../../src/schema/python-format.js";

describe("JSON as Python reads and writes it", () => {
  test("NaN, Infinity and -Infinity are numbers outside strings, text inside them", () => {
    expect(
      parseJsonLossless(
        '{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN Infinity", "d\\"NaN": 1}',
      ),
    ).toEqual({ a: NaN, b: [Infinity, -Infinity], c: "NaN Infinity", 'd"NaN': 1 });
  });

  test("with 64-bit integers in the same text, both stay exact", () => {
    const v = parseJsonLossless('{"seed": 18446744073709551615, "x": NaN}') as Record<
      string,
      unknown
    >;
    expect(v["seed"]).toBe(2n ** 64n - 1n);
    expect(v["x"]).toBeNaN();
  });

  test("text Python rejects stays an error", () => {
    for (const bad of ['{"a": nan}', '{"a": -NaN}', '{"a": NaNa}', "[Inf]"])
      expect(() => parseJsonLossless(bad), bad).toThrow(SyntaxError);
  });

  test("writes non-finite numbers and bigints as Python's json.dumps does", () => {
    expect(stringifyJson({ a: NaN, b: [Infinity, -Infinity], c: null, d: 2n ** 64n - 1n })).toBe(
      '{"a":NaN,"b":[Infinity,-Infinity],"c":null,"d":18446744073709551615}',
    );
    expect(stringifyJson({ s: "null", n: null })).toBe('{"s":"null","n":null}');
    const round = parseJsonLossless(stringifyJson({ x: [NaN, -Infinity, 1.5] }));
    expect(round).toEqual({ x: [NaN, -Infinity, 1.5] });
  });
});

describe("pyJsonDumps: json.dumps with Python's defaults (the text ComfyUI writes into PNGs)", () => {
  test("separators, ensure_ascii with surrogate pairs, exact bigints, float repr, non-finite tokens", () => {
    // Each expected string is what CPython 3.11's json.dumps prints for the same value.
    expect(pyJsonDumps({ a: [1, "é"], b: { c: null, d: true } })).toBe(
      '{"a": [1, "\\u00e9"], "b": {"c": null, "d": true}}',
    );
    expect(pyJsonDumps('😀 – \n\t"\\ \u007f \u0001')).toBe(
      '"\\ud83d\\ude00 \\u2013 \\n\\t\\"\\\\ \\u007f \\u0001"',
    );
    expect(pyJsonDumps([2n ** 64n - 1n, 0.5, 1e-7, 1e21, -0.1])).toBe(
      "[18446744073709551615, 0.5, 1e-07, 1e+21, -0.1]",
    );
    expect(pyJsonDumps([NaN, Infinity, -Infinity])).toBe("[NaN, Infinity, -Infinity]");
    expect(pyJsonDumps({})).toBe("{}");
    expect(pyJsonDumps([])).toBe("[]");
  });
});
