import { describe, expect, test, vi } from "vitest";
import {
  appliedComfyuiRelease,
  COMFYUI_BEHAVIOURS,
  ComfyuiVersionError,
  comfyuiVersionNote,
  noteComfyuiVersion,
  OLDEST_COMFYUI_VERSION,
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
    ["V0.33.0", "0.33.0"],
    [" 0.10.0 ", "0.10.0"],
    ["0.38.1+cu128", "0.38.1"],
    ["999.0.0", "999.0.0"],
  ];
  test.each(valid)("%s reads as %s", (given, want) =>
    expect(parseComfyuiVersion(given).text).toBe(want),
  );

  test.each([
    "banana",
    "",
    "0",
    "1.x.2",
    "0.3.64.1",
    "-1.0.0",
    "0..1",
    "9999999999.0.0",
    "vv0.3.64",
  ])("%j is a USAGE error with a hint", (given) => {
    const e = errorOf(() => parseComfyuiVersion(given, "--comfyui-version"));
    expect(isComfycError(e, "USAGE")).toBe(true);
    expect(e.message).toContain("--comfyui-version");
    expect((e as { hint?: string }).hint).toMatch(/0\.3\.64/);
    expect(tryParseComfyuiVersion(given)).toBeUndefined();
  });

  // What a demanding user may type: each is refused with the reason and the fix, never read as
  // a release it might not be.
  const refused: [string, RegExp, RegExp][] = [
    [
      "0.33.0-rc1",
      /"-rc1" marks a pre-release, which comes before 0\.33\.0/,
      /give 0\.33\.0 if the build has all/,
    ],
    ["v0.33.0-beta.2", /"-beta\.2" marks a pre-release/, /give 0\.33\.0/],
    [
      "0.3",
      /a release number has three parts, major\.minor\.patch/,
      /Give the whole release number/,
    ],
    ["1", /three parts/, /0\.3\.64/],
    ["00.3.64", /a part has a leading zero/, /without leading zeros: 0\.3\.64/],
    ["0.03.64", /leading zero/, /: 0\.3\.64/],
  ];
  test.each(refused)("%j is refused, saying why and what to write", (given, why, fix) => {
    const e = errorOf(() => parseComfyuiVersion(given, "--comfyui-version"));
    expect(e).toBeInstanceOf(ComfyuiVersionError);
    expect(isComfycError(e, "USAGE")).toBe(true);
    expect(e.message).toMatch(why);
    expect((e as ComfyuiVersionError).hint).toMatch(fix);
    expect(tryParseComfyuiVersion(given)).toBeUndefined();
  });

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
    expect(compareComfyuiVersions("0.10.0", "v0.10.0")).toBe(0);
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
    expect(comfyuiRules("99.0.0", { warn: false }).has("duplicatePromptId")).toBe(false);
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

describe("releases outside the ones comfyc models", () => {
  test("a newer release gets the newest rules, an older one the oldest's; a note names them", () => {
    expect(appliedComfyuiRelease("0.34.0")).toBe(NEWEST_COMFYUI_VERSION);
    expect(appliedComfyuiRelease("0.3.10")).toBe(OLDEST_COMFYUI_VERSION);
    expect(appliedComfyuiRelease("0.20.0")).toBe("0.20.0");
    expect(comfyuiVersionNote("0.34.0", "--comfyui-version")).toBe(
      "--comfyui-version: ComfyUI 0.34.0 is newer than the newest release comfyc models (0.33.0): 0.33.0's rules apply, and what 0.34.0 changed is not modelled",
    );
    expect(comfyuiVersionNote("0.3.10")).toBe(
      "comfyuiVersion: ComfyUI 0.3.10 is older than the oldest release comfyc models (0.3.64): 0.3.64's rules apply",
    );
    for (const modelled of [OLDEST_COMFYUI_VERSION, "0.20.0", NEWEST_COMFYUI_VERSION])
      expect(comfyuiVersionNote(modelled)).toBeUndefined();
    const newer = comfyuiRules("0.34.0", { warn: false });
    for (const [name, info] of Object.entries(COMFYUI_BEHAVIOURS))
      expect(newer.has(name as never)).toBe(
        comfyuiRules().has(name as never) && info.since !== null,
      );
  });

  test("the library reports it once per version as a Node process warning (code COMFYC_UNMODELLED_COMFYUI)", () => {
    // Caught where it is handed to Node, so the test output stays clean.
    const emitted = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      comfyuiRules("0.35.0");
      comfyuiRules("0.35.0");
      expect(emitted.mock.calls).toEqual([
        [
          expect.stringMatching(
            /comfyuiVersion: ComfyUI 0\.35\.0 is newer .*0\.33\.0's rules apply/,
          ),
          { code: "COMFYC_UNMODELLED_COMFYUI" },
        ],
      ]);
    } finally {
      emitted.mockRestore();
    }
    // Once: a second validation with the same version says nothing more.
    const lines: string[] = [];
    expect(noteComfyuiVersion(parseComfyuiVersion("0.35.0"), "x", (l) => lines.push(l))).toMatch(
      /newer/,
    );
    expect(lines).toEqual([]);
    // A sink of its own (the CLI's stderr) gets the line instead of a process warning.
    expect(noteComfyuiVersion(parseComfyuiVersion("0.36.0"), "x", (l) => lines.push(l))).toBe(
      lines[0],
    );
    expect(lines).toHaveLength(1);
    // warn: false (the runtime's route choice) says nothing.
    comfyuiRules("0.37.0", { warn: false });
    expect(comfyuiVersionNote("0.37.0")).toMatch(/newer/);
  });
});
