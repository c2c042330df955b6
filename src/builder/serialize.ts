import { stringifyJson } from "../protocol/json.js";

/**
 * JSON text of a compiled prompt (or any request body) in which bigints such as 64-bit seeds
 * are written as exact JSON integers.
 *
 * @example serializePrompt({ "1": { class_type: "KSampler", inputs: { seed: 2n ** 64n - 1n } } })
 */
export function serializePrompt(value: unknown, indent?: number): string {
  return stringifyJson(value, indent);
}
