import { describe, expect, test } from "vitest";
import { mapWidgetValues, liveSocketNames } from "../../src/import/widgets.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import type { NodeClassIR } from "../../src/schema/ir.js";
import { schema033 } from "../import-helpers.js";

const core = (classType: string): NodeClassIR => schema033().classes.get(classType)!;

/** A class from an inline `/object_info` entry. */
function cls(input: Record<string, unknown>, extra: Record<string, unknown> = {}): NodeClassIR {
  const schema = normalizeObjectInfo({ T: { input, output: [], ...extra } });
  return schema.classes.get("T")!;
}

type Case = [
  string,
  {
    cls: () => NodeClassIR;
    stored: unknown[] | Record<string, unknown> | undefined;
    want: Record<string, unknown>;
    defaulted?: string[];
    surplus?: unknown[];
  },
];

const cases: Case[] = [
  [
    "KSampler: the seed's control_after_generate slot is skipped",
    {
      cls: () => core("KSampler"),
      stored: [721897303308196, "randomize", 25, 8, "euler", "normal", 1],
      want: {
        seed: 721897303308196,
        steps: 25,
        cfg: 8,
        sampler_name: "euler",
        scheduler: "normal",
        denoise: 1,
      },
    },
  ],
  [
    "KSamplerAdvanced: noise_seed has a control slot too",
    {
      cls: () => core("KSamplerAdvanced"),
      stored: ["enable", 42, "fixed", 4, 1, "euler", "simple", 0, 2, "enable"],
      want: {
        add_noise: "enable",
        noise_seed: 42,
        steps: 4,
        cfg: 1,
        sampler_name: "euler",
        scheduler: "simple",
        start_at_step: 0,
        end_at_step: 2,
        return_with_leftover_noise: "enable",
      },
    },
  ],
  [
    "an INT named seed with control_after_generate false has no control slot",
    {
      cls: () =>
        cls({ required: { seed: ["INT", { control_after_generate: false }], steps: ["INT", {}] } }),
      stored: [5, 9],
      want: { seed: 5, steps: 9 },
    },
  ],
  [
    "an INT flagged control_after_generate (PrimitiveInt) has a control slot",
    {
      cls: () => core("PrimitiveInt"),
      stored: [640, "fixed"],
      want: { value: 640 },
    },
  ],
  [
    "a COMBO flagged control_after_generate takes two extra slots (mode and filter)",
    {
      cls: () =>
        cls({
          required: {
            pick: ["COMBO", { options: ["a", "b"], control_after_generate: true }],
            n: ["INT", {}],
          },
        }),
      stored: ["b", "increment", "", 5],
      want: { pick: "b", n: 5 },
    },
  ],
  [
    "a remote combo's refresh button is a slot and is sent as refresh: refresh",
    {
      cls: () => core("LoadImageOutput"),
      stored: ["ComfyUI_00001_.png [output]", "refresh", "image"],
      want: { image: "ComfyUI_00001_.png [output]", refresh: "refresh" },
    },
  ],
  [
    "LoadImage: the upload button's slot and a trailing UI value are ignored",
    {
      cls: () => core("LoadImage"),
      stored: ["man.png", "image", ""],
      want: { image: "man.png" },
      surplus: [],
    },
  ],
  [
    "the upload button comes after optional inputs (input_order present)",
    {
      cls: () =>
        cls(
          {
            required: { image: ["COMBO", { options: ["a.png"], image_upload: true }] },
            optional: { scale: ["FLOAT", { default: 1 }] },
          },
          { input_order: { required: ["image"], optional: ["scale"] } },
        ),
      stored: ["a.png", 2, "image"],
      want: { image: "a.png", scale: 2 },
    },
  ],
  [
    "a short array takes the definition's defaults for the rest",
    {
      cls: () => core("EmptyLatentImage"),
      stored: [768],
      want: { width: 768, height: 512, batch_size: 1 },
      defaulted: ["height", "batch_size"],
    },
  ],
  [
    "a long array's surplus is ignored and reported",
    {
      cls: () => core("CLIPTextEncode"),
      stored: ["a cat", 7, "x"],
      want: { text: "a cat" },
      surplus: [7, "x"],
    },
  ],
  [
    "a null combo value becomes the first option, as on load",
    {
      cls: () => cls({ required: { mode: [["first", "second"], {}] } }),
      stored: [null],
      want: { mode: "first" },
    },
  ],
  [
    "a combo default applies only when truthy, else the first option",
    {
      cls: () =>
        cls({
          required: {
            mode: ["COMBO", { options: ["x", "y"], default: "y" }],
            other: [["p", "q"], {}],
          },
        }),
      stored: [],
      want: { mode: "y", other: "p" },
      defaulted: ["mode", "other"],
    },
  ],
  [
    "object-form values map by name; undeclared pack keys are kept, previews dropped",
    {
      cls: () =>
        cls({
          required: {
            frame_rate: ["FLOAT", { default: 8 }],
            format: [["image/gif", "video/h264-mp4"], {}],
          },
        }),
      stored: {
        frame_rate: 15,
        format: "video/h264-mp4",
        crf: 19,
        videopreview: { hidden: false },
      },
      want: { frame_rate: 15, format: "video/h264-mp4", crf: 19 },
    },
  ],
  [
    "nested dynamic combos expand for the selected options (SaveVideo codec)",
    {
      cls: () => core("SaveVideo"),
      stored: ["media/mp4", "mp4", "h264", "re-encode", 30],
      want: {
        filename_prefix: "media/mp4",
        format: "mp4",
        codec: "h264",
        "codec.encoding": "re-encode",
        "codec.encoding.crf": 30,
      },
    },
  ],
  [
    "a dynamic combo whose option has no inputs takes no more slots",
    {
      cls: () => core("SaveVideo"),
      stored: ["video/ComfyUI", "auto", "auto"],
      want: { filename_prefix: "video/ComfyUI", format: "auto", codec: "auto" },
    },
  ],
  [
    "forceInput inputs are sockets, not widgets",
    {
      cls: () => cls({ required: { text: ["STRING", { forceInput: true }], n: ["INT", {}] } }),
      stored: [3],
      want: { n: 3 },
    },
  ],
  [
    "pre-v1.16 values of forceInput inputs are dropped when the count matches the old layout",
    {
      cls: () => cls({ required: { text: ["STRING", { forceInput: true }], n: ["INT", {}] } }),
      stored: ["old text", 3],
      want: { n: 3 },
    },
  ],
  [
    "the legacy sample_ prefix of KSampler sampler names is removed",
    {
      cls: () => core("KSampler"),
      stored: [1, "fixed", 20, 8, "sample_euler", "normal", 1],
      want: { seed: 1, steps: 20, cfg: 8, sampler_name: "euler", scheduler: "normal", denoise: 1 },
    },
  ],
  [
    "a COLOR widget type (not INT/STRING/…) takes a slot",
    {
      cls: () => cls({ required: { tint: ["COLOR", {}], n: ["INT", {}] } }),
      stored: ["#ff0000", 2],
      want: { tint: "#ff0000", n: 2 },
    },
  ],
];

describe("widgets_values → input names (workflow format §3)", () => {
  test.each(cases)("%s", (_, c) => {
    const mapped = mapWidgetValues(c.cls(), c.stored);
    expect(Object.fromEntries(mapped.values)).toEqual(c.want);
    expect(mapped.defaulted).toEqual(c.defaulted ?? []);
    if (c.surplus) expect(mapped.surplus).toEqual(c.surplus);
  });

  test("widget order follows the schema, not the order of keys in the values", () => {
    const mapped = mapWidgetValues(core("KSampler"), [1, "fixed", 20, 8, "euler", "normal", 1]);
    expect([...mapped.values.keys()]).toEqual([
      "seed",
      "steps",
      "cfg",
      "sampler_name",
      "scheduler",
      "denoise",
    ]);
    expect(mapped.slots.map((s) => s.key)).toEqual([
      "seed",
      "control_after_generate",
      "steps",
      "cfg",
      "sampler_name",
      "scheduler",
      "denoise",
    ]);
  });

  test("live sockets list non-widget inputs first, then widgets (bypass indexes this)", () => {
    expect(liveSocketNames(core("KSampler")).map((s) => s.name)).toEqual([
      "model",
      "positive",
      "negative",
      "latent_image",
      "seed",
      "steps",
      "cfg",
      "sampler_name",
      "scheduler",
      "denoise",
    ]);
  });
});
