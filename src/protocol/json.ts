import { randomBytes } from "node:crypto";
import { isInteger, isSafeNumber, parse } from "lossless-json";

/**
 * `JSON.parse` that keeps integers beyond 2^53 exact (as bigint): ComfyUI is Python, so a
 * 64-bit seed such as 18446744073709551615 is an exact int on the server, and rounding it
 * would turn a valid seed into one above the max.
 */
export function parseJsonLossless(text: string): unknown {
  // Fast path: without a run of 16+ digits no integer can exceed 2^53 (9007199254740992).
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return parse(text, null, (value: string) =>
    isInteger(value) && !isSafeNumber(value) ? BigInt(value) : Number(value),
  );
}

/**
 * JSON text of a prompt or request body in which bigints (64-bit seeds) are written as exact
 * JSON integers: `JSON.stringify` cannot, and a `number` above 2^53 loses precision, which
 * ComfyUI then rejects as bigger than the max.
 *
 * @example stringifyJson({ "1": { class_type: "KSampler", inputs: { seed: 2n ** 64n - 1n } } })
 */
export function stringifyJson(value: unknown, indent?: number): string {
  // Fast path: JSON.stringify throws on the first bigint, and most prompts have none.
  try {
    return JSON.stringify(value, undefined, indent);
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
  }
  const marks = new Map<string, bigint>();
  // A per-call random nonce: a user string can never be mistaken for a bigint marker.
  const nonce = randomBytes(8).toString("hex");
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v !== "bigint") return v;
      const mark = `\u0000${nonce}:${marks.size}`;
      marks.set(mark, v);
      return mark;
    },
    indent,
  );
  if (marks.size === 0) return text;
  return text.replace(new RegExp(`"\\\\u0000${nonce}:(\\d+)"`, "g"), (quoted) => {
    const mark = JSON.parse(quoted) as string;
    const big = marks.get(mark);
    return big === undefined ? quoted : big.toString();
  });
}
