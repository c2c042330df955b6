/** `comfyc/runtime`: submit compiled graphs to ComfyUI, follow them, collect their outputs. */
export { ComfyClient } from "./client.js";
export type { AttachOptions, ClientOptions, SubmitOptions } from "./client.js";
export {
  CancelledError,
  ExecutionFailedError,
  InterruptedError,
  JobLostError,
  JobTimeoutError,
  PromptRejectedError,
} from "./errors.js";
export { Http, isTransient, ServerStatusError } from "./http.js";
export type { ClientAuth, HttpOptions, RetryOptions } from "./http.js";
export { Job } from "./job.js";
export type { JobEvent, JobLogLine, JobResult, JobStatus, JobTimeouts, UiOutputOf } from "./job.js";
export { filesOf, safeOutputPath } from "./outputs.js";
export type { OutputFile, OutputKind } from "./outputs.js";
export type { FileRef, HistoryEntry, NodeOutput, SystemStats } from "../protocol/messages.js";
