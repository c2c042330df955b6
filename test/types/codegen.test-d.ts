import { expectTypeOf, test } from "vitest";
import { workflow, type Output } from "comfyc";
import {
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyLatentImage,
  KSampler,
  KSamplerOptions,
  SaveImage,
  SplitSigmas,
  VAEDecode,
  type KSamplerInputs,
} from "../../generated/core.js";
import {
  BatchImagesNode,
  ResizeImageMaskNode,
  StringFormat,
} from "../fixtures/generated-v3/core.js";

const wf = workflow();
const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
const text = wf.add(CLIPTextEncode, { clip: ckpt.CLIP, text: "a lighthouse" });
const latent = wf.add(EmptyLatentImage, { width: 512 });
const base: KSamplerInputs = {
  model: ckpt.MODEL,
  positive: text,
  negative: text.CONDITIONING,
  latent_image: latent,
  sampler_name: "euler",
  scheduler: "normal",
};

test("outputs are typed by socket type, by name and by index", () => {
  expectTypeOf(ckpt.VAE).toEqualTypeOf<Output<"VAE">>();
  expectTypeOf(ckpt[1]).toEqualTypeOf<Output<"CLIP">>();
  const sigmas = wf.add(SplitSigmas, { sigmas: wf.add(KSampler, base) as never });
  expectTypeOf(sigmas.high_sigmas).toEqualTypeOf<Output<"SIGMAS">>();
  expectTypeOf(sigmas[1]).toEqualTypeOf<Output<"SIGMAS">>();
});

test("a single-output node can be passed where its output fits", () => {
  const sampled = wf.add(KSampler, { ...base, seed: 2n ** 64n - 1n });
  expectTypeOf(sampled).toMatchTypeOf<Output<"LATENT">>();
  wf.add(VAEDecode, { samples: sampled, vae: ckpt.VAE });
});

test("combo options are literal unions and runtime constants", () => {
  expectTypeOf<KSamplerInputs["scheduler"]>().toMatchTypeOf<string | Output<string>>();
  expectTypeOf(KSamplerOptions.scheduler).toMatchTypeOf<readonly string[]>();
});

test("wrong wiring is a compile error", () => {
  // @ts-expect-error a MODEL cannot feed a CLIP input
  wf.add(CLIPTextEncode, { clip: ckpt.MODEL, text: "x" });
  const decoded = wf.add(VAEDecode, { samples: latent, vae: ckpt.VAE });
  // @ts-expect-error an IMAGE cannot feed a LATENT input
  wf.add(KSampler, { ...base, latent_image: decoded.IMAGE });
  // @ts-expect-error output index out of range
  void ckpt[3];
  // @ts-expect-error output name that does not exist
  void ckpt.LATENT;
  // @ts-expect-error unknown input
  wf.add(SaveImage, { images: wf.add(VAEDecode, { samples: latent, vae: ckpt.VAE }), bogus: 1 });
  // @ts-expect-error missing required input
  wf.add(SaveImage, { filename_prefix: "x" });
  // @ts-expect-error combo value not in the list
  wf.add(KSampler, { ...base, sampler_name: "not_a_sampler" });
  // @ts-expect-error a multi-output node is not an output
  wf.add(KSampler, { ...base, model: ckpt });
  // @ts-expect-error a number for a STRING widget
  wf.add(CLIPTextEncode, { clip: ckpt.CLIP, text: 5 });
  // @ts-expect-error bigint only where the range exceeds 2^53
  wf.add(EmptyLatentImage, { width: 512n });
});

test("widgets accept a link of their type", () => {
  const intLink = {} as Output<"INT">;
  wf.add(EmptyLatentImage, { width: intLink });
  // @ts-expect-error a FLOAT link is not an INT
  wf.add(EmptyLatentImage, { width: {} as Output<"FLOAT"> });
});

test("V3 dynamic inputs: autogrow arrays, named slots, dynamic combos, match types", () => {
  const image = {} as Output<"IMAGE">;
  wf.add(BatchImagesNode, { images: [image, image] });
  // @ts-expect-error autogrow needs at least `min` entries
  wf.add(BatchImagesNode, { images: [] });
  wf.add(StringFormat, { values: { a: "x", b: image }, f_string: "{a}{b}" });
  // @ts-expect-error named slots only
  wf.add(StringFormat, { values: { zz: "x" } });
  wf.add(ResizeImageMaskNode, {
    input: image,
    resize_type: { key: "scale by multiplier", multiplier: 2 },
    scale_method: "nearest-exact",
  });
  wf.add(ResizeImageMaskNode, { input: image, resize_type: "scale width", scale_method: "area" });
  const resize = { input: image, scale_method: "area" } as const;
  // @ts-expect-error the "match size" option requires `match`
  wf.add(ResizeImageMaskNode, { ...resize, resize_type: { key: "match size" } });
  // @ts-expect-error an option that does not exist
  wf.add(ResizeImageMaskNode, { ...resize, resize_type: "scale sideways" });
});
