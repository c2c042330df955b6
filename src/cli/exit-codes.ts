import type { ErrorCode } from "../errors.js";

/** Exit codes scripts can rely on; documented in the README. */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  INVALID_GRAPH: 1,
  PROMPT_INVALID: 1,
  PROMPT_REJECTED: 1,
  UNKNOWN_NODE_CLASS: 1,
  CODEGEN_DRIFT: 1,
  NO_CAPABLE_SERVER: 1,
  USAGE: 2,
  PARAMS_INVALID: 2,
  OBJECT_INFO_INVALID: 3,
  WORKFLOW_INVALID: 3,
  IO_ERROR: 3,
  NOT_FOUND: 3,
  JOB_DATA_INVALID: 3,
  EXECUTION_FAILED: 4,
  INTERRUPTED: 5,
  CANCELLED: 5,
  JOB_LOST: 6,
  TIMEOUT: 7,
  SERVER_UNREACHABLE: 8,
  SERVER_GONE: 8,
  SERVER_ERROR: 8,
  BAD_SERVER_REPLY: 8,
  CANCEL_UNDELIVERED: 8,
  AUTH_FAILED: 9,
  UNSAFE_PATH: 10,
  MISSING_PACKAGE: 11,
  INTERNAL: 70,
};

/** Exit code for errors that are not comfyc errors (bugs). */
export const EXIT_INTERNAL = 70;
