import { describe, expect, test } from "vitest";
import {
  assignIdentifiers,
  assignOutputIdentifiers,
  isIdentifierName,
  toIdentifierBase,
} from "../../src/schema/identifiers.js";
import { HANDLE_MEMBERS } from "../../src/schema/ir.js";

describe("toIdentifierBase", () => {
  const cases: [string, string][] = [
    ["KSampler", "KSampler"],
    ["LayerUtility: CropByMask V2", "LayerUtility_CropByMask_V2"],
    ["KSampler //Inspire", "KSampler_Inspire"],
    ["Image Comparer (rgthree)", "Image_Comparer_rgthree"],
    ["easy controlnetLoader++", "easy_controlnetLoader"],
    ["3DModelLoader", "_3DModelLoader"],
    ["🔥 Upscale ✨", "Upscale"],
    ["TextEncodeAceStepAudio1.5", "TextEncodeAceStepAudio1_5"],
    ["LeReS-DepthMapPreprocessor", "LeReS_DepthMapPreprocessor"],
    ["## make-basic_pipe [2c8c61]", "make_basic_pipe_2c8c61"],
    ["模型加载", "模型加载"],
    ["class", "class_"],
    ["Output", "Output_"],
    ["$evil", "evil"],
    ["!!!", "_"],
    ["a\u2028b", "a_b"],
  ];
  test.each(cases)("%j → %j", (raw, want) => {
    const id = toIdentifierBase(raw);
    expect(id).toBe(want);
    expect(isIdentifierName(id)).toBe(true);
  });
});

describe("assignIdentifiers", () => {
  test("keeps exact identifiers and disambiguates colliding mappings by hash", () => {
    const ids = assignIdentifiers([
      "Anything Everywhere",
      "Anything Everywhere?",
      "Anything_Everywhere",
      "KSampler",
    ]);
    expect(ids.get("KSampler")).toBe("KSampler");
    expect(ids.get("Anything_Everywhere")).toBe("Anything_Everywhere");
    expect(ids.get("Anything Everywhere")).toMatch(/^Anything_Everywhere_[0-9a-f]{6}$/);
    expect(ids.get("Anything Everywhere?")).toMatch(/^Anything_Everywhere_[0-9a-f]{6}$/);
    expect(new Set(ids.values()).size).toBe(4);
  });

  test("does not depend on input order", () => {
    const names = ["a b", "a-b", "a_b", "a.b", "x"];
    const forward = assignIdentifiers(names);
    const backward = assignIdentifiers([...names].reverse());
    for (const n of names) expect(backward.get(n)).toBe(forward.get(n));
  });
});

describe("assignOutputIdentifiers", () => {
  const cases: [string, string[], string[]][] = [
    ["SplitSigmas' duplicate names", ["SIGMAS", "SIGMAS"], ["SIGMAS", "SIGMAS_1"]],
    [
      "names clashing with handle members",
      ["type", "index", "nodeId", "then"],
      ["type_0", "index_1", "nodeId_2", "then_3"],
    ],
    [
      "non-identifier names",
      ["processed text", "*", "latent(s)", "3D Model Path"],
      ["processed_text", "_", "latent_s", "_3D_Model_Path"],
    ],
  ];
  test.each(cases)("%s", (_, names, want) => {
    expect(assignOutputIdentifiers(names, HANDLE_MEMBERS)).toEqual(want);
  });
});
