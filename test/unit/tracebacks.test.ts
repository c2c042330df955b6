import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { comfyuiRules } from "../../src/protocol/comfyui-version.js";
import {
  formatFrame,
  missingImageExceptionType,
  pythonTraceback,
  validationTraceback,
  withValidationTracebacks,
  type FailureSite,
} from "../../src/testing/tracebacks.js";

/**
 * `execution_error` tracebacks recorded from the real ComfyUI 0.3.64 and 0.33.0 (see the .py
 * beside it), the install directory written as `<root>`.
 */
const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/testing/tracebacks.json", import.meta.url), "utf8"),
) as Record<string, Record<string, { exception_type: string; traceback: string[] }>>;

const recorded = Object.entries(fixture).flatMap(([version, byCase]) =>
  Object.entries(byCase).map(([name, real]) => [version, name, real] as const),
);
const cases = recorded.filter(([, name]) => !name.startsWith("validation "));
const validation = recorded
  .filter(([, name]) => name.startsWith("validation "))
  .map(([version, name, real]) => [version, name.slice("validation ".length), real] as const);

describe("pythonTraceback: the frames the real release writes", () => {
  test.each(cases)("%s: %s", (version, name, real) => {
    const [site, classType] = name.split(" ") as [FailureSite, string];
    const rules = comfyuiRules(version, { warn: false });
    expect(pythonTraceback({ classType, site }, rules, "<root>")).toEqual(real.traceback);
    if (site === "image_missing")
      expect(missingImageExceptionType(rules)).toBe(real.exception_type);
  });

  test("every release line has 5+ frames for each recorded failure", () => {
    for (const [, , real] of cases) expect(real.traceback.length).toBeGreaterThanOrEqual(5);
  });

  test.each([
    ["0.3.64", 496],
    ["0.20.0", 496],
    ["0.33.0", 545],
    ["0.40.0", 545],
  ] as const)(
    "release %s writes the execute frame of line %d (releases between take 0.3.64's)",
    (version, line) => {
      const tb = pythonTraceback(
        { classType: "SaveImage", site: "save_outside" },
        comfyuiRules(version, { warn: false }),
        "/ComfyUI",
      );
      expect(tb[0]).toMatch(
        new RegExp(`^ {2}File "/ComfyUI/execution\\.py", line ${line}, in execute\\n`),
      );
    },
  );

  test.each(["0.3.64", "0.33.0"])(
    "a scripted failure on %s: the release's execute chain, then one stand-in frame",
    (version) => {
      const rules = comfyuiRules(version, { warn: false });
      const tb = pythonTraceback({ classType: "ImageInvert", scripted: true }, rules, "/srv");
      const chain = pythonTraceback(
        { classType: "SaveImage", site: "save_outside" },
        rules,
        "/srv",
      ).slice(0, 4);
      expect(tb.slice(0, 4)).toEqual(chain);
      expect(tb.slice(4)).toEqual([
        '  File "/srv/comfyc_testing.py", line 1, in scripted_failure\n',
      ]);
      expect(
        pythonTraceback({ classType: "NoSuchSaver", site: "save_outside" }, rules, "/srv").at(-1),
      ).toBe('  File "/srv/comfyc_testing.py", line 1, in simulated_node\n');
    },
  );
});

describe("validationTraceback: validate_prompt / validate_inputs frames", () => {
  test.each(validation)("%s: %s", (version, _name, real) => {
    const { type, details, exception_type, class_type } = real as unknown as {
      type: "exception_during_validation" | "exception_during_inner_validation";
      details: string;
      exception_type: string;
      class_type: string;
    };
    expect(
      validationTraceback(
        type,
        exception_type,
        details,
        comfyuiRules(version, { warn: false }),
        "<root>",
        class_type,
      ),
    ).toEqual(real.traceback);
  });

  test("both releases have each recorded case", () => {
    expect(validation.filter(([v]) => v === "0.3.64").length).toBe(13);
    expect(validation.filter(([v]) => v === "0.33.0").length).toBe(13);
  });

  test("a RecursionError gets no frames (the real ones run to the recursion limit)", () => {
    expect(
      validationTraceback(
        "exception_during_inner_validation",
        "RecursionError",
        "maximum recursion depth exceeded",
        comfyuiRules("0.3.64"),
        "/r",
      ),
    ).toEqual([]);
  });

  test("withValidationTracebacks fills only empty validation tracebacks", () => {
    const nodeErrors = {
      "2": {
        errors: [
          {
            type: "exception_during_validation",
            message: "Exception when validating node",
            details: "'99'",
            extra_info: { exception_type: "KeyError", traceback: [] },
          },
          { type: "required_input_missing", message: "m", details: "d", extra_info: {} },
        ],
        dependent_outputs: ["2"],
        class_type: "PreviewImage",
      },
    };
    const filled = withValidationTracebacks(nodeErrors, comfyuiRules("0.33.0"), "/r");
    expect(filled["2"].errors[0]).toMatchObject({
      extra_info: {
        exception_type: "KeyError",
        traceback: [
          expect.stringMatching(/^ {2}File "\/r\/execution\.py", line 1184, in validate_prompt\n/),
          expect.stringMatching(/line 933, in validate_inputs\n/),
        ],
      },
    });
    expect(filled["2"].errors[1]).toBe(nodeErrors["2"].errors[1]);
    expect(nodeErrors["2"].errors[0]!.extra_info).toEqual({
      exception_type: "KeyError",
      traceback: [],
    });
  });
});

describe("formatFrame: traceback.format_tb's layout", () => {
  test.each([
    [
      "carets under part of the line",
      ["execution.py", 277, "process_inputs", "result = f(**inputs)", [9, 20]] as const,
      '  File "/r/execution.py", line 277, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n',
    ],
    [
      "no caret line when the carets would cover the whole line",
      ["x.py", 1, "f", "g()", [0, 3]] as const,
      '  File "/r/x.py", line 1, in f\n    g()\n',
    ],
    [
      "an absolute path is kept",
      ["/usr/lib/python3/dist-packages/PIL/Image.py", 3283, "open", "raise E(msg)"] as const,
      '  File "/usr/lib/python3/dist-packages/PIL/Image.py", line 3283, in open\n    raise E(msg)\n',
    ],
    [
      "a subscript marked with ~ and ^",
      ["x.py", 2, "f", "o = prompt[o_id]['class_type']", [4, "~~~~~~^^^^^^"]] as const,
      "  File \"/r/x.py\", line 2, in f\n    o = prompt[o_id]['class_type']\n        ~~~~~~^^^^^^\n",
    ],
    [
      "a Cython frame has no source line",
      ["av/error.pyx", 336, "av.error.err_check"] as const,
      '  File "av/error.pyx", line 336, in av.error.err_check\n',
    ],
  ])("%s", (_name, frame, want) => expect(formatFrame(frame, "/r")).toBe(want));
});
