import { describe, expect, test } from "vitest";
import { convertWorkflow } from "../../src/import/convert.js";
import {
  applyControl,
  formatDate,
  processDynamicPrompt,
  replacePlaceholders,
  seededRandom,
  type WidgetLookup,
} from "../../src/import/queue-time.js";
import type { WidgetControl } from "../../src/import/widgets.js";
import type { InputIR } from "../../src/schema/ir.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { importFixture, schema033 } from "../import-helpers.js";

/**
 * Queue-time behaviour (`comfyui-workflow-format.md` §3.9), checked against the editor itself:
 * `editor/queue-time-before.json` is what frontend v1.45 sends for `ui/queue-time.json` on the
 * second `app.queuePrompt` with `Comfy.WidgetControlMode` = `before` and `Math.random` replaced by
 * `seededRandom(12345)` (see the fixtures README).
 */
type Prompt = Record<string, { class_type: string; inputs: Record<string, unknown> }>;

describe("control modes, %Node.widget% placeholders and dynamic prompts, as the editor queues them", () => {
  test("all three options together give exactly the editor's prompt", () => {
    const random = seededRandom(12345);
    const { prompt } = convertWorkflow(importFixture("ui", "queue-time.json"), schema033(), {
      controlModes: { random },
      dynamicPrompts: { random },
      filenamePlaceholders: true,
    });
    // The fixture has no %date% that the editor formats (its date would be the day it ran).
    expect(JSON.parse(JSON.stringify(prompt))).toEqual(
      importFixture("editor", "queue-time-before.json"),
    );
  });

  test("each change an option makes is a warning naming the node, the value and the mode", () => {
    const random = seededRandom(12345);
    const { warnings } = convertWorkflow(importFixture("ui", "queue-time.json"), schema033(), {
      controlModes: { random },
    });
    const applied = warnings.filter((w) => w.kind === "control_mode_applied");
    expect(applied.map((w) => w.nodeId)).toEqual([
      "5",
      "6",
      "8",
      "9",
      "20",
      "21",
      "22",
      "24",
      "25",
    ]);
    expect(applied[0]).toMatchObject({
      nodeId: "5",
      classType: "KSampler",
      message: 'seed 100 became 101 (control_after_generate "increment", option controlModes)',
    });
    expect(applied.find((w) => w.nodeId === "8")!.message).toMatch(
      /noise_seed 4503599627370496 became 1125899906842624 \(control_after_generate "fixed"/,
    );
  });

  test("without the options the stored values are sent, and a warning names each the editor would change", () => {
    const doc = importFixture("ui", "queue-time.json");
    const { prompt, warnings } = convertWorkflow(doc, schema033());
    const p = prompt as Prompt;
    expect(p["5"]!.inputs).toMatchObject({ seed: 100, steps: 20, sampler_name: "euler" });
    expect(p["4"]!.inputs["width"]).toBe(512);
    expect(p["12"]!.inputs["filename_prefix"]).toBe("run_%KSampler.cfg%_%Second.seed%");
    // With the editor's default setting (`after`) the stored values are what it sends: control
    // modes are not a difference, so they are not warned about.
    expect(warnings.map((w) => [w.nodeId, w.kind])).toEqual([
      ["23", "placeholders_not_applied"],
      ["2", "dynamic_prompt_not_applied"],
      ["11", "placeholders_not_applied"],
      // The save node replaces placeholders in what its PrimitiveNode wrote into it, too.
      ["12", "placeholders_not_applied"],
    ]);
  });

  test("the same seed gives the same prompt; another seed other random choices", () => {
    const run = (seed: number) =>
      convertWorkflow(importFixture("ui", "queue-time.json"), schema033(), {
        controlModes: { random: seededRandom(seed) },
      }).prompt["9"]!.inputs["seed"];
    expect(run(1)).toBe(run(1));
    expect(run(1)).not.toBe(run(2));
  });
});

const schema = normalizeObjectInfo({
  T: {
    input: {
      required: {
        seed: ["INT", { min: 0, max: 2 ** 64 }],
        width: ["INT", { default: 512, min: 16, max: 16384, step: 8 }],
        odd: ["INT", { min: 3, max: 100, step: 4 }],
        cfg: ["FLOAT", { min: 0, max: 100, step: 0.1, control_after_generate: true }],
        plain: ["INT", {}],
        sampler: [["euler", "euler_a", "dpmpp_2m", "dpmpp_2m_sde", "heun"], {}],
      },
    },
    output: [],
  },
});
const input = (name: string): InputIR =>
  schema.classes.get("T")!.inputs.find((i) => i.name === name)!;
const control = (name: string, mode: string, filter = ""): WidgetControl => ({
  input: input(name),
  mode,
  filter,
});

describe("applyControl: the editor's applyWidgetControl (widgets.ts)", () => {
  const half = () => 0.5;
  const cases: [string, WidgetControl, unknown, unknown][] = [
    ["increment adds the step", control("width", "increment"), 512, 520],
    ["decrement subtracts it", control("width", "decrement"), 512, 504],
    ["decrement stops at the minimum", control("width", "decrement"), 16, 16],
    ["fixed keeps an in-range value", control("seed", "fixed"), 42, 42],
    ["fixed clamps a seed above 2^50 to 2^50", control("seed", "fixed"), 2 ** 52, 2 ** 50],
    ["increment of a 64-bit seed lands on 2^50", control("seed", "increment"), 2n ** 60n, 2 ** 50],
    [
      "randomize: floor(random × range / step) × step + min",
      control("width", "randomize"),
      512,
      8200,
    ],
    ["randomize a seed within [0, 2^50)", control("seed", "randomize"), 1, 2 ** 49],
    ["an INT with a step rounds to it from its minimum", control("odd", "increment"), 8, 11],
    ["an INT without options ranges 0..2048", control("plain", "increment"), 2048, 2048],
    ["a FLOAT moves by its step and rounds to its precision", control("cfg", "increment"), 7, 7.1],
    ["a number that is not a number stays", control("width", "increment"), "512", "512"],
    ["a combo increments through its options", control("sampler", "increment"), "euler", "euler_a"],
    ["…and stops at the last", control("sampler", "increment"), "heun", "heun"],
    [
      "increment-wrap goes back to the first",
      control("sampler", "increment-wrap"),
      "heun",
      "euler",
    ],
    ["decrement stops at the first", control("sampler", "decrement"), "euler", "euler"],
    [
      "a value not in the list moves to the first",
      control("sampler", "increment"),
      "gone",
      "euler",
    ],
    ["fixed leaves a combo alone", control("sampler", "fixed"), "gone", "gone"],
    [
      "randomize picks floor(random × length)",
      control("sampler", "randomize"),
      "euler",
      "dpmpp_2m",
    ],
    [
      "a filter keeps options containing it",
      control("sampler", "increment", "DPM"),
      "dpmpp_2m",
      "dpmpp_2m_sde",
    ],
    ["a /regex/ filter", control("sampler", "randomize", "/^euler/"), "heun", "euler_a"],
    [
      "a filter that keeps nothing leaves the value",
      control("sampler", "increment", "zzz"),
      "heun",
      "heun",
    ],
    [
      "an unknown mode still clamps (nothing to clamp here)",
      control("width", "sideways"),
      512,
      512,
    ],
  ];
  test.each(cases)("%s", (_, c, from, want) => expect(applyControl(c, from, half)).toEqual(want));
});

describe("placeholders: the editor's applyTextReplacements and formatDate", () => {
  const when = new Date(2026, 0, 5, 7, 8, 9);
  test.each([
    ["yyyy-MM-dd", "2026-01-05"],
    ["yy.M.d h:m:s", "26.1.5 7:8:9"],
    ["hh-mm-ss", "07-08-09"],
    ["yyy", "yyy"],
  ])("formatDate %s", (format, want) => expect(formatDate(format, when)).toBe(want));

  const nodes: Record<string, Record<string, unknown>> = {
    KSampler: { seed: 42, sampler_name: "dpm/2:a" },
    "My Title": { text: "line\nbreak" },
  };
  const lookup: WidgetLookup = (node, widget) =>
    nodes[node] && widget in nodes[node]! ? { value: nodes[node]![widget] } : undefined;
  test.each([
    ["%KSampler.seed%_x", "42_x"],
    ["%KSampler.sampler_name%", "dpm_2_a"],
    ["%My Title.text%", "line_break"],
    ["%date:yyyy-MM%/%width%", "2026-01/%width%"],
    // Two parts: read as node "date:yyyy" and widget "MM", which no node has.
    ["%date:yyyy.MM%", "%date:yyyy.MM%"],
    // More parts: a date, formatted from the first part only.
    ["%date:yyyy.MM.dd%", "2026"],
    ["%KSampler.nope% %Nobody.seed%", "%KSampler.nope% %Nobody.seed%"],
  ])("%s → %s", (value, want) => expect(replacePlaceholders(value, when, lookup)).toBe(want));

  test("a node's alias (Node name for S&R) wins over a title; the first match wins", () => {
    const doc = importFixture("ui", "queue-time.json");
    const { prompt } = convertWorkflow(doc, schema033(), { filenamePlaceholders: true });
    // %KSampler.seed%: node 5 (the first KSampler alias); %Sampler B.steps%: node 6 by its
    // edited alias; %Positive.text%: node 2 by title; %Empty Latent Image.width%: node 4 by its
    // default title, the value its PrimitiveNode writes into it.
    expect(prompt["11"]!.inputs["filename_prefix"]).toBe(
      "100/25/a {red_green_blue} car, {big_small} __ note/512/%width%/%date:yyyy.MM%/%Nope.x%/increment",
    );
    expect(prompt["12"]!.inputs["filename_prefix"]).toBe("run_8_7");
  });
});

describe("dynamic prompts: the editor's processDynamicPrompt", () => {
  const first = () => 0;
  const last = () => 0.999;
  test.each([
    ["a {red|{dark|light} blue} car // note", last, "a light blue car "],
    ["/* x */{a|b} \\{literal\\}", first, "a {literal}"],
    ["{a|b", last, "b"],
    ["x {a|b}}", first, "x a}"],
    ["a\\|b {c\\|d|e}", first, "a|b c|d"],
    ["ends with \\", first, "ends with \\undefined"],
    ["see http://example.com", first, "see http:"],
  ])("%j", (text, random, want) => expect(processDynamicPrompt(text, random)).toBe(want));
});

test("seededRandom is mulberry32: the harness's sequence for seed 12345", () => {
  const r = seededRandom(12345);
  const values = [r(), r(), r()];
  expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
  expect(seededRandom(12345)()).toBe(values[0]);
  expect(new Set(values).size).toBe(3);
});
