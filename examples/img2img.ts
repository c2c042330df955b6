/**
 * Image-to-image from a loaded image: encode it, sample with denoise < 1, decode. The source is
 * the server's `example.png` unless a local file is given: `comfyc run examples/img2img.ts
 * --param image=photo.png` uploads it first (under a content-hash name, once).
 */
import { defineWorkflow, localFile } from "comfyc";
import { z } from "zod";
import {
  CheckpointLoaderSimple,
  LoadImage,
  SaveImage,
  VAEDecode,
  VAEEncode,
} from "../generated/core.js";
import { encodePrompts, sample } from "./components/sampling.js";

export const params = z.object({
  /** A local image file to upload; without it, the server's input/example.png. */
  image: z.string().min(1).optional(),
  prompt: z.string().default("the same scene in watercolor"),
  denoise: z.number().min(0).max(1).default(0.6),
  seed: z.number().int().min(0).default(7),
});

export default defineWorkflow({ name: "img2img", params }, (wf, p) => {
  const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
  const source = wf.add(
    LoadImage,
    { image: p.image ? localFile(p.image) : "example.png" },
    { title: "Source image" },
  );
  const latent = wf.add(VAEEncode, { pixels: source.IMAGE, vae: ckpt.VAE });
  const conditioning = encodePrompts(wf, ckpt.CLIP, p.prompt, "photo");
  const samples = sample(wf, ckpt.MODEL, conditioning, latent, {
    denoise: p.denoise,
    seed: p.seed,
  });
  wf.add(SaveImage, {
    images: wf.add(VAEDecode, { samples, vae: ckpt.VAE }),
    filename_prefix: "img2img",
  });
});
