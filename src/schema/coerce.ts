import { pyStr, pyStrRepr } from "./python-format.js";

/** A Python exception as ComfyUI would report it: type name and `str(exception)`. */
export class PyException extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Python's `type(v).__name__` for a JSON value as `json.loads` makes it. A number is `int` when it
 * is an integer, unless `asFloat` says Python holds a float (JSON `5.0`, which reads as 5 here:
 * see `writtenAsFloat` in `protocol/json.ts`).
 */
export function pyTypeName(v: unknown, asFloat = false): string {
  if (v === null || v === undefined) return "NoneType";
  if (Array.isArray(v)) return "list";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "number":
      return asFloat || !Number.isInteger(v) ? "float" : "int";
    case "string":
      return "str";
    default:
      return "dict";
  }
}

/**
 * What `int()` and `float()` strip: ASCII " \t\n\v\f\r" and the non-ASCII `str.isspace()`
 * characters (CPython maps those to spaces first; ASCII \x1c–\x1f stay). JS `trim()` differs.
 */
const PY_SPACE =
  /^[\t\n\v\f\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;
const DECIMAL_DIGIT = /\p{Nd}/u;

/**
 * The text `int()` and `float()` parse: Python's whitespace stripped and every Unicode decimal
 * digit (`\p{Nd}`: "١٦", "１６") read as its ASCII digit, as CPython's
 * `_PyUnicode_TransformDecimalAndSpaceToASCII` does. Decimal digits come in runs of ten, zero
 * first, so a digit's value is its distance from the start of its run, modulo 10.
 */
function asciiNumberText(v: string): string {
  const stripped = v.replace(PY_SPACE, "");
  if (/^[\x00-\x7f]*$/.test(stripped)) return stripped;
  let out = "";
  for (const ch of stripped) {
    if (ch > "\x7f" && DECIMAL_DIGIT.test(ch)) {
      const cp = ch.codePointAt(0)!;
      let start = cp;
      while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
      out += String((cp - start) % 10);
    } else out += ch;
  }
  return out;
}

/** Python's `int(v)` for a JSON value: truncates floats, parses integer strings. */
export function pyIntOf(v: unknown): number | bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") {
    if (Number.isNaN(v)) throw new PyException("ValueError", "cannot convert float NaN to integer");
    if (!Number.isFinite(v))
      throw new PyException("OverflowError", "cannot convert float infinity to integer");
    return Math.trunc(v) || 0;
  }
  if (typeof v === "string") {
    const s = asciiNumberText(v);
    if (/^[+-]?\d+(_\d+)*$/.test(s)) {
      const big = BigInt(s.replace(/_/g, ""));
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(big)
        : big;
    }
    throw new PyException("ValueError", `invalid literal for int() with base 10: ${pyStrRepr(v)}`);
  }
  throw new PyException(
    "TypeError",
    `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`,
  );
}

/** Python's `float(v)`: numeric strings including `1e-3`, `nan` and `inf`. */
export function pyFloatOf(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string") {
    const s = asciiNumberText(v).replace(/(?<=\d)_(?=\d)/g, "");
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return Number(s);
    const special = /^([+-]?)(nan|inf|infinity)$/i.exec(s);
    if (special) {
      if (special[2]!.toLowerCase() === "nan") return NaN;
      return special[1] === "-" ? -Infinity : Infinity;
    }
    throw new PyException("ValueError", `could not convert string to float: ${pyStrRepr(v)}`);
  }
  throw new PyException(
    "TypeError",
    `float() argument must be a string or a real number, not '${pyTypeName(v)}'`,
  );
}

/**
 * Python's `str(v)`: `null` → `"None"`, objects → their repr; `asFloat`: an integral number
 * Python holds as a float (`str(5.0)` is `"5.0"`).
 */
export function pyStrOf(v: unknown, asFloat = false): string {
  return pyStr(v, asFloat);
}

/** Python's `bool(v)`: `"false"` is true; `0`, `""`, `null` and `{}` are false. */
export function pyBoolOf(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "" || v === 0n) return false;
  if (typeof v === "number" && Number.isNaN(v)) return true;
  if (typeof v === "object" && !Array.isArray(v)) return Object.keys(v).length > 0;
  return true;
}
