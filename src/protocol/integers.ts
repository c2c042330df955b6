/**
 * Exact integers on the wire. ComfyUI is Python: its ints are unbounded, and KSampler's seed
 * max is `0xffffffffffffffff` (18446744073709551615). `JSON.parse` rounds that to the float
 * 2^64, one above the real max; a lossless parse ({@link parseJsonLossless}) keeps a bigint.
 */

/** The largest unsigned 64-bit integer: ComfyUI's seed max (`0xffffffffffffffff`). */
export const UINT64_MAX = 2n ** 64n - 1n;

/** The float `JSON.parse("18446744073709551615")` gives: 2^64. */
const ROUNDED_UINT64_MAX = 2 ** 64;

/**
 * The exact value of a numeric limit read from an object_info. The one lossy case ComfyUI's
 * schemas produce is the unsigned 64-bit max (`0xffffffffffffffff`, KSampler's and many seed
 * inputs' `max`; its negative as a `min`, for example by `TrimAudioDuration`), which a plain
 * `JSON.parse` turns into the float ±2^64: that float means ±(2^64 − 1). Every other value is
 * returned as it is (a lossless parse keeps big ones as bigint).
 *
 * @example exactLimit(2 ** 64) // 18446744073709551615n
 * @example exactLimit(-(2 ** 64)) // -18446744073709551615n
 */
export function exactLimit(limit: number | bigint): number | bigint {
  if (limit === ROUNDED_UINT64_MAX) return UINT64_MAX;
  if (limit === -ROUNDED_UINT64_MAX) return -UINT64_MAX;
  return limit;
}

/**
 * A limit as exact decimal text, for messages and generated docs: `18446744073709551615`, never
 * `18446744073709551616` or `1.8446744073709552e+19`.
 */
export function formatLimit(limit: number | bigint): string {
  return formatInteger(exactLimit(limit));
}

/** A number as decimal text; integers beyond 2^53 and bigints in full digits, never in e-notation. */
export function formatInteger(n: number | bigint): string {
  if (typeof n === "bigint") return n.toString();
  return Number.isInteger(n) && Math.abs(n) > Number.MAX_SAFE_INTEGER
    ? BigInt(n).toString()
    : String(n);
}
