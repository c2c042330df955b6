import { z } from "zod";

/** The JSON Schema `contentMediaType` that marks a workflow parameter as an uploaded image. */
export const IMAGE_MEDIA_TYPE = "image/*";

/**
 * A workflow parameter that names an image for an upload input (`LoadImage.image`): a string,
 * the file name in the instance's input folder, whose JSON Schema carries
 * `contentMediaType: "image/*"`. Bind it to the upload input as it is
 * (`wf.add(LoadImage, { image: p.image })`). `comfyc gateway` recognizes such parameters by
 * that keyword: a client sends the image as a multipart file part or an allow-listed URL, the
 * gateway stores it and passes the stored file's name.
 *
 * @example
 * const params = z.object({ image: imageParam().describe("The photo to invert") });
 * export default defineWorkflow({ name: "invert", params }, (wf, p) => {
 *   const photo = wf.add(LoadImage, { image: p.image });
 *   wf.add(SaveImage, { images: wf.add(ImageInvert, { image: photo.IMAGE }) });
 * });
 */
export function imageParam(): z.ZodString {
  return z.string().min(1).meta({ contentMediaType: IMAGE_MEDIA_TYPE });
}

/**
 * Names of the parameters of a parameter JSON Schema (`paramsJsonSchema()`) that are images:
 * those whose schema has a `contentMediaType` starting with `image/` ({@link imageParam}).
 */
export function imageParamNames(jsonSchema: Readonly<Record<string, unknown>>): string[] {
  const properties = (jsonSchema["properties"] ?? {}) as Record<string, unknown>;
  return Object.keys(properties).filter((name) => {
    const media = (properties[name] as { contentMediaType?: unknown } | null)?.contentMediaType;
    return typeof media === "string" && media.startsWith("image/");
  });
}
