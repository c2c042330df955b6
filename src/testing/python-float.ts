import { randomBytes } from "node:crypto";
import { writtenAsFloat } from "../protocol/json.js";
import { pyFloat } from "../schema/python-format.js";

/**
 * A Python `float` in a reply of the test server, written as ComfyUI's `json.dumps` writes it
 * (Python's `repr`): `5.0`, `1e+16`, `1e-05`, `-0.0`. JavaScript writes the number 5 as `5`, so
 * without this an integral float would reach clients as an int: other bytes than ComfyUI's, and
 * an `int` to a Python client. `server.py` `post_prompt` makes a client's `number` one
 * (`float(json_data['number'])`), and it stays one in `/queue`, `/history` and the jobs API's
 * `priority`. Compares and computes as its value.
 */
export class PyFloat {
  constructor(readonly value: number) {}

  valueOf(): number {
    return this.value;
  }

  /** A marker string that {@link withPythonFloats} replaces by the float's literal. */
  toJSON(): string {
    const x = this.value;
    // json.dumps writes the non-finite floats as these tokens, not as repr's nan and inf.
    const literal = Number.isNaN(x)
      ? "NaN"
      : !Number.isFinite(x)
        ? x > 0
          ? "Infinity"
          : "-Infinity"
        : pyFloat(x);
    return `${MARK}${literal}`;
  }
}

// A per-process random nonce: no string a client sends can pass for a marker.
const NONCE = randomBytes(8).toString("hex");
const MARK = `\u0000pyfloat-${NONCE}:`;
// JSON.stringify writes U+0000 as the escape \u0000.
const QUOTED_MARK = new RegExp(`"\\\\u0000pyfloat-${NONCE}:([^"]*)"`, "g");

/** JSON text with each {@link PyFloat}'s marker string replaced by the float's literal. */
export function withPythonFloats(text: string): string {
  return text.includes(NONCE) ? text.replace(QUOTED_MARK, "$1") : text;
}

/**
 * `value` with every number that a `parseJsonLossless(text, { floats: true })` read as written
 * as a float (`writtenAsFloat`: `1000.0`, `0.0`) made a {@link PyFloat}, so a reply writes it as
 * ComfyUI's `json.dumps` does (an object_info's V3 `"max": 1000.0`), where JavaScript would write
 * `1000`. Copy on write: a container holding none is returned as it is.
 */
export function withPyFloats(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const next =
        typeof v === "number" ? (writtenAsFloat(value, i) ? new PyFloat(v) : v) : withPyFloats(v);
      if (next !== v) (out ??= value.slice())[i] = next;
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const object = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const v = object[key];
    const next =
      typeof v === "number" ? (writtenAsFloat(object, key) ? new PyFloat(v) : v) : withPyFloats(v);
    if (next === v) continue;
    out ??= { ...object };
    // An own `__proto__` key is redefined, never assigned.
    Object.defineProperty(out, key, {
      value: next,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out ?? value;
}
