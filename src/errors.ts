/**
 * Stable error codes. Tests and callers branch on `code`, never on message text; the CLI maps
 * each code to an exit code.
 */
export type ErrorCode =
  | "OBJECT_INFO_INVALID"
  | "UNKNOWN_NODE_CLASS"
  | "INVALID_GRAPH"
  | "PROMPT_INVALID"
  | "PARAMS_INVALID"
  | "WORKFLOW_INVALID"
  | "PROMPT_REJECTED"
  | "EXECUTION_FAILED"
  | "INTERRUPTED"
  | "CANCELLED"
  | "JOB_LOST"
  | "TIMEOUT"
  | "SERVER_UNREACHABLE"
  | "SERVER_ERROR"
  | "AUTH_FAILED"
  | "BAD_SERVER_REPLY"
  | "UNSAFE_PATH"
  | "NOT_FOUND"
  | "CODEGEN_DRIFT"
  | "IO_ERROR"
  | "USAGE";

/**
 * Base class of every error comfyc throws: a stable `code`, a message that says what happened
 * and where, and an optional `hint` saying what to do about it.
 *
 * @example
 * try { wf.compile(); } catch (e) { if (isComfycError(e) && e.code === "PROMPT_INVALID") … }
 */
export class ComfycError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(hint ? `${message}\n  → ${hint}` : message, options);
    this.name = new.target.name;
  }
}

/** The `IO_ERROR` for a local file that could not be read. */
export function ioError(path: string, cause: unknown): ComfycError {
  return new ComfycError(
    "IO_ERROR",
    `Cannot read ${path}: ${(cause as Error)?.message ?? String(cause)}`,
    undefined,
    { cause },
  );
}

/** True when `e` is any comfyc error, optionally with the given code. */
export function isComfycError(e: unknown, code?: ErrorCode): e is ComfycError {
  return e instanceof ComfycError && (code === undefined || e.code === code);
}

/** A JSON path such as `KSampler.input.required.seed[1].max`, built from zod-style path parts. */
export function formatJsonPath(parts: readonly PropertyKey[]): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else {
      const s = String(p);
      out += /^[A-Za-z_$][\w$]*$/.test(s) ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** Short, single-line rendering of an untrusted value for error messages. */
export function describeValue(value: unknown, max = 80): string {
  let s: string;
  if (typeof value === "bigint") s = `${value}n`;
  else if (value === undefined) s = "undefined";
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  s = s.replace(/\s+/g, " ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
