/**
 * SD 1.5 text-to-image, parameterized: `comfyc compile examples/sd15-txt2img.ts --param
 * prompt="a red fox" --param steps=30`. The parameter schema doubles as an endpoint contract
 * (`paramsJsonSchema()`).
 */
import { defineWorkflow } from "comfyc";
import { z } from "zod";
import {
  CheckpointLoaderSimple,
  CheckpointLoaderSimpleOptions,
  EmptyLatentImage,
  SaveImage,
  VAEDecode,
} from "../generated/core.js";
import { encodePrompts, sample } from "./components/sampling.js";

export const params = z.object({
  prompt: z.string().min(1).default("a lighthouse on a cliff at dusk, oil painting"),
  negative: z.string().default("blurry, low quality"),
  checkpoint: z
    .enum(CheckpointLoaderSimpleOptions.ckpt_name)
    .default("v1-5-pruned-emaonly.safetensors"),
  seed: z.number().int().min(0).default(42),
  steps: z.number().int().min(1).max(150).default(20),
  cfg: z.number().min(0).max(30).default(7),
  width: z.number().int().multipleOf(8).min(64).max(2048).default(512),
  height: z.number().int().multipleOf(8).min(64).max(2048).default(512),
  batch: z.number().int().min(1).max(8).default(1),
  prefix: z.string().default("sd15/txt2img"),
});

export default defineWorkflow({ name: "sd15-txt2img", params }, (wf, p) => {
  const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: p.checkpoint });
  const conditioning = encodePrompts(wf, ckpt.CLIP, p.prompt, p.negative);
  const latent = wf.add(EmptyLatentImage, {
    width: p.width,
    height: p.height,
    batch_size: p.batch,
  });
  const samples = sample(wf, ckpt.MODEL, conditioning, latent, {
    seed: p.seed,
    steps: p.steps,
    cfg: p.cfg,
  });
  const image = wf.add(VAEDecode, { samples, vae: ckpt.VAE });
  wf.add(SaveImage, { images: image, filename_prefix: p.prefix });
});
