import {
  group,
  hardline,
  ifBreak,
  indent,
  join,
  line,
  printDoc,
  softline,
  type Doc,
} from "./layout.js";
import type {
  ConstCallStatement,
  DeclareConstStatement,
  DeclareTableStatement,
  ImportStatement,
  InterfaceStatement,
  PropertySignature,
  Statement,
} from "./statements.js";
import { propertyDoc, typeDoc } from "./type-doc.js";

/**
 * Prints the statements the emitters produce as TypeScript laid out exactly as prettier (print
 * width 100) lays it out, without running prettier: prettier on a 1,686-class schema takes
 * seconds, most of it on long combo lists and JSON text. Lines that fit are written directly;
 * the rest go through a small layout engine with prettier's rules for the shapes codegen
 * writes. A test checks that the output of every real schema is a prettier fixpoint.
 */

const WIDTH = 100;
const INDENT = "  ";

/** Prints a whole file: `header` + statements separated by blank lines. */
export function printSourceFile(header: string, statements: Iterable<Statement>): string {
  return [...printSourceParts(header, statements)].join("");
}

/**
 * {@link printSourceFile} as the pieces whose concatenation it is, each printed as it is asked
 * for, for a caller that writes or hashes them one by one and lets them go: joining a pack's
 * megabyte of text into one string, only to encode it into another buffer, cost a cold
 * `comfyc codegen` more than the writes themselves. Parts end between statements, so none
 * splits a character (a surrogate pair) in two.
 */
export function* printSourceParts(
  header: string,
  statements: Iterable<Statement>,
): Generator<string> {
  yield header;
  let first = true;
  for (const s of statements) {
    if (!first) yield "\n\n";
    yield printStatement(s);
    first = false;
  }
  yield "\n";
}

function printStatement(s: Statement): string {
  switch (s.kind) {
    case "import":
      return printImport(s);
    case "export-all":
      return `export * as ${s.name} from ${JSON.stringify(s.from)};`;
    case "interface":
      return printInterface(s);
    case "declare-const":
      return printDeclareConst(s);
    case "declare-table":
      return printDeclareTable(s);
    case "const-call":
      return printConstCall(s);
  }
}

function printDocs(docs: string | undefined, indent: string): string {
  if (!docs) return "";
  const lines = docs.split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  let out = `${indent}/**\n`;
  for (const l of lines) out += l === "" ? `${indent} *\n` : `${indent} * ${l}\n`;
  return `${out}${indent} */\n`;
}

function printImport(s: ImportStatement): string {
  const from = JSON.stringify(s.from);
  const keyword = s.typeOnly ? "import type" : "import";
  const oneLine = `${keyword} { ${s.names.join(", ")} } from ${from};`;
  return oneLine.length <= WIDTH
    ? oneLine
    : `${keyword} {\n${s.names.map((n) => `${INDENT}${n},`).join("\n")}\n} from ${from};`;
}

function printInterface(s: InterfaceStatement): string {
  let out = `${printDocs(s.docs, "")}${interfaceHead(s)}`;
  if (s.properties.length === 0) return `${out}}`;
  out += "\n";
  for (const p of s.properties) out += `${printDocs(p.docs, INDENT)}${printProperty(p)}\n`;
  return `${out}}`;
}

/** `export interface X extends A, B {`: a single base never breaks, several move down first. */
function interfaceHead(s: InterfaceStatement): string {
  const name = `export interface ${s.name}`;
  const open = " {";
  const oneLine = `${name}${s.extends.length ? ` extends ${s.extends.join(", ")}` : ""}${open}`;
  if (s.extends.length <= 1 || oneLine.length <= WIDTH) return oneLine;
  const list = `${INDENT}extends ${s.extends.join(", ")}${open}`;
  if (list.length <= WIDTH) return `${name}\n${list}`;
  const bases = s.extends.map((e) => `${INDENT}${INDENT}${e}`).join(",\n");
  return `${name}\n${INDENT}extends\n${bases}${open}`;
}

function printProperty(p: PropertySignature): string {
  const head = `${p.readonly ? "readonly " : ""}${p.name}${p.optional ? "?" : ""}`;
  const oneLine = `${INDENT}${head}: ${p.type};`;
  if (oneLine.length <= WIDTH) return oneLine;
  return INDENT + printDoc([propertyDoc(head, p.type), ";"], WIDTH, INDENT.length);
}

function printDeclareConst(s: DeclareConstStatement): string {
  const head = `export declare const ${s.name}:`;
  const oneLine = `${head} ${s.type};`;
  const text =
    oneLine.length <= WIDTH ? oneLine : printDoc([head, " ", typeDoc(s.type), ";"], WIDTH);
  return `${printDocs(s.docs, "")}${text}`;
}

/** Always expanded; tuples that do not fit are broken one value per line. */
function printDeclareTable(s: DeclareTableStatement): string {
  let out = `${printDocs(s.docs, "")}export declare const ${s.name}: {\n`;
  for (const [key, values] of s.entries) {
    const oneLine = `${INDENT}readonly ${key}: readonly [${values.join(", ")}];`;
    if (oneLine.length <= WIDTH) out += `${oneLine}\n`;
    else {
      out += `${INDENT}readonly ${key}: readonly [\n`;
      for (const v of values) out += `${INDENT}${INDENT}${v},\n`;
      out += `${INDENT}];\n`;
    }
  }
  return `${out}};`;
}

/** Prettier's threshold for a "short" lone argument: a quarter of the print width. */
const SHORT_ARGUMENT = WIDTH / 4;

/**
 * `export const X = callee(args);`. When it does not fit, prettier keeps `callee(` on the first
 * line and breaks the arguments, unless even that does not fit or the call has no argument or
 * one short identifier: then it breaks after `=`.
 */
function printConstCall(s: ConstCallStatement): string {
  const lhs = `export const ${s.name} =`;
  const oneLine = `${lhs} ${s.callee}(${s.args.join(", ")});`;
  let text: string;
  if (oneLine.length <= WIDTH) text = oneLine;
  else {
    const call: Doc = group([
      s.callee,
      "(",
      indent([softline, join([",", line], s.args)]),
      ifBreak(","),
      softline,
      ")",
    ]);
    const poorlyBreakable =
      s.args.length === 0 ||
      (s.args.length === 1 && /^[\w$]+$/.test(s.args[0]!) && s.args[0]!.length <= SHORT_ARGUMENT);
    const headFits = `${lhs} ${s.callee}(`.length <= WIDTH;
    text = printDoc(
      !poorlyBreakable && headFits ? [lhs, " ", call, ";"] : [lhs, indent([hardline, call, ";"])],
      WIDTH,
    );
  }
  return `${printDocs(s.docs, "")}${text}`;
}
