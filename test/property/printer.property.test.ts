import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { printSourceFile } from "../../src/codegen/print.js";
import type { PropertySignature, Statement } from "../../src/codegen/statements.js";
import { formatTypeScript } from "../format.js";

/**
 * Codegen's printer lays out what prettier would, without prettier. For random statements of
 * the shapes emitters write, with names and types of every length around the print width, the
 * printer's output is exactly what prettier prints from the same code written on one line.
 */

const name = (min: number, max: number) =>
  fc
    .tuple(
      fc.constantFrom("A", "b", "K", "_"),
      fc.string({ unit: fc.constantFrom("a", "B", "_", "0", "x"), minLength: min, maxLength: max }),
    )
    .map(([a, b]) => a + b);
const literal = fc.oneof(
  name(0, 40).map((s) => JSON.stringify(s)),
  fc.integer({ min: -5, max: 100000 }).map(String),
);
const atom = fc.oneof(
  literal,
  fc.constantFrom("string", "number", "boolean", "UploadSource"),
  name(1, 30).map((n) => `(typeof ${n}Options)["${n}"][number]`),
  fc.array(literal, { minLength: 1, maxLength: 9 }).map((ls) => `Link<${ls.join(" | ")}>`),
);

const { type } = fc.letrec<{ type: string; member: string }>((tie) => ({
  type: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    fc
      .tuple(fc.array(tie("type"), { minLength: 2, maxLength: 6 }), fc.boolean())
      .map(([ts, loose]) => [...ts, ...(loose ? ["(string & {})"] : [])].join(" | ")),
    fc.array(tie("member"), { minLength: 1, maxLength: 4 }).map((ms) => `{ ${ms.join("; ")} }`),
    atom.map((t) => `readonly (${t} | ${t})[]`),
    fc
      .tuple(atom, fc.array(atom, { minLength: 1, maxLength: 3 }))
      .map(([head, rest]) =>
        rest.length > 1
          ? `readonly [${head}, ...(${rest.join(" | ")})[]]`
          : `readonly [${head}, ...${rest[0]}[]]`,
      ),
  ),
  member: fc
    .tuple(fc.boolean(), name(0, 20), fc.boolean(), tie("type"))
    .map(([ro, n, opt, t]) => `${ro ? "readonly " : ""}${n}${opt ? "?" : ""}: ${t}`),
}));

const property = fc.record({
  name: fc.oneof(
    name(0, 30),
    name(60, 110).map((n) => JSON.stringify(`${n}.0`)),
  ),
  type,
  optional: fc.boolean(),
  readonly: fc.boolean(),
}) as fc.Arbitrary<PropertySignature>;

const statement: fc.Arbitrary<Statement> = fc.oneof(
  fc.record({
    kind: fc.constant("interface" as const),
    name: name(1, 110),
    extends: fc.oneof(
      fc.constant([]),
      fc.constant(["NodeHandle"]),
      literal.map((t) => ["NodeHandle", `Output<${t}>`]),
    ),
    properties: fc.array(property, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("declare-const" as const),
    name: name(1, 110),
    type: fc.tuple(name(1, 70), name(1, 70)).map(([a, b]) => `NodeClass<${a}Inputs, ${b}Node>`),
  }),
  fc.record({
    kind: fc.constant("const-call" as const),
    name: name(1, 110),
    callee: fc.constantFrom("comboOptions", "defineNode"),
    args: fc.oneof(
      name(1, 60).map((n) => [n]),
      fc.tuple(literal, literal).map(([a, b]) => [a, b]),
    ),
  }),
);

/** The same statement written on one line, as prettier's input. */
function oneLine(s: Statement): string {
  switch (s.kind) {
    case "interface": {
      const ext = s.extends.length ? ` extends ${s.extends.join(", ")}` : "";
      const props = s.properties.map(
        (p) => `${p.readonly ? "readonly " : ""}${p.name}${p.optional ? "?" : ""}: ${p.type};`,
      );
      return `export interface ${s.name}${ext} {\n${props.join("\n")}\n}`;
    }
    case "declare-const":
      return `export declare const ${s.name}: ${s.type};`;
    case "const-call":
      return `export const ${s.name} = ${s.callee}(${s.args.join(", ")});`;
    default:
      throw new Error(s.kind);
  }
}

describe("codegen printer", () => {
  test("prints random statements exactly as prettier does", async () => {
    await fc.assert(
      fc.asyncProperty(statement, async (s) => {
        const printed = printSourceFile("", [s]);
        expect(printed).toBe(await formatTypeScript(`${oneLine(s)}\n`));
      }),
      { numRuns: 400, seed: 12 },
    );
  }, 120_000);
});
