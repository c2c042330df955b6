import { randomBytes } from "node:crypto";
import { isInteger, isSafeNumber, parse } from "lossless-json";

/**
 * JSON as ComfyUI (Python) reads and writes it. Python's `json` module accepts and writes the
 * tokens `NaN`, `Infinity` and `-Infinity` (aiohttp's `request.json()` and `json_response` use
 * it), and its integers are exact at any size.
 */

const NON_FINITE = /NaN|Infinity/;

/**
 * `JSON.parse` as Python's `json.loads` reads: integers beyond 2^53 stay exact (as bigint), and
 * the tokens `NaN`, `Infinity`, `-Infinity` are numbers. ComfyUI is Python, so a 64-bit seed
 * such as 18446744073709551615 is an exact int on the server, and rounding it would turn a valid
 * seed into one above the max; a prompt with `NaN` is accepted by the server, and its errors
 * echo the value back as `NaN`.
 *
 * @throws SyntaxError for text Python would not read either.
 */
export function parseJsonLossless(text: string): unknown {
  const marks = NON_FINITE.test(text) ? markNonFinite(text) : undefined;
  const source = marks?.text ?? text;
  const reviver = marks
    ? (_key: string, v: unknown) =>
        typeof v === "string" && marks.values.has(v) ? marks.values.get(v) : v
    : undefined;
  // Fast path: without a run of 16+ digits no integer can exceed 2^53 (9007199254740992).
  if (!/\d{16}/.test(source)) return JSON.parse(source, reviver);
  return parse(source, reviver ?? null, (value: string) =>
    isInteger(value) && !isSafeNumber(value) ? BigInt(value) : Number(value),
  );
}

/**
 * Replaces the `NaN`, `Infinity` and `-Infinity` tokens outside strings with unique marker
 * strings (a per-call random nonce, so no user string can be mistaken for one).
 */
function markNonFinite(text: string): { text: string; values: Map<string, number> } | undefined {
  const values = new Map<string, number>();
  const nonce = randomBytes(8).toString("hex");
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string: up to the next quote not escaped by a backslash.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
      continue;
    }
    const token = text.startsWith("NaN", i)
      ? "NaN"
      : text.startsWith("Infinity", i)
        ? "Infinity"
        : text.startsWith("-Infinity", i)
          ? "-Infinity"
          : undefined;
    if (!token) continue;
    const mark = `\u0000${nonce}:${token}`;
    values.set(mark, token === "NaN" ? NaN : token === "Infinity" ? Infinity : -Infinity);
    out += `${text.slice(last, i)}${JSON.stringify(mark)}`;
    i += token.length - 1;
    last = i + 1;
  }
  if (values.size === 0) return undefined;
  return { text: out + text.slice(last), values };
}

/**
 * JSON text as Python's `json.dumps` writes it: bigints (64-bit seeds) as exact integers, and
 * `NaN`, `Infinity`, `-Infinity` as those tokens. `JSON.stringify` cannot write a bigint, and
 * writes a non-finite number as `null`, which ComfyUI reads as `None` (a FLOAT of `None` is
 * `invalid_input_type` where `NaN` was valid).
 *
 * @example stringifyJson({ "1": { class_type: "KSampler", inputs: { seed: 2n ** 64n - 1n } } })
 */
export function stringifyJson(value: unknown, indent?: number): string {
  // Fast path: JSON.stringify throws on the first bigint, and writes a non-finite number as
  // null; most values have neither.
  try {
    const text = JSON.stringify(value, undefined, indent);
    if (text === undefined || !text.includes("null")) return text;
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
  }
  const marks = new Map<string, string>();
  // A per-call random nonce: a user string can never be mistaken for a marker.
  const nonce = randomBytes(8).toString("hex");
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => {
      let literal: string;
      if (typeof v === "bigint") literal = v.toString();
      else if (typeof v === "number" && !Number.isFinite(v))
        literal = Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      else return v;
      const mark = `\u0000${nonce}:${marks.size}`;
      marks.set(mark, literal);
      return mark;
    },
    indent,
  );
  if (marks.size === 0) return text;
  return text.replace(new RegExp(`"\\\\u0000${nonce}:(\\d+)"`, "g"), (quoted) => {
    const mark = JSON.parse(quoted) as string;
    return marks.get(mark) ?? quoted;
  });
}
