import {
  StructureKind,
  type ExportDeclarationStructure,
  type ImportDeclarationStructure,
  type InterfaceDeclarationStructure,
  type JSDocStructure,
  type OptionalKind,
  type PropertySignatureStructure,
  type SourceFileStructure,
  type StatementStructures,
  type VariableStatementStructure,
} from "ts-morph";
import { splitTopLevel } from "./emit/value-type.js";
import { formatTypeScript } from "./format.js";

/**
 * Prints the structures the emitters produce into prettier-formatted TypeScript, fast.
 *
 * Prettier on a 1,686-class schema takes several seconds, most of it on long combo lists and
 * JSON text. This printer lays out the shapes codegen emits the way prettier does (expanded
 * objects, one array element per line, unions broken before `|`), and sends only statements
 * outside that subset to prettier, in one batch per file. The test suite checks the result is
 * a prettier fixpoint for every real schema, so both paths must agree.
 */

const WIDTH = 100;
const INDENT = "  ";

/**
 * A call whose arguments are laid out by prettier: the initializer of a variable statement is
 * `callee(args…)`, with the arguments already printed as expressions.
 */
export interface CallInitializer {
  readonly callee: string;
  readonly args: readonly string[];
}

/** An `{ key: [values…], … } as const` initializer. */
export interface ConstTableInitializer {
  readonly entries: readonly (readonly [key: string, values: readonly string[]])[];
}

/** Layout information the emitters attach to variable statements (kept out of ts-morph's data). */
export const layoutOf = new WeakMap<object, CallInitializer | ConstTableInitializer>();

/** Prints a whole file: `header` + statements, formatted. */
export async function printSourceFile(header: string, file: SourceFileStructure): Promise<string> {
  const statements = Array.isArray(file.statements) ? file.statements : [];
  const chunks: string[] = [];
  const hard: { index: number; text: string; placeholders: Map<string, string> }[] = [];
  for (const statement of statements) {
    if (typeof statement !== "object" || typeof statement === "function") {
      throw new TypeError("printSourceFile expects structures only");
    }
    const result = printStatement(statement as StatementStructures);
    if (result.kind === "done") chunks.push(result.text);
    else {
      hard.push({ index: chunks.length, text: result.text, placeholders: result.placeholders });
      chunks.push("");
    }
  }
  if (hard.length > 0) {
    // One prettier call for all hard statements, separated by marker comments to split on.
    const marker = (i: number) => `// comfyc-chunk ${i}`;
    const batch = hard.map((h, i) => `${marker(i)}\n${h.text}`).join("\n\n");
    const formatted = await formatTypeScript(batch);
    const parts = formatted.split(/^\/\/ comfyc-chunk \d+\n/m).slice(1);
    parts.forEach((part, i) => {
      let text = part.trimEnd();
      for (const [placeholder, real] of hard[i]!.placeholders)
        text = text.replace(placeholder, () => real);
      chunks[hard[i]!.index] = text;
    });
  }
  return `${header}${chunks.join("\n\n")}\n`;
}

type Printed =
  | { kind: "done"; text: string }
  | { kind: "prettier"; text: string; placeholders: Map<string, string> };

function printStatement(s: StatementStructures): Printed {
  switch (s.kind) {
    case StructureKind.ImportDeclaration:
      return done(printImport(s));
    case StructureKind.ExportDeclaration:
      return done(printExport(s));
    case StructureKind.Interface:
      return printInterface(s);
    case StructureKind.VariableStatement:
      return printVariable(s);
    default:
      throw new TypeError(`unsupported statement kind ${s.kind}`);
  }
}

const done = (text: string): Printed => ({ kind: "done", text });

function printDocs(
  docs: readonly (string | OptionalKind<JSDocStructure>)[] | undefined,
  indent: string,
): string {
  if (!docs) return "";
  let out = "";
  for (const doc of docs) {
    const text = typeof doc === "string" ? doc : String(doc.description ?? "");
    const lines = text.split("\n");
    if (lines.length === 1) out += `${indent}/** ${lines[0]} */\n`;
    else {
      out += `${indent}/**\n`;
      for (const line of lines) out += line === "" ? `${indent} *\n` : `${indent} * ${line}\n`;
      out += `${indent} */\n`;
    }
  }
  return out;
}

function printImport(s: OptionalKind<ImportDeclarationStructure>): string {
  const named = (Array.isArray(s.namedImports) ? s.namedImports : []).map((n) =>
    typeof n === "string"
      ? n
      : `${typeof n === "object" && "isTypeOnly" in n && n.isTypeOnly ? "type " : ""}${(n as { name: string }).name}`,
  );
  const from = JSON.stringify(s.moduleSpecifier);
  const keyword = s.isTypeOnly ? "import type" : "import";
  const line = `${keyword} { ${named.join(", ")} } from ${from};`;
  return line.length <= WIDTH
    ? line
    : `${keyword} {\n${named.map((n) => `${INDENT}${n},`).join("\n")}\n} from ${from};`;
}

function printExport(s: OptionalKind<ExportDeclarationStructure>): string {
  return `export * as ${s.namespaceExport} from ${JSON.stringify(s.moduleSpecifier)};`;
}

function printInterface(s: OptionalKind<InterfaceDeclarationStructure>): Printed {
  const docs = printDocs(s.docs, "");
  const ext =
    s.extends && Array.isArray(s.extends) && s.extends.length
      ? ` extends ${s.extends.join(", ")}`
      : "";
  const head = `export interface ${s.name}${ext} {`;
  const properties = s.properties ?? [];
  if (properties.length === 0) return done(`${docs}export interface ${s.name}${ext} {}`);
  let body = "";
  let simple = head.length <= WIDTH;
  for (const p of properties) {
    body += printDocs(p.docs, INDENT);
    const laidOut = printProperty(p);
    if (laidOut === undefined) {
      simple = false;
      body += `${INDENT}${propertyHead(p)} ${String(p.type)};\n`;
    } else body += laidOut;
  }
  const text = `${docs}${head}\n${body}}`;
  return simple ? done(text) : { kind: "prettier", text, placeholders: new Map() };
}

function propertyHead(p: OptionalKind<PropertySignatureStructure>): string {
  return `${p.isReadonly ? "readonly " : ""}${p.name}${p.hasQuestionToken ? "?" : ""}:`;
}

/** One property, laid out as prettier would, or undefined when only prettier knows. */
function printProperty(p: OptionalKind<PropertySignatureStructure>): string | undefined {
  const head = propertyHead(p);
  const type = String(p.type);
  const line = `${INDENT}${head} ${type};`;
  if (line.length <= WIDTH) return `${line}\n`;
  const members = splitTopLevel(type, "|");
  if (members.length < 2 || members.some((m) => m.includes("{"))) return undefined;
  // Prettier first moves a union that does not fit to its own line, then breaks it at `|`.
  const nextLine = `${INDENT}${INDENT}${type};`;
  if (nextLine.length <= WIDTH) return `${INDENT}${head}\n${nextLine}\n`;
  const lines = members.map(
    (m, i) => `${INDENT}${INDENT}| ${m}${i === members.length - 1 ? ";" : ""}`,
  );
  if (lines.some((l) => l.length > WIDTH)) return undefined;
  return `${INDENT}${head}\n${lines.join("\n")}\n`;
}

function printVariable(s: OptionalKind<VariableStatementStructure>): Printed {
  const docs = printDocs(s.docs, "");
  const decl = s.declarations[0]!;
  const layout = layoutOf.get(s);
  if (s.hasDeclareKeyword) return printDeclareConst(docs, decl.name, String(decl.type), layout);
  const lhs = `export const ${decl.name}${decl.type ? `: ${String(decl.type)}` : ""} = `;
  if (layout && "callee" in layout) {
    const call = `${layout.callee}(${layout.args.join(", ")})`;
    if (lhs.length + call.length + 1 <= WIDTH) return done(`${docs}${lhs}${call};`);
    const broken = printBrokenCall(
      decl.name,
      decl.type === undefined ? undefined : String(decl.type),
      layout,
    );
    if (broken !== undefined) return done(`${docs}${broken}`);
    // Prettier's choice between breaking the arguments, the type or the assignment depends
    // on widths only, so it sees placeholders of the same length as each argument.
    const placeholders = new Map<string, string>();
    const args = layout.args.map((arg, i) => {
      if (arg.length < 24) return arg;
      const id = `"cc${placeholders.size}_${i}`;
      const placeholder = `${id}${"x".repeat(Math.max(0, arg.length - id.length - 1))}"`;
      placeholders.set(placeholder, arg);
      return placeholder;
    });
    return {
      kind: "prettier",
      text: `${docs}${lhs}${layout.callee}(${args.join(", ")});`,
      placeholders,
    };
  }
  return {
    kind: "prettier",
    text: `${docs}${lhs}${String(decl.initializer)};`,
    placeholders: new Map(),
  };
}

/**
 * `export const X: T<A, B> = call(` with one argument per line, for calls whose arguments can
 * never share a line (together longer than the width). When even the first line is too long,
 * prettier breaks the type arguments first. Other shapes return undefined (prettier decides).
 */
function printBrokenCall(
  name: string,
  type: string | undefined,
  call: CallInitializer,
): string | undefined {
  if (call.args.join(", ").length + 2 * INDENT.length <= WIDTH) return undefined;
  const args = call.args.map((a) => `${INDENT}${a},`).join("\n");
  const head = `export const ${name}${type ? `: ${type}` : ""} = ${call.callee}(`;
  if (head.length <= WIDTH) return `${head}\n${args}\n);`;
  const assignment = `export const ${name}${type ? `: ${type}` : ""} =`;
  if (assignment.length <= WIDTH) {
    const inner = call.args.map((a) => `${INDENT}${INDENT}${a},`).join("\n");
    return `${assignment}\n${INDENT}${call.callee}(\n${inner}\n${INDENT});`;
  }
  const generic = type ? /^(\w+)<([^<>]*)>$/.exec(type) : null;
  if (!generic) return undefined;
  const typeArgs = generic[2]!.split(",").map((t) => t.trim());
  const lines = [
    `export const ${name}: ${generic[1]}<`,
    ...typeArgs.map((t, i) => `${INDENT}${t}${i < typeArgs.length - 1 ? "," : ""}`),
    `> = ${call.callee}(`,
  ];
  if (lines.some((l) => l.length > WIDTH)) return undefined;
  return `${lines.join("\n")}\n${args}\n);`;
}

/**
 * `export declare const X: T;`. A long generic type breaks its arguments one per line; a
 * table type is written expanded, one `readonly key: readonly [values];` per line.
 */
function printDeclareConst(
  docs: string,
  name: string,
  type: string,
  layout: CallInitializer | ConstTableInitializer | undefined,
): Printed {
  const head = `export declare const ${name}:`;
  if (layout && "entries" in layout) {
    return done(`${docs}${head} {\n${printTupleTable(layout)}};`);
  }
  const line = `${head} ${type};`;
  if (line.length <= WIDTH) return done(`${docs}${line}`);
  const generic = /^(\w+)<([^<>]*)>$/.exec(type);
  if (generic) {
    const typeArgs = generic[2]!.split(",").map((t) => t.trim());
    const lines = [
      `${head} ${generic[1]}<`,
      ...typeArgs.map((t, i) => `${INDENT}${t}${i < typeArgs.length - 1 ? "," : ""}`),
      ">;",
    ];
    if (lines.every((l) => l.length <= WIDTH)) return done(`${docs}${lines.join("\n")}`);
  }
  return { kind: "prettier", text: `${docs}${line}`, placeholders: new Map() };
}

/** Members `readonly key: readonly [values];`, tuples broken one value per line when long. */
function printTupleTable(layout: ConstTableInitializer): string {
  let out = "";
  for (const [key, values] of layout.entries) {
    const line = `${INDENT}readonly ${key}: readonly [${values.join(", ")}];`;
    if (line.length <= WIDTH) out += `${line}\n`;
    else {
      out += `${INDENT}readonly ${key}: readonly [\n`;
      for (const v of values) out += `${INDENT}${INDENT}${v},\n`;
      out += `${INDENT}];\n`;
    }
  }
  return out;
}
