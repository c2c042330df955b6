import { ComfycError } from "../errors.js";
import { describeNodeErrors, type NodeContext } from "../protocol/describe-errors.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";

/**
 * The server rejected the prompt: a 400, or a 200 whose `node_errors` is non-empty (some
 * outputs were dropped). Carries ComfyUI's body and, for builder graphs, where each node was
 * created.
 */
export class PromptRejectedError extends ComfycError {
  constructor(
    readonly error: ErrorObj | undefined,
    readonly nodeErrors: NodeErrors,
    readonly partial: boolean,
    context: (nodeId: string) => NodeContext | undefined = () => undefined,
    server = "the server",
  ) {
    super(
      "PROMPT_REJECTED",
      `${server} ${partial ? "accepted the prompt but dropped output node(s) that failed validation" : "rejected the prompt"}:\n` +
        describeNodeErrors({ error, node_errors: nodeErrors }, context)
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n"),
      nodeErrorsHint(error, nodeErrors),
    );
  }
}

function nodeErrorsHint(error: ErrorObj | undefined, nodeErrors: NodeErrors): string {
  if (error?.type === "missing_node_type" || error?.type === "invalid_prompt") {
    return "Install the missing custom node on the server, or regenerate with `comfyc codegen --url` against it.";
  }
  const values = Object.values(nodeErrors).some((n) =>
    n.errors.some((e) => e.type === "value_not_in_list"),
  );
  return values
    ? "Use values the server lists; rerun `comfyc codegen --url <server>` if its files changed."
    : "Fix the inputs named above.";
}

/** A node raised while executing. */
export class ExecutionFailedError extends ComfycError {
  constructor(
    readonly promptId: string,
    readonly nodeId: string | undefined,
    readonly nodeType: string | undefined,
    readonly exceptionType: string,
    readonly exceptionMessage: string,
    readonly traceback: readonly string[],
    context?: NodeContext,
  ) {
    super(
      "EXECUTION_FAILED",
      `Prompt ${promptId} failed at node "${nodeId ?? "?"}" (${nodeType ?? "?"}${context?.title ? ` "${context.title}"` : ""}${context?.source ? ` at ${context.source}` : ""}): ${exceptionType}: ${exceptionMessage.trim()}`,
      exceptionType.includes("OutOfMemory")
        ? "Lower the resolution or batch size, or free memory with client.free()."
        : undefined,
    );
  }
}

/** The prompt was interrupted (by us, another client, or the server). */
export class InterruptedError extends ComfycError {
  constructor(
    readonly promptId: string,
    readonly nodeId?: string,
  ) {
    super(
      "INTERRUPTED",
      `Prompt ${promptId} was interrupted${nodeId ? ` at node "${nodeId}"` : ""}`,
    );
  }
}

/** The job was cancelled with `job.cancel()`. */
export class CancelledError extends ComfycError {
  constructor(readonly promptId: string) {
    super("CANCELLED", `Prompt ${promptId} was cancelled`);
  }
}

/** The server no longer knows the prompt: it restarted (queue and history are in memory). */
export class JobLostError extends ComfycError {
  constructor(readonly promptId: string) {
    super(
      "JOB_LOST",
      `Prompt ${promptId} is neither queued, running nor in the history: the server lost it (it restarted, or someone deleted it from the queue)`,
      "Submit it again, or pass { resubmitOnLoss: true } to do so automatically.",
    );
  }
}

/** A job took too long in one phase. */
export class JobTimeoutError extends ComfycError {
  constructor(
    readonly promptId: string,
    readonly phase: "queue" | "run" | "stall",
    readonly ms: number,
  ) {
    super(
      "TIMEOUT",
      phase === "queue"
        ? `Prompt ${promptId} waited in the queue for more than ${ms} ms`
        : phase === "run"
          ? `Prompt ${promptId} ran for more than ${ms} ms`
          : `Prompt ${promptId} reported no progress for ${ms} ms`,
      "Raise the timeout in the job options, or check the server's load.",
    );
  }
}
