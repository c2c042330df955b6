import { ComfycError, internalError, isComfycError } from "../errors.js";
import { formatRejection, nodeErrorsHint, type NodeContext } from "../protocol/describe-errors.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";
import type { CancelOutcome } from "./job.js";

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

/**
 * A cancel (`job.cancel()`, the submission's AbortSignal, Ctrl-C) that could not be delivered
 * within the client's cancel budget (`cancelTimeoutMs`): the server did not answer in time, or
 * answered with an error. The job was NOT cancelled as far as anyone knows: the prompt may still
 * be queued or running on the server, and may even have been queued by a submission whose reply
 * never came. comfyc stopped following it (the job ends `failed` with this error, code
 * `CANCEL_UNDELIVERED`, CLI exit 8). `reason` is why the cancel failed (`TIMEOUT` when the
 * budget ran out, else the request's own error).
 */
export class CancelUndeliveredError extends ComfycError {
  constructor(
    readonly promptId: string,
    /** The server's origin. */
    readonly server: string,
    readonly reason: ComfycError,
  ) {
    super(
      "CANCEL_UNDELIVERED",
      `Prompt ${promptId} was not cancelled: ${reason.message.split("\n")[0]}. It may still be queued or running on ${server}; comfyc stopped following it`,
      `Check the server once it answers: cancel the prompt there (POST /interrupt with its prompt_id, or POST /api/jobs/${promptId}/cancel on ComfyUI 0.26.0+), or follow it again with client.attach("${promptId}").`,
      { cause: reason },
    );
  }
}

/**
 * `client.close()` ended a job that was still in flight (code `USAGE`, CLI exit 2): the client
 * stopped following it, but the prompt may still be queued or running on the server. Before,
 * such a job's `result()` never settled.
 */
export class ClientClosedError extends ComfycError {
  constructor(
    readonly promptId: string,
    /** The server's origin. */
    readonly server: string,
  ) {
    super(
      "USAGE",
      `The client was closed while prompt ${promptId} was in flight; it may still be queued or running on ${server}, and comfyc stopped following it`,
      `Await job.result() (or job.cancel()) before client.close(); follow the prompt again with client.attach("${promptId}") on a new client.`,
    );
  }
}

/** The budget of one cancel (`cancelTimeoutMs`, on our clock): its signal aborts every request of it. */
export interface CancelDeadline {
  readonly signal: AbortSignal;
  readonly ms: number;
}

/** A new cancel budget of `ms` milliseconds, starting now. */
export function cancelDeadline(ms: number): CancelDeadline {
  return { ms, signal: AbortSignal.timeout(ms) };
}

/**
 * For a cancel asked while the job's submit request is in flight: if `deadline` passes before
 * the reply settled the cancel (`job.settleEarlyCancel` still set), the cancel is reported
 * undelivered (a `TIMEOUT` naming `what`, see {@link cancelFailure}) and `end` ends the job with
 * that error. Shared by the classic tracker and the Comfy API v2 client.
 */
export function undeliveredAtDeadline(
  job: { settleEarlyCancel: ((outcome: CancelOutcome) => void) | undefined },
  deadline: CancelDeadline,
  server: string,
  what: string,
  end: (error: ComfycError) => void,
): void {
  deadline.signal.addEventListener(
    "abort",
    () => {
      const settle = job.settleEarlyCancel;
      if (!settle) return;
      job.settleEarlyCancel = undefined;
      const error = cancelFailure(undefined, deadline, server, what);
      settle({ state: "undelivered", error });
      end(error);
    },
    { once: true },
  );
}

/**
 * Why a cancel was not delivered: `TIMEOUT` when the budget (`deadline`) ran out before the
 * server answered (the request itself then reports only that it was aborted), else the request's
 * own error.
 */
export function cancelFailure(
  cause: unknown,
  deadline: CancelDeadline,
  server: string,
  what: string,
): ComfycError {
  if (deadline.signal.aborted)
    return new ComfycError(
      "TIMEOUT",
      `${server} did not answer ${what} within the cancel budget of ${deadline.ms} ms`,
      "The server may be frozen or overloaded; raise cancelTimeoutMs to give a cancel more time.",
      { cause },
    );
  return isComfycError(cause) ? cause : internalError(cause, what);
}

/** The server no longer knows the prompt: it restarted (queue and history are in memory). */
export class JobLostError extends ComfycError {
  /**
   * @param api which job API lost it: Comfy API v2 (`"v2"`: the job is unknown or `expired`)
   * has no `resubmitOnLoss`, so the hint does not offer it.
   */
  constructor(
    readonly promptId: string,
    api: "classic" | "v2" = "classic",
  ) {
    super(
      "JOB_LOST",
      api === "v2"
        ? `Job ${promptId} is unknown to the server or expired: the server lost it`
        : `Prompt ${promptId} is neither queued, running nor in the history: the server lost it (it restarted, or someone deleted it from the queue)`,
      api === "v2"
        ? "Submit it again (Comfy API v2 jobs are not resubmitted automatically)."
        : "Submit it again, or pass { resubmitOnLoss: true } to do so automatically.",
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
