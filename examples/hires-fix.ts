/**
 * Hires fix: sample small, upscale the latent 1.5×, sample again at low denoise; a second
 * output previews the low-resolution pass.
 */
import { workflow } from "comfyc";
import {
  CheckpointLoaderSimple,
  EmptyLatentImage,
  LatentUpscaleBy,
  PreviewImage,
  SaveImage,
  VAEDecode,
} from "../generated/core.js";
import { encodePrompts, sample } from "./components/sampling.js";

const wf = workflow({ name: "hires-fix" });
const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
const conditioning = encodePrompts(
  wf,
  ckpt.CLIP,
  "a detailed city street at night, neon",
  "blurry",
);
const low = sample(
  wf,
  ckpt.MODEL,
  conditioning,
  wf.add(EmptyLatentImage, { width: 512, height: 512 }),
  {
    seed: 1234,
    title: "First pass",
  },
);
wf.add(
  PreviewImage,
  { images: wf.add(VAEDecode, { samples: low, vae: ckpt.VAE }) },
  { title: "Low-res preview" },
);
const upscaled = wf.add(LatentUpscaleBy, {
  samples: low,
  upscale_method: "nearest-exact",
  scale_by: 1.5,
});
const high = sample(wf, ckpt.MODEL, conditioning, upscaled, {
  seed: 1234,
  denoise: 0.5,
  steps: 15,
  title: "Hires pass",
});
wf.add(SaveImage, {
  images: wf.add(VAEDecode, { samples: high, vae: ckpt.VAE }),
  filename_prefix: "hires",
});

export default wf;
