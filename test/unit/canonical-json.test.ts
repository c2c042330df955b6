import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseJsonLossless, stringifyJson } from "../../src/protocol/json.js";
import { canonicalJson, canonicalJsonOfData } from "../../src/schema/canonical-json.js";
import { BUNDLED_SCHEMA, fixture, HAS_SHARED_DATA, objectInfoDumps } from "../helpers.js";

/**
 * Canonical JSON the plain way, as the rule states it: keys sorted by UTF-16 code unit at every
 * level, bigints as digits, anything else as `JSON.stringify` writes it (a missing value as null).
 * With `python`, keys in their own order and non-finite numbers as Python's tokens instead.
 */
function reference(value: unknown, python = false): string {
  if (typeof value === "bigint") return value.toString();
  if (python && typeof value === "number" && !Number.isFinite(value))
    return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${Array.from(value, (v) => reference(v, python)).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (!python) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k], python)}`).join(",")}}`;
}

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
    [
      "empty objects and arrays, nested",
      { b: {}, a: [[], [{}], { z: [] }] },
      '{"a":[[],[{}],{"z":[]}],"b":{}}',
    ],
    [
      "keys in order with a member out of order inside",
      { a: 1, b: { d: 1, c: [true, false, null] }, c: "x" },
      '{"a":1,"b":{"c":[true,false,null],"d":1},"c":"x"}',
    ],
    [
      "keys by UTF-16 code unit: astral characters before U+E000–U+FFFF",
      { "\uFF01": 1, "\u{1F600}": 2, "\uE000": 3, "\u00E9": 4 },
      '{"é":4,"😀":2,"\uE000":3,"！":1}',
    ],
    [
      "-0 in an object out of order",
      { b: -0, a: [-0, 0.5, 1e21, 5e-7] },
      '{"a":[0,0.5,1e+21,5e-7],"b":0}',
    ],
    [
      "a bigint as the only value, and in nested arrays",
      [[2n ** 64n], [[-(2n ** 63n)]], { a: [2n ** 70n, "x"] }],
      '[[18446744073709551616],[[-9223372036854775808]],{"a":[1180591620717411303424,"x"]}]',
    ],
    ["an own __proto__ key in order", JSON.parse('{"__proto__":1,"a":2}'), '{"__proto__":1,"a":2}'],
    [
      "a null-prototype object",
      Object.assign(Object.create(null), { b: 1, a: 2 }),
      '{"a":2,"b":1}',
    ],
  ];
  test.each(cases)("%s", (_, given, want) => {
    expect(canonicalJson(given)).toBe(want);
    expect(reference(given)).toBe(want);
  });

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

  // Every real dump when ../shared/data is there; the bundled and vendored ones otherwise.
  const dumps = HAS_SHARED_DATA
    ? objectInfoDumps()
    : [
        BUNDLED_SCHEMA,
        ...readdirSync(fixture("object_info")).map((f) => fixture("object_info", f)),
      ];
  test.each(dumps)("writes every class of %s as the plain rules do (canonical, Python)", (path) => {
    const raw = parseJsonLossless(readFileSync(path, "utf8")) as Record<string, unknown>;
    for (const [classType, info] of Object.entries(raw)) {
      const { json, exact } = canonicalJsonOfData(info);
      expect(json, classType).toBe(reference(info));
      expect(stringifyJson(info), classType).toBe(reference(info, true));
      // Exact: the native JSON.stringify writes the same data (in its own key order) unchanged.
      if (exact) expect(JSON.parse(JSON.stringify(info)), classType).toEqual(info);
    }
    expect(canonicalJson(raw)).toBe(reference(raw));
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
