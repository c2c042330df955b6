import { describe, expect, test } from "vitest";

/**
 * `comfyc/scale`, `comfyc/scale/s3` and `comfyc/gateway` check their optional peer packages
 * before loading their code, so their values are listed by hand in each `index.ts`; these tests
 * keep those lists equal to what the modules behind them export.
 */
const entries = [
  {
    name: "comfyc/scale",
    entry: () => import("../../src/scale/index.js"),
    api: () => import("../../src/scale/api.js"),
  },
  {
    name: "comfyc/scale/s3",
    entry: () => import("../../src/scale/s3.js"),
    api: () => import("../../src/scale/s3-storage.js"),
  },
  {
    name: "comfyc/gateway",
    entry: () => import("../../src/gateway/index.js"),
    api: () => import("../../src/gateway/api.js"),
  },
];

describe("guarded entry points export every value of the module behind them", () => {
  for (const { name, entry, api } of entries)
    test(name, async () => {
      const [outer, inner] = await Promise.all([entry(), api()]);
      expect(Object.keys(outer).sort()).toEqual(Object.keys(inner).sort());
      for (const key of Object.keys(inner))
        expect(outer[key as keyof typeof outer], key).toBe(inner[key as keyof typeof inner]);
    });
});
