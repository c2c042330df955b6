import { z } from "zod";
import { FileRefSchema } from "./messages.js";
import type { UiOutputKind } from "./ui-output-kinds.js";

export { UI_OUTPUT_KINDS, uiOutputKind, type UiOutputKind } from "./ui-output-kinds.js";

/** A file in a node's UI output; `client.read(file)` or `/view` fetches it. */
export interface UiFile {
  readonly filename: string;
  readonly subfolder: string;
  readonly type: string;
}

/** What `SaveImage`, `PreviewImage` and `MaskPreview` show after running. */
export interface UiImages {
  readonly images: readonly UiFile[];
}

/** What animated image and video savers show (`SaveAnimatedWEBP`, `SaveVideo`, …). */
export interface UiAnimated {
  readonly images: readonly UiFile[];
  /** One flag per entry of `images`, `true` for an animation or video. */
  readonly animated: readonly boolean[];
}

/** What audio savers and `PreviewAudio` show. */
export interface UiAudio {
  readonly audio: readonly UiFile[];
}

/** What `PreviewAny` shows: the value as text. */
export interface UiText {
  readonly text: readonly string[];
}

/** What `SaveLatent` shows: the `.latent` files. */
export interface UiLatents {
  readonly latents: readonly UiFile[];
}

/**
 * The schema of each kind, checked against the interfaces above (one definition: the builder's
 * typed handles and the runtime's reply checks share them). Extra keys are allowed, as servers
 * add fields over time.
 */
export const UiOutputSchemas = {
  UiImages: z.object({ images: z.array(FileRefSchema) }).loose() satisfies z.ZodType<UiImages>,
  UiAnimated: z
    .object({ images: z.array(FileRefSchema), animated: z.array(z.boolean()) })
    .loose() satisfies z.ZodType<UiAnimated>,
  UiAudio: z.object({ audio: z.array(FileRefSchema) }).loose() satisfies z.ZodType<UiAudio>,
  UiText: z.object({ text: z.array(z.string()) }).loose() satisfies z.ZodType<UiText>,
  UiLatents: z.object({ latents: z.array(FileRefSchema) }).loose() satisfies z.ZodType<UiLatents>,
} as const satisfies Record<UiOutputKind, z.ZodType>;
