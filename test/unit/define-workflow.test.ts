import { describe, expect, test } from "vitest";
import { z } from "zod";
import { defineWorkflow, isComfycError } from "../../src/index.js";

/** Mistakes a JavaScript caller (no tsc) can make with defineWorkflow: typed USAGE errors. */
describe("defineWorkflow's arguments", () => {
  const usage = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(isComfycError(e) && e.code).toBe("USAGE");
      return (e as Error).message;
    }
    throw new Error("no error");
  };

  test("params that are not a zod object", () => {
    expect(usage(() => defineWorkflow({ params: { size: 1 } } as never, () => undefined))).toMatch(
      /needs `params`, a zod object schema[\s\S]*→ Write defineWorkflow/,
    );
  });

  test("the build function passed inside the definition instead of as the second argument", () => {
    const build = () => undefined;
    expect(
      usage(() => defineWorkflow({ params: z.object({}), build } as never, undefined as never)),
    ).toMatch(/needs a build function as its second argument[\s\S]*→ Write defineWorkflow/);
  });

  test("a well-formed definition builds with validated parameters", () => {
    let seen: unknown;
    const wf = defineWorkflow({ params: z.object({ n: z.number().default(2) }) }, (_, params) => {
      seen = params;
    });
    wf.build({});
    expect(seen).toEqual({ n: 2 });
  });
});
