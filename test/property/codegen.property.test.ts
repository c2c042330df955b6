import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { generate } from "../../src/codegen/generate.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { fixture, readJson } from "../helpers.js";

// A small real dump keeps each run fast: 73 classes of a 2026 server.
const real = readJson(fixture("object_info", "oi_2026-08_mmldx_subset_73.json")) as Record<
  string,
  Record<string, unknown>
>;
const names = Object.keys(real);

describe("codegen properties on untrusted schemas", () => {
  test("any order of classes gives the same files", async () => {
    const reference = await generate(real);
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(names, { minLength: names.length }), async (order) => {
        const shuffled = Object.fromEntries(order.map((name) => [name, real[name]]));
        expect((await generate(shuffled)).files).toEqual(reference.files);
      }),
      { numRuns: 5 },
    );
  });

  test("one class replaced by arbitrary JSON is skipped with a warning; the others still generate", () => {
    const healthy = normalizeObjectInfo(real).classes.size;
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.jsonValue({ maxDepth: 4 }), (victim, garbage) => {
        const schema = normalizeObjectInfo({ ...real, [victim]: garbage });
        // Either the garbage happens to be a valid node (rare) or only the victim is lost.
        expect(schema.classes.size).toBeGreaterThanOrEqual(healthy - 1);
        for (const name of names) if (name !== victim) expect(schema.classes.has(name)).toBe(true);
        if (!schema.classes.has(victim))
          expect(schema.warnings.some((w) => w.path.includes(victim))).toBe(true);
      }),
      { numRuns: 200 },
    );
    // 200 normalizations of a whole schema: minutes on a loaded machine.
  }, 300_000);

  test("one input spec replaced by arbitrary JSON never stops generation", async () => {
    const withInputs = names.filter(
      (n) => Object.keys((real[n]!["input"] as { required?: object })?.required ?? {}).length > 0,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...withInputs),
        fc.jsonValue({ maxDepth: 3 }),
        async (victim, garbage) => {
          const node = structuredClone(real[victim]!);
          const required = (node["input"] as { required: Record<string, unknown> }).required;
          required[Object.keys(required)[0]!] = garbage;
          const result = await generate({ ...real, [victim]: node });
          // Every other class is still in the generated code.
          const code = result.files.map((f) => f.content).join("\n");
          for (const name of names.slice(0, 10))
            if (name !== victim) expect(code).toContain(JSON.stringify(name));
        },
      ),
      { numRuns: 25 },
    );
  });
});
