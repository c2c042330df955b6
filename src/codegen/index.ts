/** `comfyc/codegen`: generate typed node modules from an object_info. */
export { generate, selectClasses } from "./generate.js";
export type { GenerateOptions, GenerateResult, GeneratedFile } from "./generate.js";
