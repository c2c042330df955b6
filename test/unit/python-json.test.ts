import { describe, expect, test } from "vitest";
import { parseJsonLossless, stringifyJson } from "../../src/protocol/json.js";
import { pyFloatOf, pyIntOf } from "../../src/schema/coerce.js";
import { pyFloat, pyJsonDumps, pyStrRepr } from "../../src/schema/python-format.js";
import { PyFloat, withPythonFloats } from "../../src/testing/python-float.js";

describe("JSON as Python reads and writes it", () => {
  test("NaN, Infinity and -Infinity are numbers outside strings, text inside them", () => {
    expect(
      parseJsonLossless(
        '{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN Infinity", "d\\"NaN": 1}',
      ),
    ).toEqual({ a: NaN, b: [Infinity, -Infinity], c: "NaN Infinity", 'd"NaN': 1 });
  });

  test("tokens inside strings that look like values stay text (the guess from neighbours fails)", () => {
    const text =
      '{"a": "x, 18446744073709551615, y", "b": [ 18446744073709551615 ], "c": "[NaN]",' +
      ' "d": "\\\\ ,-Infinity,", "e": -Infinity, "f": "1:\\n 9223372036854775808}"}';
    expect(parseJsonLossless(text)).toEqual({
      a: "x, 18446744073709551615, y",
      b: [2n ** 64n - 1n],
      c: "[NaN]",
      d: "\\ ,-Infinity,",
      e: -Infinity,
      f: "1:\n 9223372036854775808}",
    });
    // Invalid text is still refused, whatever was guessed.
    expect(() => parseJsonLossless("[1 NaN]")).toThrow(SyntaxError);
    expect(() => parseJsonLossless('{"a": NaN "b"}')).toThrow(SyntaxError);
  });

  test("with 64-bit integers in the same text, both stay exact", () => {
    const v = parseJsonLossless('{"seed": 18446744073709551615, "x": NaN}') as Record<
      string,
      unknown
    >;
    expect(v["seed"]).toBe(2n ** 64n - 1n);
    expect(v["x"]).toBeNaN();
  });

  test("integers beyond 2^53 become bigints wherever they are; everything else is JSON.parse's", () => {
    const text =
      '{"__proto__": 18446744073709551615, "a": [-9223372036854775808, 9007199254740992, 9007199254740991, 1125899906842624],' +
      ' "f": [12345678901234567890.5, 1e400, -0, 1.5e-7], "s": "18446744073709551615", "n": [[[[18446744073709551616]]]]}';
    const v = parseJsonLossless(text) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(["__proto__", "a", "f", "s", "n"]);
    expect(v["__proto__"]).toBe(2n ** 64n - 1n);
    expect(v["a"]).toEqual([-(2n ** 63n), 2n ** 53n, 2 ** 53 - 1, 1125899906842624]);
    expect(v["f"]).toEqual([Number("12345678901234567890.5"), Infinity, -0, 1.5e-7]);
    expect(v["s"]).toBe("18446744073709551615");
    expect(v["n"]).toEqual([[[[2n ** 64n]]]]);
    expect(parseJsonLossless("18446744073709551615")).toBe(2n ** 64n - 1n);
    // A string shaped like a marker stays a string (markers carry a per-call random nonce).
    expect(parseJsonLossless('["\\u0000x:0", 18446744073709551615]')).toEqual([
      "\u0000x:0",
      2n ** 64n - 1n,
    ]);
  });

  test("nesting as deep as JSON.parse takes, with a 64-bit integer at the bottom", () => {
    const depth = 20_000;
    let v = parseJsonLossless(`${"[".repeat(depth)}18446744073709551615${"]".repeat(depth)}`);
    for (let i = 0; i < depth; i++) v = (v as unknown[])[0];
    expect(v).toBe(2n ** 64n - 1n);
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

  test.each<[string, unknown, string]>([
    [
      "keys in their own order, integer-like first, an own __proto__ kept",
      JSON.parse('{"z":[1],"9":{"b":2,"a":1},"__proto__":{"q":1}}'),
      '{"9":{"b":2,"a":1},"z":[1],"__proto__":{"q":1}}',
    ],
    [
      "bigints deep in arrays and objects, beside plain parts",
      { a: [[2n ** 64n], "x"], b: { c: -(2n ** 63n), d: [1, 2] }, e: -0 },
      '{"a":[[18446744073709551616],"x"],"b":{"c":-9223372036854775808,"d":[1,2]},"e":0}',
    ],
    ["a bigint alone", 2n ** 53n + 1n, "9007199254740993"],
    [
      "undefined members as JSON.stringify drops them",
      { a: 1n, b: undefined, c: [undefined] },
      '{"a":1,"c":[null]}',
    ],
    [
      "toJSON as JSON.stringify calls it",
      { a: 1n, d: new Date(0) },
      '{"a":1,"d":"1970-01-01T00:00:00.000Z"}',
    ],
    ["with an indent", { a: [NaN] }, '{\n  "a": [\n    NaN\n  ]\n}'],
  ])("stringifyJson: %s", (_, value, want) => {
    expect(stringifyJson(value, want.includes("\n") ? 2 : undefined)).toBe(want);
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

describe("int(), float() and repr() of strings as CPython does them", () => {
  // Expected values printed by CPython 3.11: int(s), float(s), repr(s).
  const numbers: [string, number | string, number | string][] = [
    ["١٦", 16, 16],
    ["\u3000１６\u00a0", 16, 16],
    ["𝟏𝟔", 16, 16],
    ["١٦.٥", "invalid literal for int() with base 10: '١٦.٥'", 16.5],
    [
      "\u001c16",
      "invalid literal for int() with base 10: '\\x1c16'",
      "could not convert string to float: '\\x1c16'",
    ],
    [
      "\ufeff16",
      "invalid literal for int() with base 10: '\\ufeff16'",
      "could not convert string to float: '\\ufeff16'",
    ],
  ];
  test.each(numbers)("%j", (text, int, float) => {
    const attempt = (f: () => unknown) => {
      try {
        return f();
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(attempt(() => pyIntOf(text))).toEqual(int);
    expect(attempt(() => pyFloatOf(text))).toEqual(float);
  });

  test("repr() escapes what str.isprintable() rejects", () => {
    expect(
      ["a\u00a0b", "\u200b", "\ud800", "é🦊", "\u{e0001}", "\u2028", "it's"].map(pyStrRepr),
    ).toEqual([
      "'a\\xa0b'",
      "'\\u200b'",
      "'\\ud800'",
      "'é🦊'",
      "'\\U000e0001'",
      "'\\u2028'",
      `"it's"`,
    ]);
  });
});

describe("floats as Python writes them", () => {
  // repr() of each float, from Python 3.11 (Debian 12's python3); json.dumps writes the same.
  const cases: [number, string][] = [
    [5, "5.0"],
    [5.5, "5.5"],
    [-3, "-3.0"],
    [0, "0.0"],
    [-0, "-0.0"],
    [0.1, "0.1"],
    [0.0001, "0.0001"],
    [0.0001234, "0.0001234"],
    [1e-5, "1e-05"],
    [1.5e-7, "1.5e-07"],
    [2.5e-300, "2.5e-300"],
    [1e15, "1000000000000000.0"],
    [1e16, "1e+16"],
    [1e21, "1e+21"],
    [1.2345678901234567e19, "1.2345678901234567e+19"],
    [1234567890123456.8, "1234567890123456.8"],
    [9007199254740992, "9007199254740992.0"],
    // Next to a power of ten, where a logarithm rounds the wrong way.
    [9.999999999999999e-5, "9.999999999999999e-05"],
    [9.999999999999998e15, "9999999999999998.0"],
    [0.09999999999999999, "0.09999999999999999"],
    [Infinity, "inf"],
    [NaN, "nan"],
  ];
  test.each(cases)("repr(%d) is %s", (n, repr) => expect(pyFloat(n)).toBe(repr));

  test("the test server's PyFloat is written as json.dumps writes the float, anywhere in a reply", () => {
    const body = {
      number: new PyFloat(5),
      queue: [[new PyFloat(-0), "id"]],
      n: [new PyFloat(NaN)],
    };
    expect(withPythonFloats(stringifyJson(body))).toBe(
      '{"number":5.0,"queue":[[-0.0,"id"]],"n":[NaN]}',
    );
    // With a bigint the general path runs: the same.
    expect(withPythonFloats(stringifyJson({ seed: 2n ** 64n, p: new PyFloat(1e16) }))).toBe(
      '{"seed":18446744073709551616,"p":1e+16}',
    );
    // A client's string that looks like a marker stays a string.
    const lookalike = "\u0000pyfloat-0123456789abcdef:5.0";
    expect(JSON.parse(withPythonFloats(stringifyJson({ s: lookalike })))).toEqual({ s: lookalike });
  });
});
