/**
 * SDXL base + refiner: the base model denoises the first 80% of the steps and hands its
 * leftover noise to the refiner (two KSamplerAdvanced passes). On a real install set
 * `refinerCheckpoint` to sd_xl_refiner_1.0.safetensors.
 */
import { workflow } from "comfyc";
import {
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyLatentImage,
  KSamplerAdvanced,
  SaveImage,
  VAEDecode,
} from "../generated/core.js";

const steps = 25;
const handOff = 20;
const wf = workflow({ name: "sdxl-refiner" });

const base = wf.add(
  CheckpointLoaderSimple,
  { ckpt_name: "sd_xl_base_1.0.safetensors" },
  { title: "SDXL base" },
);
const refiner = wf.add(
  CheckpointLoaderSimple,
  { ckpt_name: "sd_xl_base_1.0.safetensors" },
  { title: "SDXL refiner" },
);
const text = "a glass greenhouse in a snowy forest, volumetric light";
const negative = "text, watermark";

const latent = wf.add(EmptyLatentImage, { width: 1024, height: 1024 });
const basePass = wf.add(
  KSamplerAdvanced,
  {
    model: base.MODEL,
    positive: wf.add(CLIPTextEncode, { clip: base.CLIP, text }),
    negative: wf.add(CLIPTextEncode, { clip: base.CLIP, text: negative }),
    latent_image: latent,
    add_noise: "enable",
    noise_seed: 123456789n,
    steps,
    cfg: 8,
    sampler_name: "dpmpp_2m",
    scheduler: "karras",
    start_at_step: 0,
    end_at_step: handOff,
    return_with_leftover_noise: "enable",
  },
  { title: "Base pass" },
);
const refinerPass = wf.add(
  KSamplerAdvanced,
  {
    model: refiner.MODEL,
    positive: wf.add(CLIPTextEncode, { clip: refiner.CLIP, text }),
    negative: wf.add(CLIPTextEncode, { clip: refiner.CLIP, text: negative }),
    latent_image: basePass,
    add_noise: "disable",
    noise_seed: 0,
    steps,
    cfg: 8,
    sampler_name: "dpmpp_2m",
    scheduler: "karras",
    start_at_step: handOff,
    end_at_step: 10000,
    return_with_leftover_noise: "disable",
  },
  { title: "Refiner pass" },
);
wf.add(SaveImage, {
  images: wf.add(VAEDecode, { samples: refinerPass, vae: refiner.VAE }),
  filename_prefix: "sdxl/refined",
});

export default wf;
