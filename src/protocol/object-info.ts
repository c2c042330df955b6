import { z } from "zod";
import { isComboValue, isJsonObject, isWellFormedNodeInfo } from "./object-info-fast.js";

export { isComboList, isInputSpec, isWellFormedNodeInfo } from "./object-info-fast.js";

/**
 * zod schemas for `GET /object_info` (protocol §9). They accept every spelling real servers and
 * custom nodes produce (2024 to 2026): legacy list combos and `"COMBO"` with `options`, numeric
 * and boolean combo values, one-, two- and three-element specs, hidden specs as strings or
 * arrays, `display_name: null`, V3 flags and unknown fields. Cosmetic fields of the wrong type
 * are dropped rather than failing the node; structural ones (inputs, outputs) fail it.
 */

/**
 * A value a combo can offer: ComfyUI lists strings, but also ints, floats and booleans (finite
 * numbers, as `z.number()` takes). One check instead of a three-way union: combo lists of
 * thousands of files are the bulk of a big schema.
 */
export const ComboValueSchema = z.custom<string | number | boolean>(isComboValue, {
  error: "Invalid input",
});
export type ComboValue = z.infer<typeof ComboValueSchema>;

/** The first element of an input spec: a type name, or the list of a legacy combo. */
export const InputTypeSchema = z.union([z.string(), z.array(ComboValueSchema)]);

/**
 * A JSON object with any values: what `z.record(z.string(), z.unknown())` accepts of parsed
 * JSON, checked without copying it key by key (that copy of every input's options was the
 * largest cost of reading a big schema). The message is the record's.
 */
const JsonObjectSchema = z.custom<Record<string, unknown>>(isJsonObject, {
  error: (issue) => `Invalid input: expected record, received ${kindOf(issue.input)}`,
});

function kindOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** Options of an input spec: free-form, custom nodes add their own keys. */
export const InputOptionsSchema = JsonObjectSchema;
export type InputOptions = z.infer<typeof InputOptionsSchema>;

/** `[TYPE]`, `[TYPE, OPTIONS]`, or (seen in the wild) extra trailing elements, which are ignored. */
export const InputSpecSchema = z
  .tuple([InputTypeSchema, InputOptionsSchema.optional()])
  .rest(z.unknown());
export type InputSpec = z.infer<typeof InputSpecSchema>;

const section = z.record(z.string(), InputSpecSchema).nullish();

const cosmeticString = z.string().nullish().catch(undefined);
const cosmeticFlag = z.boolean().nullish().catch(undefined);

/** One entry of `/object_info`. */
export const NodeInfoSchema = z
  .object({
    input: z
      .object({
        required: section,
        optional: section,
        hidden: JsonObjectSchema.nullish(),
      })
      .loose(),
    input_order: z.record(z.string(), z.array(z.string())).nullish().catch(undefined),
    output: z.array(InputTypeSchema),
    output_is_list: z.array(z.boolean().nullable()).nullish(),
    output_name: z.array(z.string().nullable()).nullish(),
    output_tooltips: z.array(z.string().nullable()).nullish().catch(undefined),
    output_matchtypes: z.array(z.string().nullable()).nullish().catch(undefined),
    name: z.string().nullish(),
    display_name: cosmeticString,
    description: cosmeticString,
    python_module: cosmeticString,
    category: cosmeticString,
    output_node: z.boolean().nullish(),
    deprecated: cosmeticFlag,
    experimental: cosmeticFlag,
    api_node: cosmeticFlag,
    dev_only: cosmeticFlag,
    has_intermediate_output: cosmeticFlag,
    is_input_list: cosmeticFlag,
    search_aliases: z.array(z.string()).nullish().catch(undefined),
    essentials_category: cosmeticString,
  })
  .loose();
export type NodeInfo = z.infer<typeof NodeInfoSchema>;

/** The whole `/object_info` reply: class_type → NodeInfo (each entry parsed on its own). */
export const ObjectInfoSchema = z.record(z.string(), z.unknown());
export type ObjectInfo = Record<string, NodeInfo>;

/** `NodeInfoSchema.safeParse(v)`, without zod's copy for a node info that is well formed. */
export function safeParseNodeInfo(v: unknown): z.ZodSafeParseResult<NodeInfo> {
  return isWellFormedNodeInfo(v) ? { success: true, data: v } : NodeInfoSchema.safeParse(v);
}
