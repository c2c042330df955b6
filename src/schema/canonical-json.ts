import { createHash, randomBytes } from "node:crypto";

/**
 * JSON with object keys sorted by code unit at every level, so two documents that differ only in
 * key order serialize identically.
 */
export function canonicalJson(value: unknown): string {
  return canonicalJsonOfData(value).json;
}

/**
 * {@link canonicalJson}, and whether the native `JSON.stringify(value)` writes the value
 * exactly (`exact`): true for plain JSON data (arrays, plain objects, strings, booleans, null,
 * finite numbers) without bigints or non-finite numbers, which it would write as `null` or
 * reject. A caller that serializes the same value again knows then that no slower,
 * Python-faithful path (`stringifyJson`) is needed, without another walk.
 */
export function canonicalJsonOfData(value: unknown): { json: string; exact: boolean } {
  // Plain JSON data (what JSON.parse returns) is copied with its keys sorted where they are not
  // and handed to the native JSON.stringify: a third less garbage than building the text here.
  // Anything else (bigint, undefined, functions, class instances, holes, some keys)
  // takes the general path, which writes the same text for plain data.
  // Exact integers beyond 2^53 (a lossless parse of a seed's max) are marked in the copy and
  // their digits put in place of the marks, as the general path writes them.
  const found: Found = { bigints: [], nonFinite: false };
  const sorted = sortedPlainCopy(value, found);
  if (sorted === NOT_PLAIN) return { json: canonicalJsonOf(value), exact: false };
  const text = JSON.stringify(sorted) ?? "null";
  const { bigints } = found;
  if (bigints.length === 0) return { json: text, exact: !found.nonFinite };
  const json = text.replace(BIGINT_MARKS, (_quoted, i: string) => bigints[Number(i)]!.toString());
  return { json, exact: false };
}

/** What {@link sortedPlainCopy} met on its way: the bigints it marked, and non-finite numbers. */
interface Found {
  readonly bigints: bigint[];
  nonFinite: boolean;
}

const NOT_PLAIN: unique symbol = Symbol("not plain JSON data");

/** A per-process random nonce: no string of the data can be mistaken for a bigint's mark. */
const BIGINT_MARK = `\u0000${randomBytes(8).toString("hex")}:`;
/** The marks as `JSON.stringify` writes them (the NUL escaped as `\u0000`), with their index. */
const BIGINT_MARKS = new RegExp(`"\\\\u0000${BIGINT_MARK.slice(1)}(\\d+)"`, "g");

/**
 * `value` with object keys in code-unit order, sharing every part already in order; each bigint
 * is replaced by a mark naming its index in `found.bigints`.
 */
function sortedPlainCopy(value: unknown, found: Found): unknown {
  if (value === null) return value;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) found.nonFinite = true;
      return value;
    case "bigint":
      return `${BIGINT_MARK}${found.bigints.push(value) - 1}`;
    case "object":
      break;
    default:
      return NOT_PLAIN;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return NOT_PLAIN;
      const item: unknown = value[i];
      const sorted = sortedPlainCopy(item, found);
      if (sorted === NOT_PLAIN) return NOT_PLAIN;
      if (sorted !== item) {
        copy ??= value.slice();
        copy[i] = sorted;
      }
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let inOrder = true;
  for (let i = 1; i < keys.length && inOrder; i++) inOrder = keys[i - 1]! < keys[i]!;
  // The default sort compares UTF-16 code units, as compareCodeUnits does, without a callback.
  if (!inOrder) keys.sort();
  // Children are copied in sorted order; an object already in order is copied only once a child
  // changes, and otherwise shared.
  let out: Record<string, unknown> | undefined = inOrder ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // An object lists integer-like keys first whatever the insertion order, so a copy could
    // not hold "10" before "9"; such keys (and an own `__proto__`) take the general path.
    const first = key.charCodeAt(0);
    if ((first >= 48 && first <= 57) || key === "__proto__") return NOT_PLAIN;
    const item = obj[key];
    const sorted = sortedPlainCopy(item, found);
    if (sorted === NOT_PLAIN) return NOT_PLAIN;
    if (out) out[key] = sorted;
    else if (sorted !== item) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]!] = obj[keys[j]!];
      out[key] = sorted;
    }
  }
  return out ?? value;
}

/** {@link canonicalJson} for any value. */
function canonicalJsonOf(value: unknown): string {
  // Exact integers beyond 2^53 (a lossless parse of a seed's max) are written as their digits.
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJsonOf).join(",")}]`;
  const keys = Object.keys(value).sort(compareCodeUnits);
  const obj = value as Record<string, unknown>;
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJsonOf(obj[k])}`).join(",")}}`;
}

/** sha256 hex digest of {@link canonicalJson}. */
export function canonicalHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/**
 * {@link canonicalHash} of an object built up member by member, so a caller that hashes parts
 * of a document (and the whole) serializes each part once and keeps none of the text. Members
 * must be added in code-unit order of their keys, each with its `canonicalJson(value)`.
 *
 * @example
 * const hash = new CanonicalObjectHash();
 * for (const key of Object.keys(doc).sort()) hash.add(key, canonicalJson(doc[key]));
 * hash.digest(); // === canonicalHash(doc)
 */
export class CanonicalObjectHash {
  readonly #hash = createHash("sha256").update("{");
  #members = 0;

  /** Adds one member: its key and the canonical JSON of its value. */
  add(key: string, json: string): this {
    this.#hash.update(`${this.#members++ ? "," : ""}${JSON.stringify(key)}:`).update(json);
    return this;
  }

  /** The sha256 hex digest of the object so far (call once). */
  digest(): string {
    return this.#hash.update("}").digest("hex");
  }
}

/** Code-unit string order: locale-independent, the same on every machine. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
