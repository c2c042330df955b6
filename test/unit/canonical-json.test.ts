import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { canonicalJson, canonicalJsonOfData } from "../../src/schema/canonical-json.js";
import { BUNDLED_SCHEMA } from "../helpers.js";

describe("canonicalJson", () => {
  const cases: [string, unknown, string][] = [
    [
      "keys sorted at every level",
      { b: 1, a: { d: [2, { y: 1, x: 0 }], c: "s" } },
      '{"a":{"c":"s","d":[2,{"x":0,"y":1}]},"b":1}',
    ],
    ["keys by code unit, not locale", { b: 1, B: 2, é: 3, e: 4 }, '{"B":2,"b":1,"e":4,"é":3}'],
    ["integer-like keys in code-unit order", { "9": 1, "10": 2, x: 3 }, '{"10":2,"9":1,"x":3}'],
    [
      "an own __proto__ key",
      JSON.parse('{"z":1,"__proto__":{"b":1,"a":2}}'),
      '{"__proto__":{"a":2,"b":1},"z":1}',
    ],
    [
      "a bigint as its digits",
      { max: 18446744073709551615n, min: 0 },
      '{"max":18446744073709551615,"min":0}',
    ],
    [
      "bigints among unsorted keys, in arrays, beside NaN and NUL strings",
      { z: [-(2n ** 63n), { b: 2n ** 64n - 1n, a: NaN }], y: "\u0000:0", x: 9007199254740993n },
      '{"x":9007199254740993,"y":"\\u0000:0","z":[-9223372036854775808,{"a":null,"b":18446744073709551615}]}',
    ],
    ["undefined as null", { b: undefined, a: [undefined] }, '{"a":[null],"b":null}'],
    ["non-finite numbers and -0", [NaN, Infinity, -0], "[null,null,0]"],
    ["strings escaped as JSON", { 'a"b': "line\nbreak\u2028" }, '{"a\\"b":"line\\nbreak\u2028"}'],
    ["scalars", "x", '"x"'],
  ];
  test.each(cases)("%s", (_, given, want) => expect(canonicalJson(given)).toBe(want));

  test.each([
    ["plain data", { b: [1, "x", null, true], a: { c: -0.5 } }, true],
    ["a bigint", { max: 2n ** 64n - 1n }, false],
    ["NaN", { v: [1, NaN] }, false],
    ["-Infinity", { v: -Infinity }, false],
    ["undefined", { v: undefined }, false],
    ["integer-like keys", { "1": 1 }, false],
    ["a class instance", { d: new Date(0) }, false],
  ])("canonicalJsonOfData: %s is written exactly by JSON.stringify: %s", (_, given, exact) => {
    expect(canonicalJsonOfData(given)).toEqual({ json: canonicalJson(given), exact });
  });

  test("shuffling keys of the bundled schema never changes the text", () => {
    const raw = JSON.parse(readFileSync(BUNDLED_SCHEMA, "utf8")) as Record<string, unknown>;
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reversed(x)]),
            )
          : v;
    expect(canonicalJson(reversed(raw))).toBe(canonicalJson(raw));
  });
});
