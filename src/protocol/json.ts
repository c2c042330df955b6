import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type * as LosslessJson from "lossless-json";

/**
 * JSON as ComfyUI (Python) reads and writes it. Python's `json` module accepts and writes the
 * tokens `NaN`, `Infinity` and `-Infinity` (aiohttp's `request.json()` and `json_response` use
 * it), and its integers are exact at any size.
 */

const NON_FINITE = /NaN|Infinity/;
/** Without a run of 16+ digits no integer can exceed 2^53 (9007199254740992). */
const LONG_DIGITS = /\d{16}/;
/** Without a digit before `.`, `e` or `E` the text holds no float token. */
const FLOAT_SIGN = /\d[.eE]/;

/** Options of {@link parseJsonLossless}. */
export interface ParseJsonOptions {
  /**
   * Record which integral numbers were written as floats (`1.0`, `0.0`, `-0.0`, `1e3`), for
   * {@link writtenAsFloat}. Python's `json` reads those as `float` and the rest as `int`, and
   * ComfyUI's behaviour depends on it (`RETURN_TYPES[0.0]` raises `TypeError`, `str(5.0)` is
   * `"5.0"`, an error prints a limit of `1000.0` as `1000.0`); JavaScript reads both as the same
   * number. Off by default: it costs a marker per such token, and only a validator needs it.
   */
  readonly floats?: boolean;
}

/**
 * Containers of values written as integral floats by a parse with `floats`, and the keys (an
 * object's) or indices (an array's) holding them. A side table, so parsed values stay plain
 * numbers; weak, so it never keeps a document alive. Made on the first such parse only.
 */
let floatKeys: WeakMap<object, Set<string | number>> | undefined;

/** Documents parsed with `floats`: their root, and the objects and arrays directly in it. */
const floatsTracked = new WeakSet<object>();

/**
 * Whether `value` is what `parseJsonLossless(text, { floats: true })` returned, or an object or
 * array directly inside it (a node class of an object_info, a node of a prompt: they stay the
 * same objects when a caller copies the root, as a zod record does). Inside such a value,
 * {@link writtenAsFloat} is false only for numbers the text wrote as ints.
 */
export function parsedWithFloats(value: object): boolean {
  return floatsTracked.has(value);
}

/**
 * Whether `container[key]` is a number that the text parsed by
 * `parseJsonLossless(text, { floats: true })` wrote as a float while its value is an integer
 * (`1.0`, `0.0`, `-0.0`, `1e3`): a Python `float` where `typeof` says only `number`. A number
 * with a fraction (`0.5`) is a float anyway (`Number.isInteger` is false) and is not recorded.
 * `key` is an array's index as a number, an object's key as a string. False for anything not
 * parsed so (values built in JavaScript, copies): they count as ints, as `JSON.stringify` writes
 * them.
 */
export function writtenAsFloat(container: object, key: string | number): boolean {
  return floatKeys !== undefined && floatKeys.get(container)?.has(key) === true;
}

/**
 * Records `container[key]` as a Python float for {@link writtenAsFloat}, as a parse with `floats`
 * does: for a copy of parsed values that must stay what the text said (a validator passing a
 * node's values on to a check of its own).
 */
export function noteFloat(container: object, key: string | number): void {
  floatKeys ??= new WeakMap();
  let keys = floatKeys.get(container);
  if (keys === undefined) floatKeys.set(container, (keys = new Set()));
  keys.add(key);
}

/**
 * `JSON.parse` as Python's `json.loads` reads: integers beyond 2^53 stay exact (as bigint), and
 * the tokens `NaN`, `Infinity`, `-Infinity` are numbers. ComfyUI is Python, so a 64-bit seed
 * such as 18446744073709551615 is an exact int on the server, and rounding it would turn a valid
 * seed into one above the max; a prompt with `NaN` is accepted by the server, and its errors
 * echo the value back as `NaN`.
 *
 * The engine's own `JSON.parse` does the parsing: those tokens are first replaced by marker
 * strings and put back by one walk over the result. A JSON parser
 * written in JavaScript took several times as long on a 2 MB object_info.
 *
 * Which tokens are inside strings is first guessed from their neighbours alone (a token stands
 * after `:`, `,` or `[` and before `,`, `}` or `]`): a marker put inside a string by a wrong
 * guess closes that string and leaves a backslash outside one, which `JSON.parse` always
 * rejects, and then a scan that skips every string decides. Skipping every string of a 2 MB
 * object_info cost about as much as parsing it.
 *
 * With `floats` (see {@link ParseJsonOptions}), integral float tokens are marked too, and
 * {@link writtenAsFloat} tells them afterwards.
 *
 * @throws SyntaxError for text Python would not read either.
 */
export function parseJsonLossless(text: string, options?: ParseJsonOptions): unknown {
  if (options?.floats !== true) return parseExact(text, false);
  const value = parseExact(text, FLOAT_SIGN.test(text));
  if (typeof value === "object" && value !== null) {
    floatsTracked.add(value);
    const members = value as Record<string, unknown>;
    for (const key of Object.keys(members)) {
      const member = members[key];
      if (typeof member === "object" && member !== null) floatsTracked.add(member);
    }
  }
  return value;
}

/** {@link parseJsonLossless}; `floats`: the text may hold float tokens to mark. */
function parseExact(text: string, floats: boolean): unknown {
  if (!floats && !NON_FINITE.test(text) && !LONG_DIGITS.test(text)) return JSON.parse(text);
  const guessed = markExactTokens(text, true, true, floats);
  if (guessed) {
    try {
      return revive(JSON.parse(guessed.text), guessed);
    } catch {
      // A token inside a string was marked, or the text is invalid: decided string by string.
    }
  }
  const marks = markExactTokens(text, true, false, floats);
  if (!marks) return JSON.parse(text);
  let value: unknown;
  try {
    value = JSON.parse(marks.text);
  } catch {
    // Invalid text: lossless-json's error, with positions in the text as given.
    return parseSlowly(text);
  }
  return revive(value, marks);
}

/**
 * Puts the marked values back, in place: one walk over the parsed value, with a stack of its
 * own (so nesting as deep as `JSON.parse` takes is fine). A `JSON.parse` reviver cost twice the
 * parse itself, calling back into JavaScript for every value.
 */
function revive(value: unknown, { values: marks, floats }: Marks): unknown {
  // Markers are strings starting with NUL. The test is written out at each place rather than
  // called: this walk visits every value of the document, before the JIT has optimized it.
  // A whole document that is one float has no container to record it in.
  if (typeof value === "string" && value.charCodeAt(0) === 0 && marks.has(value))
    return marks.get(value);
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const container = pending.pop();
    if (typeof container !== "object" || container === null) continue;
    if (Array.isArray(container)) {
      for (let i = 0; i < container.length; i++) {
        const v: unknown = container[i];
        if (typeof v === "string") {
          if (v.charCodeAt(0) === 0 && marks.has(v)) {
            container[i] = marks.get(v);
            if (floats !== undefined && floats.has(v)) noteFloat(container, i);
          }
        } else if (typeof v === "object" && v !== null) pending.push(v);
      }
      continue;
    }
    const object = container as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      const v = object[key];
      if (typeof v === "string") {
        if (v.charCodeAt(0) === 0 && marks.has(v)) {
          // An own `__proto__` key (JSON.parse makes one) is redefined, never assigned.
          Object.defineProperty(object, key, {
            value: marks.get(v),
            enumerable: true,
            writable: true,
            configurable: true,
          });
          if (floats !== undefined && floats.has(v)) noteFloat(object, key);
        }
      } else if (typeof v === "object" && v !== null) pending.push(v);
    }
  }
  return value;
}

/**
 * lossless-json over the text as given: only for text JSON.parse rejected, for its error. Loaded
 * then (its CommonJS build, through the package's `require` export), not by every command that
 * reads JSON.
 */
function parseSlowly(text: string): unknown {
  const { isInteger, isSafeNumber, parse } = createRequire(import.meta.url)(
    "lossless-json",
  ) as typeof LosslessJson;
  const marks = NON_FINITE.test(text) ? markExactTokens(text, false) : undefined;
  const reviver = marks
    ? (_key: string, v: unknown) =>
        typeof v === "string" && marks.values.has(v) ? marks.values.get(v) : v
    : null;
  return parse(marks?.text ?? text, reviver, (value: string) =>
    isInteger(value) && !isSafeNumber(value) ? BigInt(value) : Number(value),
  );
}

/**
 * Replaces, outside strings, the tokens `NaN`, `Infinity` and `-Infinity`, (unless
 * `integers` is false) integers beyond 2^53 and (with `floats`) float tokens of integral value
 * with unique marker strings (a per-call random nonce, so no user string can be mistaken for
 * one); `values` maps each marker to its value, `floats` holds the markers of floats.
 * With `guess`, strings are not skipped: a candidate counts as outside them when it stands
 * where a JSON value can ({@link standsAsToken}); `JSON.parse` of the result tells.
 *
 * The engine finds what might need marking (a regular expression over the whole text) and the
 * strings to skip (`indexOf` from quote to quote): a loop over every character took most of a
 * cold `comfyc codegen`'s parse, which runs before the JIT has optimized anything.
 */
function markExactTokens(
  text: string,
  integers = true,
  guess = false,
  floats = false,
): Marks | undefined {
  const values = new Map<string, number | bigint>();
  const floatMarks = floats ? new Set<string>() : undefined;
  const nonce = randomBytes(8).toString("hex");
  let out = "";
  let last = 0;
  const mark = (start: number, end: number, value: number | bigint) => {
    const marker = `\u0000${nonce}:${values.size}`;
    values.set(marker, value);
    out += `${text.slice(last, start)}${JSON.stringify(marker)}`;
    last = end;
    return marker;
  };
  // With `floats`, a digit before `.`, `e` or `E` starts a candidate too, widened below to the
  // whole number token (a pattern matching whole float tokens backtracked at every digit of
  // every integer, and took a quarter of the parse of a 2 MB object_info).
  const candidates = floats
    ? /NaN|Infinity|\d{16,}|\d[.eE]/g
    : integers
      ? /NaN|Infinity|\d{16,}/g
      : /NaN|Infinity/g;
  // Everything before `outside` is known; `outside` is not inside a string.
  let outside = 0;
  for (let m = candidates.exec(text); m; m = candidates.exec(text)) {
    let at = m.index;
    let token = m[0];
    if (floats && token !== "NaN" && token !== "Infinity") {
      // The whole number: its integer digits, then a fraction and an exponent if well formed.
      while (isDigit(text.charCodeAt(at - 1))) at--;
      const end = numberEnd(text, at);
      token = text.slice(at, end);
      candidates.lastIndex = end;
    }
    if (guess) {
      if (standsAsToken(text, at, at + token.length)) markToken(token, at);
      continue;
    }
    // Skip the strings that start before the candidate; if one contains it, go on after it.
    let inString = false;
    for (let open = text.indexOf('"', outside); open !== -1 && open < at;) {
      const close = closingQuote(text, open);
      if (close === -1 || close > at) {
        inString = true;
        outside = close === -1 ? text.length : close + 1;
        break;
      }
      outside = close + 1;
      open = text.indexOf('"', outside);
    }
    if (inString) {
      candidates.lastIndex = outside;
      continue;
    }
    markToken(token, at);
    outside = candidates.lastIndex;
  }
  if (values.size === 0) return undefined;
  return {
    text: out + text.slice(last),
    values,
    nonce,
    ...(floatMarks?.size ? { floats: floatMarks } : {}),
  };

  /** Marks the candidate `token` at `at`, outside strings, if it is one to mark. */
  function markToken(token: string, at: number): void {
    const before = text.charCodeAt(at - 1);
    if (token === "NaN") mark(at, at + 3, NaN);
    else if (token === "Infinity") {
      if (before === 0x2d /* - */) mark(at - 1, at + 8, -Infinity);
      else mark(at, at + 8, Infinity);
    } else if (token.charCodeAt(0) === 0x30 /* 0 */ && isDigit(token.charCodeAt(1))) {
      // A leading zero (`01.0`, `0123…`) is not JSON: left as it is for JSON.parse to refuse.
      return;
    } else if (floatMarks !== undefined && isFloatToken(token)) {
      // Only an integral value needs the mark: 0.5 is a float in JavaScript too. Infinity from
      // an overflowing exponent (1e400) is not integral, and is a Python float as well.
      const start = before === 0x2d /* - */ ? at - 1 : at;
      const value = Number(text.slice(start, at + token.length));
      if (Number.isInteger(value)) floatMarks.add(mark(start, at + token.length, value));
    } else {
      // A run of 16+ digits: an integer token unless it is part of a float (after `.`, an
      // exponent mark or its sign, or followed by a fraction or an exponent).
      const end = at + token.length;
      const after = text.charCodeAt(end);
      if (after === 0x2e /* . */ || after === 0x65 /* e */ || after === 0x45 /* E */) return;
      let start = at;
      if (before === 0x2d /* - */) {
        const sign = text.charCodeAt(at - 2);
        if (sign === 0x65 || sign === 0x45) return;
        start = at - 1;
      } else if (before === 0x2e || before === 0x65 || before === 0x45 || before === 0x2b /* + */) {
        return;
      }
      const digits = text.slice(start, end);
      if (!Number.isSafeInteger(Number(digits))) mark(start, end, BigInt(digits));
    }
  }
}

/** Marked text, and each marker's value; every marker holds `nonce`. */
interface Marks {
  readonly text: string;
  readonly values: Map<string, number | bigint>;
  readonly nonce: string;
  /** The markers of integral floats (with `floats`), when there are any. */
  readonly floats?: ReadonlySet<string>;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The end of the number token whose integer digits start at `start`: after its digits, then a
 * fraction (`.` and digits) and an exponent (`e`, a sign, digits) where they are well formed
 * (Python's NUMBER_RE; anything else is left for `JSON.parse` to judge).
 */
function numberEnd(text: string, start: number): number {
  let i = start;
  while (isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === 0x2e /* . */ && isDigit(text.charCodeAt(i + 1))) {
    i += 2;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 /* e */ || e === 0x45 /* E */) {
    let j = i + 1;
    const sign = text.charCodeAt(j);
    if (sign === 0x2b /* + */ || sign === 0x2d /* - */) j++;
    if (isDigit(text.charCodeAt(j))) {
      while (isDigit(text.charCodeAt(j))) j++;
      i = j;
    }
  }
  return i;
}

/** Whether a candidate token of {@link markExactTokens} is a float (has a fraction or exponent). */
function isFloatToken(token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */) return true;
  }
  return false;
}

/**
 * Whether the candidate at `start`–`end` (with a `-` before it taken in) stands where a JSON
 * value can: after `:` (itself after an unescaped `"`), `,`, `[` or the start, and before `,`,
 * `}`, `]` or the end (JSON whitespace between). A candidate that does not is inside a string or
 * the text is invalid.
 */
function standsAsToken(text: string, start: number, end: number): boolean {
  let i = start - 1;
  if (text.charCodeAt(i) === 0x2d /* - */) i--;
  while (isJsonSpace(text.charCodeAt(i))) i--;
  const before = text.charCodeAt(i);
  if (i >= 0 && before !== 0x3a /* : */ && before !== 0x2c /* , */ && before !== 0x5b /* [ */)
    return false;
  if (before === 0x3a) {
    // A `:` outside strings follows a key's closing quote: one after anything else, or after an
    // escaped quote (an odd run of backslashes), is inside a string (prose such as "default:
    // 0.0]" or JSON kept in a string, `\"usd\": 1.0`, in real object_info).
    let k = i - 1;
    while (isJsonSpace(text.charCodeAt(k))) k--;
    if (text.charCodeAt(k) !== 0x22 /* " */) return false;
    let backslashes = 0;
    while (text.charCodeAt(k - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 1) return false;
  }
  let j = end;
  while (isJsonSpace(text.charCodeAt(j))) j++;
  const after = text.charCodeAt(j);
  return j >= text.length || after === 0x2c || after === 0x7d /* } */ || after === 0x5d; /* ] */
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The quote that closes the string opened at `open` (one not escaped by a backslash), or -1. */
function closingQuote(text: string, open: number): number {
  for (
    let close = text.indexOf('"', open + 1);
    close !== -1;
    close = text.indexOf('"', close + 1)
  ) {
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return close;
  }
  return -1;
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
    // A "null" in the text is mostly a null in the value: only a non-finite number needs more.
    if (text === undefined || !text.includes("null") || !mayHoldNonFinite(value)) return text;
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
  }
  if (indent === undefined) {
    const text = plainJsonText(value, false, { bigint: false, nonFinite: false });
    if (text !== NOT_PLAIN) return text ?? JSON.stringify(value);
  }
  // Anything else (an indent, toJSON, undefined members…): JSON.stringify with a replacer.
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

/** What {@link plainJsonText} met on its way: bigints, and non-finite numbers. */
export interface PlainJsonFound {
  bigint: boolean;
  nonFinite: boolean;
}

/** {@link plainJsonText} of a value that is not plain JSON data. */
export const NOT_PLAIN: unique symbol = Symbol("not plain JSON data");

/**
 * The JSON text of plain JSON data (arrays, plain objects, strings, booleans, null, numbers,
 * bigints), or `undefined` when the native `JSON.stringify(value)` writes exactly that, or
 * {@link NOT_PLAIN} for anything else (undefined, functions, class instances, holes).
 * Bigints are written as their digits. `canonical`: keys in code-unit order at every level
 * (`canonicalJson`) and non-finite numbers as `null`, as `JSON.stringify` writes them; integer-like
 * keys and an own `__proto__` are then {@link NOT_PLAIN}. Otherwise keys in their own order and
 * non-finite numbers as Python's `NaN`, `Infinity`, `-Infinity` ({@link stringifyJson}).
 *
 * One walk that hands every part it needs not change to the native `JSON.stringify` (most
 * leaves: strings, numbers, option lists) and writes the text of the rest itself: building
 * copies (sorted, or with marks for bigints) and stringifying them cost a third more time and
 * twice the garbage on a 1,686-class schema, and a replacer function several times as much.
 */
export function plainJsonText(
  value: unknown,
  canonical: boolean,
  found: PlainJsonFound,
): string | undefined | typeof NOT_PLAIN {
  if (value === null) return undefined;
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      if (Number.isFinite(value)) return undefined;
      found.nonFinite = true;
      // JSON.stringify writes a non-finite number as null (canonically, as the general path).
      if (canonical) return undefined;
      return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
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
      const text = plainJsonText(item, canonical, found);
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
  for (let i = 1; canonical && i < keys.length; i++) {
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
    // An object lists integer-like keys first whatever the insertion order, and an own
    // `__proto__` needs care: canonically such keys take the general path.
    if (canonical) {
      const first = key.charCodeAt(0);
      if ((first >= 48 && first <= 57) || key === "__proto__") return NOT_PLAIN;
    }
    const item = obj[key];
    const text = plainJsonText(item, canonical, found);
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
 * `JSON.stringify(value)` for a part {@link plainJsonText} found written exactly so; numbers and
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

/**
 * False when `value` is plain JSON data (arrays, plain objects, primitives) without a NaN or an
 * infinity, so `JSON.stringify` wrote it exactly; true otherwise (also for anything with a
 * `toJSON` or another prototype, which the general path handles).
 */
function mayHoldNonFinite(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return true;
    } else if (typeof v === "object" && v !== null) {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) pending.push(v[i]);
        continue;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if ((proto !== Object.prototype && proto !== null) || "toJSON" in v) return true;
      const o = v as Record<string, unknown>;
      for (const key of Object.keys(o)) pending.push(o[key]);
    }
  }
  return false;
}
