/**
 * An image in, an image out: the photo given as the `image` parameter, inverted. Served by
 * `comfyc gateway --workflows examples`, `image` is an image parameter (`imageParam()`): clients
 * send it as a multipart file part or as a URL under `--allow-url-prefix`, the gateway stores it
 * and the worker uploads it to its ComfyUI. Without it, the server's `input/example.png` is used
 * (`comfyc run examples/invert-image.ts`; `--param image=photo.png` names a file already in the
 * server's input folder).
 */
import { defineWorkflow, imageParam } from "comfyc";
import { z } from "zod";
import { ImageInvert, LoadImage, SaveImage } from "../generated/core.js";

export const params = z.object({
  image: imageParam().default("example.png").describe("The photo to invert"),
  prefix: z.string().default("invert-image"),
});

export default defineWorkflow(
  { name: "invert-image", description: "Inverts the photo it is given", params },
  (wf, p) => {
    const photo = wf.add(LoadImage, { image: p.image }, { title: "Photo" });
    wf.add(SaveImage, {
      images: wf.add(ImageInvert, { image: photo.IMAGE }),
      filename_prefix: p.prefix,
    });
  },
);
