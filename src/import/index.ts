/**
 * comfyc/import: editor workflows, API prompts and the metadata of ComfyUI's output files, read
 * into API-format prompts (`convertWorkflow`) and typed TypeScript (`importWorkflow`). Pure: the
 * caller reads files; container parsers load only when a file of their kind arrives.
 */
export { convertWorkflow, isValidConnection } from "./convert.js";
export type { ConvertOptions, ConvertResult, ConvertWarning } from "./convert.js";
export { seededRandom } from "./queue-time.js";
export type { QueueTimeOptions } from "./queue-time.js";
export { MAX_WORKFLOW_JSON_BYTES, readWorkflowSource } from "./detect.js";
export type { WorkflowContainer, WorkflowSource } from "./detect.js";
export { formatProblem, WorkflowImportError } from "./errors.js";
export { importWorkflow } from "./to-typescript.js";
export type { ImportOptions, ImportResult } from "./to-typescript.js";
export type { ImportProblem, NodeLocation } from "./errors.js";
