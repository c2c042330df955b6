import { describe, expect, test } from "vitest";
import { replyJsonText, replyText } from "../../src/runtime/object-info.js";

// `comfyc codegen --url` parses /object_info from replyJsonText (non-ASCII escaped, so the text
// stays a one-byte string); the value must be the one the reply's own text parses to.

const parse = (text: string): unknown => {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return "invalid";
  }
};

describe("replyJsonText", () => {
  test("parses to the same value as the reply's text: BOM, emoji, every plane, invalid UTF-8", () => {
    const docs = [
      '{"a": "plain"}',
      '{"KSampler": {"display_name": "K 🔧 — é •", "x": ["小", "女", "️"]}, "é": 1}',
      '["\\u00e9 escaped already", "é raw", "\\ud83d\\udd27", "🔧"]',
      `{"all": "${Array.from({ length: 200 }, (_, i) => String.fromCodePoint(0x80 + i * 331)).join("")}"}`,
    ];
    const bodies = docs.flatMap((d) => [
      Buffer.from(d),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(d)]),
    ]);
    // Invalid UTF-8 inside a string: a lone continuation byte, a cut sequence, an overlong one.
    for (const bad of [[0x80], [0xe2, 0x82], [0xc0, 0xaf], [0xf0, 0x9f, 0x94]])
      bodies.push(Buffer.concat([Buffer.from('{"s": "x'), Buffer.from(bad), Buffer.from('y"}')]));
    for (const body of bodies) {
      const escaped = replyJsonText(body);
      expect(escaped).toMatch(/^[\x00-\x7f]*$/);
      expect(parse(escaped)).toEqual(parse(replyText(body)));
      expect(parse(escaped)).not.toBe("invalid");
    }
  });

  test("text JSON rejects stays rejected (a raw character outside a string), and ASCII is left as it is", () => {
    // A raw character after a backslash is an invalid escape; escaped, it would read as `\\u00e9`.
    for (const text of ['{"a": é}', "é", '{"a": 1,,}', '["é"', '{"a": "\\é"}'])
      expect(parse(replyJsonText(Buffer.from(text)))).toBe("invalid");
    const ascii = '{"a": [1, 2.5, "x\\u00e9"]}';
    expect(replyJsonText(Buffer.from(ascii))).toBe(ascii);
    // An escaped backslash before a raw character stays valid, and reads the same.
    const valid = Buffer.from('{"a": "\\\\é", "b": "ü"}');
    expect(parse(replyJsonText(valid))).toEqual({ value: { a: "\\é", b: "ü" } });
  });
});
