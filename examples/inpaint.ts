/**
 * Inpainting: the loaded image's alpha channel is the mask; VAEEncodeForInpaint blanks the
 * masked area so the sampler repaints only there.
 */
import { workflow } from "comfyc";
import {
  CheckpointLoaderSimple,
  LoadImage,
  SaveImage,
  VAEDecode,
  VAEEncodeForInpaint,
} from "../generated/core.js";
import { encodePrompts, sample } from "./components/sampling.js";

const wf = workflow({ name: "inpaint" });
const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
const source = wf.add(LoadImage, { image: "example.png" });
const latent = wf.add(VAEEncodeForInpaint, {
  pixels: source.IMAGE,
  mask: source.MASK,
  vae: ckpt.VAE,
  grow_mask_by: 8,
});
const conditioning = encodePrompts(wf, ckpt.CLIP, "a small wooden boat", "people");
const samples = sample(wf, ckpt.MODEL, conditioning, latent, { seed: 99, steps: 25 });
wf.add(SaveImage, {
  images: wf.add(VAEDecode, { samples, vae: ckpt.VAE }),
  filename_prefix: "inpaint",
});

export default wf;
