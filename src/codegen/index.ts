/**
 * `comfyc/codegen`: generate typed node modules from an object_info, programmatically.
 *
 * @example
 * const { raw, label } = await loadObjectInfo({ file: "object_info.json" });
 * // or, from a server: const raw = await new ComfyClient({ url }).objectInfo();
 * const result = await generate(raw, { source: label });
 * await writeGenerated("generated", result.files);
 */
export { generate, selectClasses } from "./generate.js";
export type { GenerateOptions, GenerateResult, GeneratedFile } from "./generate.js";
export { loadObjectInfo } from "./source.js";
export type { ObjectInfoSource } from "./source.js";
export { isUpToDate } from "./up-to-date.js";
export { checkGenerated, formatDriftReport, writeGenerated } from "./write.js";
export type { DriftEntry, DriftReport, WriteResult } from "./write.js";
