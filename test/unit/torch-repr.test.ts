import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { pyExponential, pyFixed, torchRepr } from "../../src/testing/torch-repr.js";

/** `str(tensor)` per case, printed by the torch the real ComfyUI machines run (see the .py). */
const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/testing/torch-repr.json", import.meta.url), "utf8"),
) as {
  cases: {
    name: string;
    shape: number[];
    data: (number | string)[];
    edgeitems: number;
    repr: string;
  }[];
};

describe("torchRepr: str(tensor) as torch 1.13 prints it", () => {
  test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    // NaN and ±Infinity are written as strings ("NaN", "Infinity") by the generator.
    const data = new Float32Array(c.data.map(Number));
    expect(torchRepr({ shape: c.shape, data }, { edgeitems: c.edgeitems })).toBe(c.repr);
  });
});

describe("Python float formatting", () => {
  test.each([
    [0.03125, 4, "0.0312"],
    [0.28125, 4, "0.2812"],
    [0.5, 0, "0"],
    [1.5, 0, "2"],
    [2.5, 0, "2"],
    [-0.0, 4, "-0.0000"],
    [123.456789, 2, "123.46"],
    [0.99996, 4, "1.0000"],
  ])("%s with %s digits", (x, p, expected) => {
    expect(pyFixed(x, p)).toBe(expected);
  });
  test.each([
    [1e-5, "1.0000e-05"],
    [2e9, "2.0000e+09"],
    [99999.5, "1.0000e+05"], // a tie: 9.9999|5 rounds to even,
    [999995, "1.0000e+06"],
    [-0.000123456, "-1.2346e-04"],
    [1e300, "1.0000e+300"],
  ])("'{:.4e}'.format(%s)", (x, expected) => {
    expect(pyExponential(x, 4)).toBe(expected);
  });
});
