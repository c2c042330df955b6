import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, test } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import {
  ComboValueSchema,
  InputSpecSchema,
  isComboList,
  isInputSpec,
  isWellFormedNodeInfo,
  NodeInfoSchema,
} from "../../src/protocol/object-info.js";
import { BUNDLED_SCHEMA, fixture, objectInfoDumps } from "../helpers.js";
import { readFileSync } from "node:fs";

/*
 * The fast paths of reading object_info skip zod for values they recognise as well formed. They
 * may only ever accept what the schema accepts unchanged: then skipping it changes nothing.
 */

const dumps = [
  BUNDLED_SCHEMA,
  fixture("object_info", "oi_2026-08_mmldx_subset_73.json"),
  fixture("object_info", "oi_2026-05_yuzuki_v3_subset_8.json"),
  ...objectInfoDumps(),
];
const nodes = dumps.flatMap((file) =>
  Object.values(parseJsonLossless(readFileSync(file, "utf8")) as Record<string, unknown>),
);

/** What a predicate accepts, the schema accepts, and its result equals the value. */
function impliesSchema(schema: {
  safeParse: (v: unknown) => { success: boolean; data?: unknown };
}) {
  return (value: unknown, accepted: boolean) => {
    if (!accepted) return;
    const parsed = schema.safeParse(value);
    expect(parsed.success).toBe(true);
    expect(isDeepStrictEqual(parsed.data, value)).toBe(true);
  };
}

/** `value` with the thing at one path (a random walk from the root) replaced. */
function replaceAt(value: unknown, steps: readonly number[], replacement: unknown): unknown {
  const copy = structuredClone(value);
  let holder: Record<string, unknown> | unknown[] | undefined;
  let key: string | number | undefined;
  let current: unknown = copy;
  for (const step of steps) {
    if (current === null || typeof current !== "object") break;
    const keys = Object.keys(current);
    if (keys.length === 0) break;
    holder = current as Record<string, unknown>;
    key = keys[step % keys.length]!;
    current = (holder as Record<string, unknown>)[key];
  }
  if (holder === undefined || key === undefined) return replacement;
  (holder as Record<string, unknown>)[key] = replacement;
  return copy;
}

describe("object_info fast paths accept only what the schema accepts unchanged", () => {
  test("every node of the real dumps is recognised as well formed, and the schema agrees", () => {
    const check = impliesSchema(NodeInfoSchema);
    let recognised = 0;
    for (const node of nodes) {
      const accepted = isWellFormedNodeInfo(node);
      check(node, accepted);
      if (accepted) recognised++;
    }
    // Nearly all real nodes take the fast path (else it would be no faster).
    expect(recognised).toBeGreaterThan(nodes.length * 0.95);
  });

  test("a real node with any part replaced by arbitrary JSON", () => {
    const check = impliesSchema(NodeInfoSchema);
    fc.assert(
      fc.property(
        fc.constantFrom(...nodes.slice(0, 400)),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.constantFrom(null, undefined, NaN, Infinity, 2n ** 64n, "__proto__", [], {}),
        ),
        (node, steps, replacement) => {
          const mutated = replaceAt(node, steps, replacement);
          check(mutated, isWellFormedNodeInfo(mutated));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("own __proto__ keys, which zod drops, are left to the schema", () => {
    const node = parseJsonLossless(
      '{"input": {"required": {"__proto__": ["INT", {}], "a": ["INT", {}]}}, "output": []}',
    );
    expect(isWellFormedNodeInfo(node)).toBe(false);
    expect(
      isWellFormedNodeInfo(parseJsonLossless('{"__proto__": 1, "input": {}, "output": []}')),
    ).toBe(false);
  });

  test("input specs and combo lists", () => {
    const spec = impliesSchema(InputSpecSchema);
    const list = impliesSchema(ComboValueSchema.array());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.tuple(
            fc.oneof(fc.string(), fc.array(fc.jsonValue({ maxDepth: 1 }))),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          fc.array(fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(null))),
        ),
        (value) => {
          spec(value, isInputSpec(value));
          list(value, isComboList(value));
          // These two are exact: normalizing relies on them alone for nested specs and options.
          expect(isInputSpec(value)).toBe(InputSpecSchema.safeParse(value).success);
          expect(isComboList(value)).toBe(ComboValueSchema.array().safeParse(value).success);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
