/**
 * What the core output nodes show after running (their UI output, in `executed` and history).
 * `/object_info` does not describe UI outputs; this table is read from ComfyUI's node code.
 * Codegen types the generated handles with it, and the runtime checks replies against it. A
 * module of its own, without zod, so codegen does not load the reply schemas.
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

/** The UI output kind of a core output node class, if known. */
export function uiOutputKind(classType: string): UiOutputKind | undefined {
  return Object.hasOwn(UI_OUTPUT_KINDS, classType)
    ? UI_OUTPUT_KINDS[classType as keyof typeof UI_OUTPUT_KINDS]
    : undefined;
}
