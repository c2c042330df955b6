import { writtenAsFloat } from "../protocol/json.js";

/**
 * ComfyUI builds its error texts with Python's `str()` and `repr()`. These reproduce them for
 * JSON values so offline errors read exactly like the server's.
 */

/**
 * `repr(float)`: `1.0`, `0.1`, `1e-05`, `1.5e+16`, `inf`, `nan`. The shortest digits that read
 * back as `n` (JavaScript's and Python's agree), in fixed notation with at least one decimal
 * when the decimal exponent is -4 to 15, otherwise as `d.ddde±XX` with at least two exponent
 * digits (CPython `float_repr`, format code `'r'`). The exponent is read from those digits, not
 * from a logarithm, which rounds the wrong way next to a power of ten (`9.999999999999999e-05`).
 */
export function pyFloat(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const [mantissa, exponent] = n.toExponential().split("e") as [string, string];
  const e = Number(exponent);
  const sign = n < 0 ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, "0");
  return `${sign}${whole}.${digits.slice(e + 1) || "0"}`;
}

/** `str(int)` for a JS number or bigint holding an integer. */
export function pyInt(n: number | bigint): string {
  if (typeof n === "bigint") return n.toString();
  return Number.isSafeInteger(n) ? String(n) : BigInt(Math.trunc(n)).toString();
}

/**
 * Characters Python's `str.isprintable()` rejects beyond ASCII: categories Cc, Cf, Cs, Co, Cn, Zl,
 * Zp and Zs (the space itself is ASCII). Unicode versions of V8 and of the server's Python may
 * differ on newly assigned characters (Cn).
 */
const PY_UNPRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/**
 * `repr(str)`: single quotes unless the text has `'` and no `"`; control characters and what
 * `str.isprintable()` rejects (`\xa0`, `\u200b`, `\ufeff`, lone surrogates) as escapes.
 */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code > 0x7f && PY_UNPRINTABLE.test(ch)) {
      // unicode_repr: what str.isprintable() rejects is written as an escape of its size.
      const hex = code.toString(16);
      out +=
        code <= 0xff
          ? `\\x${hex.padStart(2, "0")}`
          : code <= 0xffff
            ? `\\u${hex.padStart(4, "0")}`
            : `\\U${hex.padStart(8, "0")}`;
    } else out += ch;
  }
  return out + quote;
}

/**
 * `repr()` of a JSON value as Python sees it after `json.loads`: integers without a point,
 * other numbers as floats, `True`/`False`/`None`, lists and dicts. An integral number is an int
 * unless `asFloat` says Python holds a float (`repr(5.0)` is `5.0`); inside lists and dicts, each
 * item that a `parseJsonLossless(text, { floats: true })` read as a float token is one
 * ({@link writtenAsFloat}).
 */
export function pyRepr(value: unknown, asFloat = false): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number")
    return asFloat || !Number.isInteger(value) ? pyFloat(value) : pyInt(value);
  if (typeof value === "string") return pyStrRepr(value);
  if (Array.isArray(value))
    return `[${value.map((v, i) => pyRepr(v, writtenAsFloat(value, i))).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyStrRepr(k)}: ${pyRepr(v, writtenAsFloat(value, k))}`)
      .join(", ")}}`;
  }
  return String(value);
}

/**
 * `str()` of a JSON value: strings as they are, everything else as {@link pyRepr} (`asFloat`:
 * an integral number that Python holds as a float, `str(5.0)` being `5.0`).
 */
export function pyStr(value: unknown, asFloat = false): string {
  return typeof value === "string" ? value : pyRepr(value, asFloat);
}

/**
 * `json.dumps(value)` with Python's defaults, as ComfyUI writes the `prompt` and `workflow` text
 * into saved PNGs (`nodes.py` `SaveImage.save_images`): `", "` and `": "` separators,
 * `ensure_ascii` (DEL and every character above it as `\uXXXX`, astral ones as surrogate pairs),
 * bigints as exact integers, `NaN`/`Infinity`/`-Infinity` tokens, non-integral numbers as
 * `repr(float)`.
 *
 * A JSON number keeps no trace of a `.0`: an integral value is written as an int, where Python
 * writes a float it parsed from `8.0` as `8.0`.
 *
 * @example pyJsonDumps({ a: [1, "é"] }) // '{"a": [1, "\\u00e9"]}'
 */
export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return Number.isSafeInteger(value) ? pyInt(value) : pyFloat(value);
  }
  if (typeof value === "string")
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(", ")}]`;
  if (typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyJsonDumps(k)}: ${pyJsonDumps(v)}`)
      .join(", ")}}`;
  return "null";
}
