/**
 * Image-to-image from a loaded image: encode it, sample with denoise < 1, decode. With
 * `comfyc run`, a local file can be given for the LoadImage input (it is uploaded first).
 */
import { workflow } from "comfyc";
import {
  CheckpointLoaderSimple,
  LoadImage,
  SaveImage,
  VAEDecode,
  VAEEncode,
} from "../generated/core.js";
import { encodePrompts, sample } from "./components/sampling.js";

const wf = workflow({ name: "img2img" });
const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
const source = wf.add(LoadImage, { image: "example.png" }, { title: "Source image" });
const latent = wf.add(VAEEncode, { pixels: source.IMAGE, vae: ckpt.VAE });
const conditioning = encodePrompts(wf, ckpt.CLIP, "the same scene in watercolor", "photo");
const samples = sample(wf, ckpt.MODEL, conditioning, latent, { denoise: 0.6, seed: 7 });
wf.add(SaveImage, {
  images: wf.add(VAEDecode, { samples, vae: ckpt.VAE }),
  filename_prefix: "img2img",
});

export default wf;
