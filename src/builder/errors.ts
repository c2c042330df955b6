import { ComfycError } from "../errors.js";
import { describeNodeErrors, type NodeContext } from "../protocol/describe-errors.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";

/**
 * A prompt that fails validation, locally or on a server: the ComfyUI-shaped body (`error`,
 * `node_errors`) plus what we know about each node (title, source location). One error lists
 * every problem.
 */
export class PromptInvalidError extends ComfycError {
  constructor(
    readonly error: ErrorObj | undefined,
    readonly nodeErrors: NodeErrors,
    context: (nodeId: string) => NodeContext | undefined = () => undefined,
    readonly where = "offline validation",
  ) {
    super(
      "PROMPT_INVALID",
      `The prompt fails ${where}:\n${indent(describeNodeErrors({ error, node_errors: nodeErrors }, context))}`,
      hintFor(error, nodeErrors),
    );
  }
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

/** The advice that fits the errors: model lists drift, types need codegen, and so on. */
export function hintFor(error: ErrorObj | undefined, nodeErrors: NodeErrors): string {
  const types = new Set(Object.values(nodeErrors).flatMap((n) => n.errors.map((e) => e.type)));
  if (error?.type === "missing_node_type" || error?.type === "invalid_prompt") {
    return "Install the missing custom node on the server, or regenerate with `comfyc codegen` against it.";
  }
  if (error?.type === "prompt_no_outputs")
    return "Add an output node such as SaveImage or PreviewImage.";
  if (types.has("value_not_in_list")) {
    return "Use a value the server lists; if its files changed, rerun `comfyc codegen` against it (or use --loose-combos).";
  }
  return "Fix the inputs named above.";
}

/** Bad workflow parameters, every one listed. */
export class ParamsInvalidError extends ComfycError {
  constructor(readonly issues: readonly { path: string; message: string }[]) {
    super(
      "PARAMS_INVALID",
      `Invalid workflow parameters:\n${issues.map((i) => `  ${i.path || "(params)"}: ${i.message}`).join("\n")}`,
      "Pass every required parameter with a valid value (comfyc: --param name=value).",
    );
  }
}
