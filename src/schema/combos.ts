import type { ComboValue } from "../protocol/object-info.js";
import type { InputIR } from "./ir.js";

/**
 * Key prefix of a dynamic combo option's inputs in a class's options table:
 * `resize_type[match size].`. The option is part of the key because two options may list
 * different values under one input name.
 */
export function dynamicChildPrefix(key: string, optionKey: string): string {
  return `${key}[${optionKey}].`;
}

/**
 * Every combo input with listed values, keyed as in the generated `…Options` tables: the input
 * name, `parent[option].child` inside dynamic combos, `name[]` for an Autogrow's template.
 */
export function collectCombos(
  inputs: readonly InputIR[],
  prefix = "",
  out = new Map<string, readonly ComboValue[]>(),
): Map<string, readonly ComboValue[]> {
  for (const input of inputs) {
    const key = `${prefix}${input.name}`;
    if (input.kind === "combo" && input.options.length > 0) out.set(key, input.options);
    if (input.kind === "dynamic_combo") {
      for (const option of input.options) {
        collectCombos(option.inputs, dynamicChildPrefix(key, option.key), out);
      }
    }
    if (
      input.kind === "autogrow" &&
      input.template.kind === "combo" &&
      input.template.options.length
    ) {
      out.set(`${key}[]`, input.template.options);
    }
  }
  return out;
}
