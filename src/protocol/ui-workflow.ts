import { z } from "zod";

/**
 * zod schemas for the editor's UI-format workflow (LiteGraph document), schema 0.4 and 1, as
 * `../shared/comfyui-workflow-format.md` §1–§2 describe it. Only what conversion reads is
 * checked; cosmetic fields (positions, colours, groups) pass through untouched, and cosmetic
 * fields of the wrong type never fail a document.
 */

const id = z.union([z.number(), z.string()]);
const linkId = z.number().nullish().catch(null);

/** One input socket of a node. */
export const UiInputSchema = z
  .object({
    name: z.string(),
    type: z.unknown().optional(),
    link: linkId,
    label: z.string().nullish().catch(undefined),
    widget: z.object({ name: z.string().optional() }).loose().nullish().catch(undefined),
  })
  .loose();
export type UiInput = z.infer<typeof UiInputSchema>;

/** One output socket of a node. */
export const UiOutputSchema = z
  .object({
    name: z.string().nullish().catch(undefined),
    type: z.unknown().optional(),
    links: z.array(z.number()).nullish().catch(null),
    widget: z.object({ name: z.string().optional() }).loose().nullish().catch(undefined),
  })
  .loose();
export type UiOutput = z.infer<typeof UiOutputSchema>;

/** One node (§2). */
export const UiNodeSchema = z
  .object({
    id,
    type: z.string(),
    mode: z.number().nullish().catch(0),
    title: z.string().nullish().catch(undefined),
    inputs: z.array(UiInputSchema).nullish(),
    outputs: z.array(UiOutputSchema).nullish(),
    widgets_values: z
      .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
      .nullish()
      .catch(undefined),
    properties: z.record(z.string(), z.unknown()).nullish().catch(undefined),
  })
  .loose();
export type UiNode = z.infer<typeof UiNodeSchema>;

/** A link as a 0.4 array `[id, origin_id, origin_slot, target_id, target_slot, type]`. */
export const UiArrayLinkSchema = z
  .tuple([z.number(), id, z.number(), id, z.number()])
  .rest(z.unknown());

/** A link as a version-1 object (also inside every subgraph definition). */
export const UiObjectLinkSchema = z
  .object({
    id: z.number(),
    origin_id: id,
    origin_slot: z.number(),
    target_id: id,
    target_slot: z.number(),
    type: z.unknown().optional(),
  })
  .loose();

/** Either link spelling; one document may hold both (§1.3). */
export const UiLinkSchema = z.union([UiArrayLinkSchema, UiObjectLinkSchema]);

/** An input or output of a subgraph definition (§5.4). */
export const UiSubgraphSlotSchema = z
  .object({
    name: z.string(),
    type: z.unknown().optional(),
    linkIds: z.array(z.number()).nullish().catch(undefined),
    label: z.string().nullish().catch(undefined),
  })
  .loose();

const graphShape = {
  nodes: z.array(UiNodeSchema),
  links: z.array(UiLinkSchema.nullable()).nullish(),
  extra: z.record(z.string(), z.unknown()).nullish().catch(undefined),
};

/** A subgraph definition: a version-1 graph body with boundary inputs and outputs. */
export const UiSubgraphSchema = z
  .object({
    id: z.string(),
    name: z.string().nullish().catch(undefined),
    ...graphShape,
    inputs: z.array(UiSubgraphSlotSchema).nullish(),
    outputs: z.array(UiSubgraphSlotSchema).nullish(),
    /** Definitions nested in a definition; checked one by one when collected. */
    definitions: z
      .object({ subgraphs: z.array(z.unknown()).nullish() })
      .loose()
      .nullish()
      .catch(undefined),
  })
  .loose();
export type UiSubgraph = z.infer<typeof UiSubgraphSchema>;

/** `definitions`: the subgraph definitions a graph uses, each checked with {@link UiSubgraphSchema}. */
export const UiDefinitionsSchema = z.object({ subgraphs: z.array(z.unknown()).nullish() }).loose();

/** A UI-format workflow document, schema 0.4 or 1 (§1.1, §1.2). */
export const UiWorkflowSchema = z
  .object({
    ...graphShape,
    version: z.unknown().optional(),
    last_node_id: z.unknown().optional(),
    state: z.object({ lastNodeId: z.number().optional() }).loose().nullish().catch(undefined),
    definitions: UiDefinitionsSchema.nullish(),
  })
  .loose();
export type UiWorkflow = z.infer<typeof UiWorkflowSchema>;
