/**
 * A LoRA stack built with the `loraStack` component. Model file lists differ per server, so the
 * checkpoint and LoRA names are parameters; compile() validates them against the schema you
 * pass (`comfyc compile … --param checkpoint=…`).
 */
import { defineWorkflow } from "comfyc";
import { z } from "zod";
import {
  CheckpointLoaderSimple,
  EmptyLatentImage,
  SaveImage,
  VAEDecode,
  type CheckpointLoaderSimpleInputs,
} from "../generated/core.js";
import { loraStack } from "./components/lora-stack.js";
import { encodePrompts, sample } from "./components/sampling.js";

export const params = z.object({
  checkpoint: z.string().default("v1-5-pruned-emaonly.safetensors"),
  loras: z.array(z.object({ name: z.string(), strength: z.number().min(-10).max(10) })).default([
    { name: "sample_lora.safetensors", strength: 0.8 },
    { name: "sample_lora.safetensors", strength: 0.3 },
  ]),
  prompt: z.string().default("portrait of an astronaut, studio lighting"),
});

export default defineWorkflow({ name: "lora-stack", params }, (wf, p) => {
  // The checkpoint is any string here; validation checks it against the server's list.
  const ckptName = p.checkpoint as CheckpointLoaderSimpleInputs["ckpt_name"];
  const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: ckptName });
  const patched = loraStack(wf, ckpt.MODEL, ckpt.CLIP, p.loras);
  const conditioning = encodePrompts(wf, patched.clip, p.prompt, "lowres");
  const latent = wf.add(EmptyLatentImage, {});
  const samples = sample(wf, patched.model, conditioning, latent, { seed: 5 });
  wf.add(SaveImage, {
    images: wf.add(VAEDecode, { samples, vae: ckpt.VAE }),
    filename_prefix: "lora",
  });
});
