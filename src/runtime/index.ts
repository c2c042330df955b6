/** `comfyc/runtime`: submit compiled graphs to ComfyUI, follow them, collect their outputs. */
export { ComfyClient } from "./client.js";
export type { ClientOptions, RunOptions, Submittable } from "./client.js";
export {
  CancelledError,
  CancelUndeliveredError,
  ClientClosedError,
  ExecutionFailedError,
  InterruptedError,
  JobLostError,
  JobTimeoutError,
  PromptRejectedError,
  ServerGoneError,
} from "./errors.js";
export { filesOf, safeOutputPath } from "./files.js";
export type { OutputFile, OutputKind } from "./files.js";
export {
  DEFAULT_REPLY_LIMITS,
  Http,
  HttpError,
  isTransient,
  ReplyTooLargeError,
  ServerStatusError,
} from "./http.js";
export type {
  ClientAuth,
  HttpOptions,
  HttpRequest,
  RawResponse,
  ReplyLimits,
  RetryOptions,
} from "./http.js";
export type {
  CancelOutcome,
  Job,
  JobEvent,
  JobLogLine,
  JobResult,
  JobStatus,
  JobTimeouts,
  UiOutputOf,
} from "./job.js";
export { parseObjectInfoReply, Routes } from "./routes.js";
export type { PromptReply, RouteOptions } from "./routes.js";
export { DEFAULT_CANCEL_TIMEOUT_MS, DEFAULT_UNREACHABLE_TIMEOUT_MS } from "./tracker.js";
export type { AttachOptions, SubmitOptions } from "./tracker.js";
export type { FileRef, HistoryEntry, NodeOutput, SystemStats } from "../protocol/messages.js";
export {
  JobsCancelReplySchema,
  ServerJobDetailSchema,
  ServerJobSchema,
  ServerJobsPageSchema,
} from "../protocol/jobs.js";
export type {
  ServerJob,
  ServerJobDetail,
  ServerJobsPage,
  ServerJobStatus,
} from "../protocol/jobs.js";
