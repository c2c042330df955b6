/**
 * A small printer for the few shapes the importer writes, laying them out as prettier does with
 * the repository's settings (print width 100, two-space indent, double quotes, trailing commas):
 * a value is printed flat when it fits, else expanded one member per line. Running prettier on
 * a 245-node import would take longer than the whole import.
 */

export const PRINT_WIDTH = 100;

/** A value to print: raw code, an object literal, or an array literal. */
export type Doc =
  | { readonly kind: "code"; readonly code: string }
  | {
      readonly kind: "object";
      /** `[key, value]`; a `null` key is a spread of the value. */
      readonly entries: readonly (readonly [string | null, Doc])[];
    }
  | { readonly kind: "array"; readonly items: readonly Doc[] };

export const code = (text: string): Doc => ({ kind: "code", code: text });

/** The flat (single-line) rendering of a doc. */
export function flat(doc: Doc): string {
  switch (doc.kind) {
    case "code":
      return doc.code;
    case "array":
      return `[${doc.items.map(flat).join(", ")}]`;
    case "object":
      if (doc.entries.length === 0) return "{}";
      return `{ ${doc.entries.map(([k, v]) => (k === null ? `...${flat(v)}` : `${k}: ${flat(v)}`)).join(", ")} }`;
  }
}

/**
 * Prints `doc` starting at column `column` (the current line already holds that much), with
 * `indent` the indentation of the current line and `suffix` what follows on the same line.
 */
export function print(doc: Doc, indent: number, column: number, suffix = ""): string {
  const one = flat(doc);
  if (doc.kind === "code" || column + one.length + suffix.length <= PRINT_WIDTH) return one;
  const inner = " ".repeat(indent + 2);
  const close = " ".repeat(indent);
  if (doc.kind === "array") {
    return `[\n${doc.items.map((item) => `${inner}${print(item, indent + 2, indent + 2, ",")},\n`).join("")}${close}]`;
  }
  const lines = doc.entries.map(([k, v]) => {
    const head = k === null ? "..." : `${k}: `;
    return `${inner}${head}${print(v, indent + 2, indent + 2 + head.length, ",")},\n`;
  });
  return `{\n${lines.join("")}${close}}`;
}

/**
 * `<head>(<args>);` as prettier lays out a call: flat; else, when only the last argument is an
 * object, that argument hugged (`f(a, {` … `});`); else one argument per line.
 */
export function printCall(head: string, args: readonly Doc[], indent: number, tail = ";"): string {
  const pad = " ".repeat(indent);
  const one = `${pad}${head}(${args.map(flat).join(", ")})${tail}`;
  if (one.length <= PRINT_WIDTH) return one;
  const last = args[args.length - 1];
  const others = args.slice(0, -1);
  const canHug =
    last !== undefined &&
    last.kind === "object" &&
    last.entries.length > 0 &&
    others.every((a) => a.kind === "code");
  if (canHug) {
    const start = `${pad}${head}(${others.map((a) => `${flat(a)}, `).join("")}`;
    const hugged = `${start}${print(last, indent, PRINT_WIDTH + 1)})${tail}`;
    if (hugged.split("\n", 1)[0]!.length <= PRINT_WIDTH) return hugged;
  }
  const inner = indent + 2;
  const lines = args.map((a) => `${" ".repeat(inner)}${print(a, inner, inner, ",")},\n`);
  return `${pad}${head}(\n${lines.join("")}${pad})${tail}`;
}

/** A string literal as prettier writes it: double quotes unless that needs more escapes. */
export function stringLiteral(value: string): string {
  const json = JSON.stringify(value);
  const doubles = (value.match(/"/g) ?? []).length;
  const singles = (value.match(/'/g) ?? []).length;
  if (doubles <= singles) return json;
  const body = json.slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${body}'`;
}

/** `import { a, b } from "m";`, broken one name per line when too long. */
export function printImport(names: readonly string[], from: string, typeOnly = false): string {
  const kw = typeOnly ? "import type" : "import";
  const one = `${kw} { ${names.join(", ")} } from ${stringLiteral(from)};`;
  if (one.length <= PRINT_WIDTH) return one;
  return `${kw} {\n${names.map((n) => `  ${n},\n`).join("")}} from ${stringLiteral(from)};`;
}
