import type { Output, Workflow } from "comfyc";
import { LoraLoader } from "../../generated/core.js";

/** One LoRA of a stack. */
export interface LoraSpec {
  readonly name: string;
  readonly strength: number;
  /** Strength on the text encoder (default: `strength`). */
  readonly clipStrength?: number;
}

/**
 * Applies LoRAs one after another to a model and its CLIP, returning the patched pair. Plain
 * function in, typed outputs out: a reusable component.
 */
export function loraStack(
  wf: Workflow,
  model: Output<"MODEL">,
  clip: Output<"CLIP">,
  loras: readonly LoraSpec[],
): { model: Output<"MODEL">; clip: Output<"CLIP"> } {
  let current = { model, clip };
  for (const lora of loras) {
    const node = wf.add(
      LoraLoader,
      {
        model: current.model,
        clip: current.clip,
        lora_name: lora.name,
        strength_model: lora.strength,
        strength_clip: lora.clipStrength ?? lora.strength,
      },
      { title: `LoRA ${lora.name}` },
    );
    current = { model: node.MODEL, clip: node.CLIP };
  }
  return current;
}
