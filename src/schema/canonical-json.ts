import { createHash } from "node:crypto";
import { NOT_PLAIN, plainJsonText } from "../protocol/json.js";

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
  // Plain JSON data (what JSON.parse returns) is written by one walk (see plainJsonText);
  // anything else (undefined, functions, class instances, holes, some keys) takes the general
  // path, which writes the same text for plain data.
  const found = { bigint: false, nonFinite: false };
  const text = plainJsonText(value, true, found);
  if (text === NOT_PLAIN) return { json: canonicalJsonOf(value), exact: false };
  return {
    json: text === undefined ? (JSON.stringify(value) ?? "null") : text,
    exact: !found.bigint && !found.nonFinite,
  };
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
