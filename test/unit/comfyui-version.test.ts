import { describe, expect, test } from "vitest";
import {
  COMFYUI_BEHAVIOURS,
  comfyuiRules,
  compareComfyuiVersions,
  NEWEST_COMFYUI_VERSION,
  parseComfyuiVersion,
  tryParseComfyuiVersion,
} from "../../src/protocol/comfyui-version.js";
import { isComfycError } from "../../src/errors.js";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

describe("parseComfyuiVersion", () => {
  const valid: [string, string][] = [
    ["0.3.64", "0.3.64"],
    ["v0.33.0", "0.33.0"],
    ["0.4", "0.4.0"],
    [" 0.10.0 ", "0.10.0"],
    ["0.3.64-rc1", "0.3.64"],
    ["0.38.1+cu128", "0.38.1"],
  ];
  test.each(valid)("%s reads as %s", (given, want) =>
    expect(parseComfyuiVersion(given).text).toBe(want),
  );

  test.each(["banana", "", "0", "1.x.2", "0.3.64.1", "-1.0.0", "0..1", "9999999999.0.0"])(
    "%j is a USAGE error with a hint",
    (given) => {
      const e = errorOf(() => parseComfyuiVersion(given, "--comfyui-version"));
      expect(isComfycError(e, "USAGE")).toBe(true);
      expect(e.message).toContain("--comfyui-version");
      expect((e as { hint?: string }).hint).toMatch(/0\.3\.64/);
      expect(tryParseComfyuiVersion(given)).toBeUndefined();
    },
  );

  test("non-strings from a server reply are not versions", () => {
    expect(tryParseComfyuiVersion(3)).toBeUndefined();
    expect(tryParseComfyuiVersion(null)).toBeUndefined();
  });
});

describe("compareComfyuiVersions", () => {
  const ordered = [
    "0.3.9",
    "0.3.10",
    "0.3.64",
    "0.3.76",
    "0.4.0",
    "0.9.2",
    "0.10.0",
    "0.33.0",
    "1.0.0",
  ];
  test("compares numerically per component", () => {
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareComfyuiVersions(ordered[i]!, ordered[i + 1]!)).toBeLessThan(0);
      expect(compareComfyuiVersions(ordered[i + 1]!, ordered[i]!)).toBeGreaterThan(0);
    }
    expect(compareComfyuiVersions("0.10.0", "v0.10")).toBe(0);
  });
});

describe("comfyuiRules", () => {
  test("every behaviour is on from its release and off in the one before", () => {
    for (const [name, info] of Object.entries(COMFYUI_BEHAVIOURS)) {
      const key = name as keyof typeof COMFYUI_BEHAVIOURS;
      if (info.since === null) continue;
      const v = parseComfyuiVersion(info.since);
      const before =
        v.patch > 0
          ? `${v.major}.${v.minor}.${v.patch - 1}`
          : v.minor === 4
            ? "0.3.76"
            : `${v.major}.${v.minor - 1}.99`;
      expect(comfyuiRules(info.since).has(key), `${name} at ${info.since}`).toBe(true);
      expect(comfyuiRules(before).has(key), `${name} at ${before}`).toBe(false);
    }
  });

  test("0.3.64 has none; the default is the newest described release", () => {
    const old = comfyuiRules("0.3.64");
    expect(Object.keys(COMFYUI_BEHAVIOURS).filter((k) => old.has(k as never))).toEqual([]);
    expect(comfyuiRules().version.text).toBe(NEWEST_COMFYUI_VERSION);
    expect(NEWEST_COMFYUI_VERSION).toBe("0.33.0");
  });

  test("unreleased behaviours are off for every version unless asked", () => {
    expect(comfyuiRules("99.0.0").has("duplicatePromptId")).toBe(false);
    expect(comfyuiRules().has("duplicatePromptId")).toBe(false);
    expect(
      comfyuiRules("0.33.0", { unreleased: ["duplicatePromptId"] }).has("duplicatePromptId"),
    ).toBe(true);
  });

  test("numeric order decides: 0.10.0 has what 0.9.0 brought", () => {
    expect(comfyuiRules("0.10.0").has("jobsCancelledStatus")).toBe(true);
    expect(comfyuiRules("0.9.2").has("missingNodeType")).toBe(false);
  });

  test("a bad version is the same typed error", () => {
    expect(
      isComfycError(
        errorOf(() => comfyuiRules("banana")),
        "USAGE",
      ),
    ).toBe(true);
  });
});
