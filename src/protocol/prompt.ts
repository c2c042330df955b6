import { z } from "zod";

/**
 * Wire shapes of prompts and of ComfyUI's `/prompt` replies (protocol §2.1, §4, §5.5).
 */

/** One node of an API-format prompt as it arrives from a file or a client. */
export const PromptNodeSchema = z
  .object({
    class_type: z.unknown().optional(),
    inputs: z.record(z.string(), z.unknown()).optional(),
    _meta: z.object({ title: z.unknown().optional() }).loose().optional(),
  })
  .loose();

/** An API-format prompt: node id → node. Values are checked by the validator, not here. */
export const ApiPromptSchema = z.record(z.string(), z.unknown());

/** `{type, message, details, extra_info}`: one error as ComfyUI reports it. */
export const ErrorObjSchema = z
  .object({
    type: z.string().catch("unknown_error"),
    message: z.string().catch(""),
    details: z.string().catch(""),
    extra_info: z.record(z.string(), z.unknown()).catch({}),
  })
  .loose();
export type ErrorObj = {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
};

/** Errors of one node, keyed by node id in `node_errors`. */
export const NodeErrorSchema = z
  .object({
    errors: z.array(ErrorObjSchema).catch([]),
    dependent_outputs: z.array(z.string()).catch([]),
    class_type: z.string().catch(""),
  })
  .loose();
export type NodeError = { errors: ErrorObj[]; dependent_outputs: string[]; class_type: string };
export type NodeErrors = Record<string, NodeError>;

/** The 400 body of `POST /prompt`. */
export const PromptErrorBodySchema = z.object({
  error: z.union([ErrorObjSchema, z.string()]),
  node_errors: z.record(z.string(), NodeErrorSchema).catch({}),
});
export type PromptErrorBody = { error: ErrorObj; node_errors: NodeErrors };

/** The 200 body of `POST /prompt`. */
export const PromptAcceptedBodySchema = z.object({
  prompt_id: z.string(),
  number: z.number(),
  node_errors: z.record(z.string(), NodeErrorSchema).catch({}),
});
export type PromptAcceptedBody = z.infer<typeof PromptAcceptedBodySchema>;
