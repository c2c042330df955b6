import { z } from "zod";
import { FileRefSchema } from "./messages.js";

/**
 * What the core output nodes show after running (their UI output, in `executed` and history).
 * `/object_info` does not describe UI outputs; this table is read from ComfyUI's node code.
 * Codegen types the generated handles with it, and the runtime checks replies against it.
 */
export const UI_OUTPUT_KINDS = {
  SaveImage: "UiImages",
  PreviewImage: "UiImages",
  MaskPreview: "UiImages",
  SaveAnimatedWEBP: "UiAnimated",
  SaveAnimatedPNG: "UiAnimated",
  SaveVideo: "UiAnimated",
  SaveWEBM: "UiAnimated",
  SaveAudio: "UiAudio",
  SaveAudioMP3: "UiAudio",
  SaveAudioOpus: "UiAudio",
  PreviewAudio: "UiAudio",
  PreviewAny: "UiText",
  SaveLatent: "UiLatents",
} as const satisfies Record<string, string>;

export type UiOutputKind = (typeof UI_OUTPUT_KINDS)[keyof typeof UI_OUTPUT_KINDS];

/** The shape of each kind; extra keys are allowed, as servers add fields over time. */
export const UiOutputSchemas: Record<UiOutputKind, z.ZodType> = {
  UiImages: z.object({ images: z.array(FileRefSchema) }).loose(),
  UiAnimated: z.object({ images: z.array(FileRefSchema), animated: z.array(z.boolean()) }).loose(),
  UiAudio: z.object({ audio: z.array(FileRefSchema) }).loose(),
  UiText: z.object({ text: z.array(z.string()) }).loose(),
  UiLatents: z.object({ latents: z.array(FileRefSchema) }).loose(),
};

/** The UI output kind of a core output node class, if known. */
export function uiOutputKind(classType: string): UiOutputKind | undefined {
  return Object.hasOwn(UI_OUTPUT_KINDS, classType)
    ? UI_OUTPUT_KINDS[classType as keyof typeof UI_OUTPUT_KINDS]
    : undefined;
}
