/**
 * comfyc: typed ComfyUI workflows in TypeScript. This entry holds the builder, the schema
 * model and the public types; `comfyc/runtime`, `comfyc/testing` and `comfyc/codegen` hold the
 * rest.
 */
export { ComfycError, isComfycError } from "./errors.js";
export type { ErrorCode } from "./errors.js";

export { comboOptions, defineNode, nodeClassFromSpec } from "./builder/node-class.js";
export type { ClassSpec, DefinedNodeClass } from "./builder/node-class.js";
export { serializePrompt } from "./builder/serialize.js";
export { parseJsonLossless, writtenAsFloat } from "./protocol/json.js";
export type { ParseJsonOptions } from "./protocol/json.js";
export { exactLimit, formatLimit, UINT64_MAX } from "./protocol/integers.js";
export { formatLocation } from "./builder/source-location.js";
export {
  $unsafeLink,
  fileBytes,
  isOutput,
  localFile,
  Workflow,
  workflow,
} from "./builder/workflow.js";
export type { CompileOptions, WorkflowOptions } from "./builder/workflow.js";
export type {
  AddOptions,
  ApiPrompt,
  CompileReport,
  DroppedNode,
  Link,
  NodeClass,
  NodeHandle,
  Output,
  PromptNode,
  PromptValue,
  RawAddOptions,
  RawNodeHandle,
  SourceLocation,
  UiAnimated,
  UiAudio,
  UiFile,
  UiImages,
  UiLatents,
  UiText,
  UploadSource,
} from "./builder/types.js";

export { defineWorkflow, isWorkflow, ParameterizedWorkflow } from "./builder/define-workflow.js";
export { imageParam } from "./builder/image-param.js";
export type { AnyWorkflow, WorkflowDefinition } from "./builder/define-workflow.js";
export { GraphError, ParamsInvalidError, PromptInvalidError } from "./builder/errors.js";
export {
  comfyuiText,
  describeError,
  describeNodeErrors,
  formatRejection,
  nodeErrorsHint,
  promptLinks,
} from "./protocol/describe-errors.js";
export type { LinkContext, NodeContext } from "./protocol/describe-errors.js";
export type { ErrorObj, NodeError, NodeErrors } from "./protocol/prompt.js";
export { normalizeObjectInfo } from "./schema/normalize.js";
export { validatePrompt } from "./schema/validate.js";
export {
  appliedComfyuiRelease,
  COMFYUI_BEHAVIOURS,
  ComfyuiVersionError,
  comfyuiRules,
  comfyuiVersionNote,
  compareComfyuiVersions,
  NEWEST_COMFYUI_VERSION,
  OLDEST_COMFYUI_VERSION,
  parseComfyuiVersion,
  tryParseComfyuiVersion,
} from "./protocol/comfyui-version.js";
export type {
  ComfyuiBehaviour,
  ComfyuiBehaviourInfo,
  ComfyuiRules,
  ComfyuiRulesOptions,
  ComfyuiVersion,
  UnreleasedBehaviour,
} from "./protocol/comfyui-version.js";
export type {
  ClassLookup,
  CustomValidator,
  ValidateOptions,
  ValidationResult,
} from "./schema/validate.js";
export type { InputIR, NodeClassIR, NodeSchema, OutputIR, SchemaWarning } from "./schema/ir.js";
