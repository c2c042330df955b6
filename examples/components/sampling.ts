import type { Output, Workflow } from "comfyc";
import { CLIPTextEncode, KSampler, type KSamplerInputs } from "../../generated/core.js";

/** Positive and negative conditioning from two prompts: a reusable component. */
export function encodePrompts(
  wf: Workflow,
  clip: Output<"CLIP">,
  positive: string,
  negative: string,
): { positive: Output<"CONDITIONING">; negative: Output<"CONDITIONING"> } {
  return {
    positive: wf.add(CLIPTextEncode, { clip, text: positive }, { title: "Positive prompt" })
      .CONDITIONING,
    negative: wf.add(CLIPTextEncode, { clip, text: negative }, { title: "Negative prompt" })
      .CONDITIONING,
  };
}

/** Settings of {@link sample}; everything but the graph inputs has a sensible default. */
export interface SampleSettings {
  readonly seed?: number | bigint;
  readonly steps?: number;
  readonly cfg?: number;
  readonly denoise?: number;
  readonly sampler?: KSamplerInputs["sampler_name"];
  readonly scheduler?: KSamplerInputs["scheduler"];
  readonly title?: string;
}

/** One KSampler pass: a component taking and returning typed outputs. */
export function sample(
  wf: Workflow,
  model: Output<"MODEL">,
  conditioning: { positive: Output<"CONDITIONING">; negative: Output<"CONDITIONING"> },
  latent: Output<"LATENT">,
  settings: SampleSettings = {},
): Output<"LATENT"> {
  return wf.add(
    KSampler,
    {
      model,
      positive: conditioning.positive,
      negative: conditioning.negative,
      latent_image: latent,
      seed: settings.seed ?? 0,
      steps: settings.steps ?? 20,
      cfg: settings.cfg ?? 7,
      denoise: settings.denoise ?? 1,
      sampler_name: settings.sampler ?? "euler",
      scheduler: settings.scheduler ?? "normal",
    },
    settings.title ? { title: settings.title } : {},
  );
}
