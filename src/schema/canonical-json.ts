import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted by code unit at every level, so two documents that differ only in
 * key order serialize identically.
 */
export function canonicalJson(value: unknown): string {
  // Exact integers beyond 2^53 (a lossless parse of a seed's max) are written as their digits.
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort(compareCodeUnits);
  const obj = value as Record<string, unknown>;
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** sha256 hex digest of {@link canonicalJson}. */
export function canonicalHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/**
 * {@link canonicalHash} of an object given as its members' keys and their canonical JSON
 * (`canonicalJson(value)`), so callers that hash parts of a document serialize each part once.
 */
export function canonicalHashOfMembers(members: Iterable<readonly [string, string]>): string {
  const sorted = [...members].sort((a, b) => compareCodeUnits(a[0], b[0]));
  const hash = createHash("sha256").update("{");
  sorted.forEach(([key, json], i) => hash.update(`${i ? "," : ""}${JSON.stringify(key)}:${json}`));
  return hash.update("}").digest("hex");
}

/** Code-unit string order: locale-independent, the same on every machine. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
