import { createHash } from "node:crypto";

/**
 * Words that cannot be used as a binding name in strict-mode ES modules or TypeScript, plus
 * names that would shadow globals the generated code relies on.
 */
const RESERVED = new Set([
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "debugger",
  "default",
  "delete",
  "do",
  "else",
  "enum",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "import",
  "in",
  "instanceof",
  "new",
  "null",
  "return",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "var",
  "void",
  "while",
  "with",
  "implements",
  "interface",
  "let",
  "package",
  "private",
  "protected",
  "public",
  "static",
  "yield",
  "await",
  "arguments",
  "eval",
  "async",
  "of",
  "type",
  "declare",
  "namespace",
  "module",
  "abstract",
  "any",
  "as",
  "asserts",
  "bigint",
  "boolean",
  "constructor",
  "get",
  "infer",
  "is",
  "keyof",
  "never",
  "number",
  "object",
  "readonly",
  "require",
  "set",
  "string",
  "symbol",
  "undefined",
  "unique",
  "unknown",
  "satisfies",
  "accessor",
  "out",
  "override",
  "global",
  "NaN",
  "Infinity",
  "Object",
  "Array",
  "String",
  "Number",
  "Boolean",
  "Symbol",
  "Promise",
  "Error",
  "Map",
  "Set",
  "JSON",
  "Math",
  "Date",
  "globalThis",
  "__proto__",
  "prototype",
  // Names the generated modules import from comfyc.
  "comfyc",
  "defineNode",
  "comboOptions",
  "UploadSource",
  "NodeClass",
  "NodeHandle",
  "Output",
  "Link",
]);

const VALID = /^[\p{ID_Start}_][\p{ID_Continue}\u200c\u200d]*$/u;
const PROPERTY_NAME = /^[\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*$/u;

/** True when `name` can be written unquoted as a property name (`obj.name`, `{ name: … }`). */
export function isIdentifierName(name: string): boolean {
  return PROPERTY_NAME.test(name);
}

/** True when `name` is a valid binding name that comfyc emits unchanged. */
export function isExactIdentifier(name: string): boolean {
  return VALID.test(name) && !RESERVED.has(name);
}

/**
 * The documented mapping from an untrusted server name to a valid identifier:
 * every run of characters that cannot appear in an identifier becomes one `_`, leading and
 * trailing `_` added by that step are trimmed, a leading digit gets a `_` prefix, an empty
 * result becomes `_`, and a reserved word gets a `_` suffix. `$` is treated as invalid so
 * that derived names can never collide with names comfyc builds. Lossy: use
 * {@link assignIdentifiers} to make a set of names collision-free.
 *
 * @example toIdentifierBase("LayerUtility: CropByMask V2") === "LayerUtility_CropByMask_V2"
 */
export function toIdentifierBase(raw: string): string {
  if (isExactIdentifier(raw)) return raw;
  const out = sanitizeName(raw);
  return RESERVED.has(out) ? `${out}_` : out;
}

/** The character mapping of {@link toIdentifierBase}, without the reserved-word rule. */
export function sanitizeName(raw: string): string {
  // Three native passes rather than a regular expression per character (names of thousands of
  // classes and inputs): drop everything before the first character that may start it (an
  // ASCII digit too, prefixed below), drop a trailing run of characters an identifier cannot
  // hold, and make every other such run one `_`.
  const start = FIRST.exec(raw);
  if (!start) return "_";
  const out = raw.slice(start.index).replace(INVALID_AT_END, "").replace(INVALID_RUN, "_");
  return out.charCodeAt(0) >= 0x30 && out.charCodeAt(0) <= 0x39 ? `_${out}` : out;
}

/** A character a sanitized name may start with: an identifier start, `_`, or an ASCII digit. */
const FIRST = /[\p{ID_Start}_0-9]/u;
/** A run of characters an identifier cannot hold (`$` included: comfyc's derived names use it). */
const INVALID_RUN = /[^\p{ID_Continue}\u200c\u200d]+/gu;
const INVALID_AT_END = /[^\p{ID_Continue}\u200c\u200d]+$/u;

/** First 6 hex digits of sha256(text): a stable, order-independent disambiguator. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 6);
}

/**
 * Maps each raw name to a unique identifier. A name that already is a valid, non-reserved
 * identifier keeps it. Names whose mapping collides with another name get `_<hash6>` of their
 * raw text appended, so the result depends only on the set of colliding names, never on input
 * order.
 */
export function assignIdentifiers(rawNames: Iterable<string>): Map<string, string> {
  const byBase = new Map<string, string[]>();
  for (const raw of rawNames) {
    const base = toIdentifierBase(raw);
    const list = byBase.get(base);
    if (list) list.push(raw);
    else byBase.set(base, [raw]);
  }
  const out = new Map<string, string>();
  const taken = new Set<string>();
  for (const [base, raws] of byBase) {
    for (const raw of raws) {
      if (raws.length === 1 || raw === base) {
        out.set(raw, base);
        taken.add(base);
      }
    }
  }
  for (const [base, raws] of byBase) {
    if (raws.length === 1) continue;
    for (const raw of raws) {
      if (raw === base) continue;
      let id = `${base}_${shortHash(raw)}`;
      while (taken.has(id)) id = `${id}_`;
      out.set(raw, id);
      taken.add(id);
    }
  }
  return out;
}

/**
 * Makes output names unique and safe as handle properties: each is mapped with
 * {@link sanitizeName}; names that clash with the handle's own members or with an earlier
 * output get the output index appended (`SIGMAS`, `SIGMAS_1`).
 */
export function assignOutputIdentifiers(
  names: readonly string[],
  reserved: ReadonlySet<string>,
): string[] {
  const used = new Set<string>();
  return names.map((name, index) => {
    let id = sanitizeName(name);
    if (used.has(id) || reserved.has(id)) id = `${id}_${index}`;
    while (used.has(id) || reserved.has(id)) id = `${id}_`;
    used.add(id);
    return id;
  });
}
