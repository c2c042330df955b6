import { createHash } from "node:crypto";

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
  // Plain JSON data (what JSON.parse returns) is written by one walk that hands every part whose
  // keys are already in order (most leaves: strings, numbers, option lists) to the native
  // JSON.stringify, and writes the text of the rest itself, in key order. Building sorted copies
  // and stringifying them cost a third more time and twice the garbage on a 1,686-class schema.
  // Anything else (undefined, functions, class instances, holes, some keys) takes the general
  // path, which writes the same text for plain data.
  const found: Found = { bigint: false, nonFinite: false };
  const text = canonicalTextOf(value, found);
  if (text === NOT_PLAIN) return { json: canonicalJsonOf(value), exact: false };
  return {
    json: text === undefined ? (JSON.stringify(value) ?? "null") : text,
    exact: !found.bigint && !found.nonFinite,
  };
}

/** What {@link canonicalTextOf} met on its way: bigints, and non-finite numbers. */
interface Found {
  bigint: boolean;
  nonFinite: boolean;
}

const NOT_PLAIN: unique symbol = Symbol("not plain JSON data");

/**
 * The canonical JSON of plain JSON data `value`, or `undefined` when the native
 * `JSON.stringify(value)` writes exactly that (keys in code-unit order at every level, no
 * bigint), or {@link NOT_PLAIN}. Bigints are written as their digits.
 */
function canonicalTextOf(value: unknown, found: Found): string | undefined | typeof NOT_PLAIN {
  if (value === null) return undefined;
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      // JSON.stringify writes a non-finite number as null, as the general path does.
      if (!Number.isFinite(value)) found.nonFinite = true;
      return undefined;
    case "bigint":
      // Exact integers beyond 2^53 (a lossless parse of a seed's max) are written as digits.
      found.bigint = true;
      return value.toString();
    case "object":
      break;
    default:
      return NOT_PLAIN;
  }
  if (Array.isArray(value)) {
    // Items are written here only once one of them needs it.
    let parts: string[] | undefined;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return NOT_PLAIN;
      const item: unknown = value[i];
      const text = canonicalTextOf(item, found);
      if (text === undefined) {
        if (parts !== undefined) parts.push(scalarJson(item));
        continue;
      }
      if (text === NOT_PLAIN) return NOT_PLAIN;
      if (parts === undefined) {
        parts = [];
        for (let j = 0; j < i; j++) parts.push(scalarJson(value[j]));
      }
      parts.push(text);
    }
    return parts === undefined ? undefined : `[${parts.join(",")}]`;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let inOrder = true;
  for (let i = 1; i < keys.length; i++) {
    if (!(keys[i - 1]! < keys[i]!)) {
      inOrder = false;
      break;
    }
  }
  // The default sort compares UTF-16 code units, as compareCodeUnits does, without a callback.
  if (!inOrder) keys.sort();
  // Written here once a key is out of order or a member needs it; else JSON.stringify writes it.
  let out: string | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // An object lists integer-like keys first whatever the insertion order, and JSON.stringify
    // skips an own `__proto__` of some objects: such keys take the general path.
    const first = key.charCodeAt(0);
    if ((first >= 48 && first <= 57) || key === "__proto__") return NOT_PLAIN;
    const item = obj[key];
    const text = canonicalTextOf(item, found);
    if (text === NOT_PLAIN) return NOT_PLAIN;
    if (out !== undefined) out += `,${memberPrefix(key)}${text ?? scalarJson(item)}`;
    else if (text !== undefined || !inOrder) {
      out = "{";
      for (let j = 0; j < i; j++) {
        out += `${j ? "," : ""}${memberPrefix(keys[j]!)}${scalarJson(obj[keys[j]!])}`;
      }
      out += `${i ? "," : ""}${memberPrefix(key)}${text ?? scalarJson(item)}`;
    }
  }
  return out === undefined ? undefined : `${out}}`;
}

/**
 * `JSON.stringify(value)` for a part {@link canonicalTextOf} found written exactly so; numbers and
 * literals without the call (the same text: JSON writes a finite number as `String` does).
 */
function scalarJson(value: unknown): string {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? `${value}` : "null";
    case "boolean":
      return value ? "true" : "false";
    default:
      return value === null ? "null" : JSON.stringify(value);
  }
}

/**
 * `"key":` for each key met, kept: object_info repeats a few hundred keys many thousand times.
 * Bounded, as a long-running process hashes schemas from many servers.
 */
const memberPrefixes = new Map<string, string>();
const MEMBER_PREFIXES_KEPT = 20_000;

function memberPrefix(key: string): string {
  let prefix = memberPrefixes.get(key);
  if (prefix === undefined) {
    prefix = `${JSON.stringify(key)}:`;
    if (memberPrefixes.size >= MEMBER_PREFIXES_KEPT) memberPrefixes.clear();
    memberPrefixes.set(key, prefix);
  }
  return prefix;
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
