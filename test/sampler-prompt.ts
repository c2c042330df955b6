/**
 * A sampler graph on the test server's stand-in checkpoint (`v1-5-pruned-emaonly.safetensors`):
 * KSampler (node "4") reports each of its `steps` as progress, and a preview per step when the
 * server sends previews; node "6" is `output`, fed by the decoded image (node "5").
 */
export function samplerPrompt(steps: number, output: (image: [string, number]) => unknown) {
  return {
    "1": {
      class_type: "CheckpointLoaderSimple",
      inputs: { ckpt_name: "v1-5-pruned-emaonly.safetensors" },
    },
    "2": { class_type: "CLIPTextEncode", inputs: { clip: ["1", 1], text: "x" } },
    "3": { class_type: "EmptyLatentImage", inputs: { width: 64, height: 64, batch_size: 1 } },
    "4": {
      class_type: "KSampler",
      inputs: {
        model: ["1", 0],
        positive: ["2", 0],
        negative: ["2", 0],
        latent_image: ["3", 0],
        seed: Math.floor(Math.random() * 1e9),
        steps,
        cfg: 7,
        sampler_name: "euler",
        scheduler: "normal",
        denoise: 1,
      },
    },
    "5": { class_type: "VAEDecode", inputs: { samples: ["4", 0], vae: ["1", 2] } },
    "6": output(["5", 0]),
  };
}
