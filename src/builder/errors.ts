import { ComfycError } from "../errors.js";
import { formatRejection, nodeErrorsHint, type NodeContext } from "../protocol/describe-errors.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";

/**
 * A prompt that fails validation, offline (the builder, `comfyc validate`): the ComfyUI-shaped
 * body (`error`, `node_errors`) plus what we know about each node (title, source location). One
 * error lists every problem, formatted like a server's rejection.
 */
export class PromptInvalidError extends ComfycError {
  constructor(
    readonly error: ErrorObj | undefined,
    readonly nodeErrors: NodeErrors,
    context: (nodeId: string) => NodeContext | undefined = () => undefined,
    readonly where = "offline validation",
    /** Output nodes ComfyUI would drop while accepting the rest (validation's partial result). */
    readonly dropped: readonly string[] = [],
  ) {
    super(
      "PROMPT_INVALID",
      formatRejection(
        `The prompt fails ${where}`,
        { error, node_errors: nodeErrors },
        { context, dropped },
      ),
      nodeErrorsHint(error, nodeErrors),
    );
  }
}

/**
 * A graph the builder cannot compile: a wrong value, a missing link, a bad id. `nodeId`,
 * `classType` and `input` say where, when the problem belongs to one node or input.
 */
export class GraphError extends ComfycError {
  readonly nodeId: string | undefined;
  readonly classType: string | undefined;
  readonly input: string | undefined;

  constructor(
    message: string,
    hint: string,
    where: { nodeId?: string; classType?: string; input?: string } = {},
  ) {
    const at =
      where.nodeId !== undefined
        ? `Node "${where.nodeId}"${where.classType ? ` (${where.classType})` : ""}: `
        : "";
    super("INVALID_GRAPH", `${at}${message}`, hint);
    this.nodeId = where.nodeId;
    this.classType = where.classType;
    this.input = where.input;
  }
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
