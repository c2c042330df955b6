/**
 * A zero-work workflow for `bench/gateway.ts`: PrimitiveInt → PreviewAny. The `value`
 * parameter changes the prompt, so ComfyUI's cache never answers for it.
 */
import { defineWorkflow } from "comfyc";
import { z } from "zod";
import { PreviewAny, PrimitiveInt } from "../../generated/core.js";

export default defineWorkflow(
  { name: "zero", params: z.object({ value: z.number().int().default(0) }) },
  (wf, p) => {
    wf.add(PreviewAny, { source: wf.add(PrimitiveInt, { value: p.value }) });
  },
);
