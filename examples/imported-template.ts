/**
 * Imported by comfyc from ui_tpl_default.json (editor workflow, 7 nodes).
 * Node ids and titles are the workflow's; edit freely.
 */
import { defineWorkflow } from "comfyc";
import { z } from "zod";
import {
  CLIPTextEncode,
  CheckpointLoaderSimple,
  EmptyLatentImage,
  KSampler,
  SaveImage,
  VAEDecode,
} from "../generated/core.js";

export const params = z.object({
  prompt: z
    .string()
    .default("beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"),
  negative: z.string().default("text, watermark"),
  seed: z.number().int().min(0).default(156680208700286),
  steps: z.number().int().min(1).max(10000).default(20),
});

export default defineWorkflow({ name: "default-template", params }, (wf, p) => {
  const loadCheckpoint = wf.add(
    CheckpointLoaderSimple,
    { ckpt_name: "v1-5-pruned-emaonly-fp16.safetensors" },
    { id: "4" },
  );
  const emptyLatentImage = wf.add(
    EmptyLatentImage,
    { width: 512, height: 512, batch_size: 1 },
    { id: "5" },
  );
  const clipTextEncodePrompt = wf.add(
    CLIPTextEncode,
    { text: p.prompt, clip: loadCheckpoint.CLIP },
    { id: "6" },
  );
  const clipTextEncodePrompt2 = wf.add(
    CLIPTextEncode,
    { text: p.negative, clip: loadCheckpoint.CLIP },
    { id: "7" },
  );
  const kSampler = wf.add(
    KSampler,
    {
      model: loadCheckpoint.MODEL,
      seed: p.seed,
      steps: p.steps,
      cfg: 8,
      sampler_name: "euler",
      scheduler: "normal",
      positive: clipTextEncodePrompt.CONDITIONING,
      negative: clipTextEncodePrompt2.CONDITIONING,
      latent_image: emptyLatentImage.LATENT,
      denoise: 1,
    },
    { id: "3" },
  );
  const vaeDecode = wf.add(
    VAEDecode,
    { samples: kSampler.LATENT, vae: loadCheckpoint.VAE },
    { id: "8" },
  );
  wf.add(SaveImage, { images: vaeDecode.IMAGE, filename_prefix: "ComfyUI" }, { id: "9" });
});
