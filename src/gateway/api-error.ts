import { z } from "zod";

/**
 * The body of every error response, on the `/v1` routes and the Comfy API v2 routes alike
 * (v2's `ErrorEnvelope`): a machine-readable `code`, a message safe to show, optional details,
 * and the request id to quote when reporting it. Never a stack trace.
 */
export const ErrorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: "invalid_request" }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).nullable().optional(),
      request_id: z.string().optional(),
    }),
  })
  .meta({ id: "ErrorEnvelope" });
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** One problem with a request: where (`params.steps`) and what. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/**
 * An error answered as an HTTP response. Thrown by handlers and hooks; the gateway's error
 * handler turns it into an {@link ErrorEnvelope} with this status and headers.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** 422 listing every problem of a request body. */
export function invalidRequest(problems: readonly Problem[], code = "invalid_request"): ApiError {
  const summary = problems
    .slice(0, 3)
    .map((p) => `${p.path || "(body)"}: ${p.message}`)
    .join("; ");
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : "";
  return new ApiError(422, code, `The request is invalid: ${summary}${more}`, {
    issues: problems.map((p) => ({ path: p.path, message: p.message })),
  });
}

/** A dotted path (`params.loras.0.name`) from zod issue path parts. */
export function issuePath(parts: readonly PropertyKey[]): string {
  return parts.map((p) => String(p)).join(".");
}
