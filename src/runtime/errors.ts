import { ComfycError } from "../errors.js";
import { formatRejection, nodeErrorsHint, type NodeContext } from "../protocol/describe-errors.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";

/**
 * The server rejected the prompt: a 400, or a 200 whose `node_errors` is non-empty (some
 * outputs were dropped). Carries ComfyUI's body and, for builder graphs, where each node was
 * created. Formatted like offline validation errors (one formatter, one hint).
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
      formatRejection(
        partial
          ? `${server} accepted the prompt but dropped output node(s) that failed validation`
          : `${server} rejected the prompt`,
        { error, node_errors: nodeErrors },
        { context },
      ),
      nodeErrorsHint(error, nodeErrors),
    );
  }
}

/** A node raised while executing (`execution_error`, or an error entry in history). */
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
        : "The node raised on the server: check its inputs, and the server's log for the full traceback (error.traceback).",
    );
  }
}

/** The prompt was interrupted (by another client, or the server). */
export class InterruptedError extends ComfycError {
  constructor(
    readonly promptId: string,
    readonly nodeId?: string,
  ) {
    super(
      "INTERRUPTED",
      `Prompt ${promptId} was interrupted${nodeId ? ` at node "${nodeId}"` : ""}`,
      "Someone (another client, or the server) interrupted it; submit it again to rerun it.",
    );
  }
}

/** The job was cancelled (`job.cancel()`, an AbortSignal, Ctrl-C). */
export class CancelledError extends ComfycError {
  constructor(readonly promptId: string) {
    super("CANCELLED", `Prompt ${promptId} was cancelled`, "Submit it again to rerun it.");
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

/** A job took too long in one phase, measured on our clock. */
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
      phase === "stall"
        ? "Raise timeouts.stallMs in the job options, or check that the server is still working."
        : `Raise the limit (\`comfyc run --timeout <ms>\`, or timeouts.${phase}Ms in the job options), or check the server's load.`,
    );
  }
}

/**
 * The server stopped answering while the job was in flight, and did not come back within
 * `unreachableTimeoutMs`: no HTTP reply and no WebSocket message for that long.
 */
export class ServerGoneError extends ComfycError {
  constructor(
    readonly promptId: string,
    readonly server: string,
    readonly silentMs: number,
    cause?: unknown,
  ) {
    super(
      "SERVER_GONE",
      `${server} has not answered for ${Math.round(silentMs / 1000)} s while prompt ${promptId} was in flight; giving up on it`,
      "Check that ComfyUI is still running; raise unreachableTimeoutMs (comfyc run --unreachable-timeout) to wait longer for a restart.",
      cause === undefined ? undefined : { cause },
    );
  }
}
