import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  docCode,
  docText,
  jsonTextLiteral,
  propertyName,
  stringLiteral,
} from "../../src/codegen/emit/text.js";

describe("propertyName", () => {
  const cases: [string, string][] = [
    ["seed", "seed"],
    ["default", "default"],
    ["input_blocks.0.", '"input_blocks.0."'],
    ["my input", '"my input"'],
    ["0", '"0"'],
    ["__proto__", '"__proto__"'],
    ['a"b', "'a\"b'"],
    ["x`${y}`", '"x`${y}`"'],
  ];
  test.each(cases)("%j → %s", (name, want) => expect(propertyName(name)).toBe(want));
});

describe("stringLiteral", () => {
  const cases: string[] = [
    'he said "hi"',
    "it's",
    "line\nbreak",
    "back\\slash",
    "`${process.exit()}`",
    "\u2028\u2029",
    "'\"\"'",
    '{"a":"it\'s \\"x\\"","b":["\\\\",1]}',
    '""\\"\'\\\'',
  ];
  test.each(cases)("%j evaluates back to itself", (text) => {
    const literal = stringLiteral(text);
    expect(new Function(`return ${literal};`)()).toBe(text);
  });

  test("any string of quotes, backslashes and text evaluates back to itself", () => {
    const piece = fc.constantFrom('"', "'", "\\", '\\"', "a", "\n", "\u2028", "é");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), (pieces) => {
        const text = pieces.join("");
        expect(new Function(`return ${stringLiteral(text)};`)()).toBe(text);
      }),
      { seed: 12, numRuns: 2000 },
    );
  });

  test("jsonTextLiteral writes what stringLiteral writes for any JSON.stringify output", () => {
    const piece = fc.constantFrom('"', "'", "\\", "a", "\n", "\u0001", "\u2028", "\ud800", "é");
    const text = fc.array(piece, { maxLength: 8 }).map((p) => p.join(""));
    const value = fc.oneof(text, fc.dictionary(text, fc.oneof(text, fc.array(text), fc.integer())));
    fc.assert(
      fc.property(value, (v) => {
        const json = JSON.stringify(v);
        expect(jsonTextLiteral(json)).toBe(stringLiteral(json));
      }),
      { seed: 13, numRuns: 2000 },
    );
  });

  test("uses single quotes, as prettier does, when the text holds more double quotes", () => {
    expect(stringLiteral('{"a":"it\'s"}')).toBe(`'{"a":"it\\'s"}'`);
    expect(stringLiteral('say "\\"')).toBe(`'say "\\\\"'`);
    // As many double as single quotes: double quotes, counted past the single ones.
    expect(stringLiteral(`a"b'c"d'`)).toBe(`"a\\"b'c\\"d'"`);
    expect(jsonTextLiteral(`{"it's":"x'"}`)).toBe(`'{"it\\'s":"x\\'"}'`);
    expect(jsonTextLiteral(`{"a":"''''"}`)).toBe(`"{\\"a\\":\\"''''\\"}"`);
  });
});

describe("docText", () => {
  const cases: [string, string][] = [
    ["ends the comment */ then code", "ends the comment *\\/ then code"],
    ["@deprecated fake tag", "\\@deprecated fake tag"],
    ["email a@b.c stays", "email a@b.c stays"],
    ["windows\r\nlines\rmac", "windows\nlines\nmac"],
    ["trailing spaces   \nnext", "trailing spaces\nnext"],
    ["sep\u2028line", "sep\nline"],
    ["bell\u0007", "bell"],
  ];
  test.each(cases)("%j → %j", (given, want) => expect(docText(given)).toBe(want));

  test("docCode keeps backticks from closing the span", () => {
    expect(docCode("a`b")).toBe("`aˋb`");
  });
});
