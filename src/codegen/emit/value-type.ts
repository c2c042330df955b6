import { dynamicChildPrefix } from "../../schema/combos.js";
import type { AutogrowInputIR, DynamicComboInputIR, InputIR } from "../../schema/ir.js";
import { propertyName, stringLiteral } from "./text.js";

/** Settings that change how input types are written. */
export interface TypeContext {
  /** Type expression for the options of the combo at this prompt key, or undefined if none. */
  readonly comboOptions: (key: string) => string | undefined;
  /** `--loose-combos`: also accept any string. */
  readonly looseCombos: boolean;
}

const SAFE = Number.MAX_SAFE_INTEGER;
const WIDGET_CONSTANTS: Readonly<Record<string, string>> = {
  INT: "number",
  FLOAT: "number",
  STRING: "string",
  BOOLEAN: "boolean",
};

/** `Link<"A" | "B">`, or `Link<string>` when any type is accepted. */
export function linkType(types: readonly string[]): string {
  if (types.length === 0 || types.includes("*")) return "Link<string>";
  return `Link<${[...new Set(types)].map(stringLiteral).join(" | ")}>`;
}

/** Constants a socket of these types accepts: widget types in a union, scalars for `*`. */
function socketConstants(types: readonly string[]): string[] {
  if (types.includes("*")) return ["string", "number", "boolean"];
  return [...new Set(types.map((t) => WIDGET_CONSTANTS[t]).filter((t) => t !== undefined))];
}

const BOX =
  "{ readonly x: number; readonly y: number; readonly width: number; readonly height: number }";

/**
 * Constants of V3 value types, as their widgets write them (comfy_api/latest/_io.py defaults):
 * COLOR `"#ffffff"`, BOUNDING_BOX `{x, y, width, height}`, CURVE `{points, interpolation}`,
 * RANGE `{min, max}`. Other widget-edited types take any JSON value.
 */
const V3_VALUE_CONSTANTS: Readonly<Record<string, string>> = {
  COLOR: "string",
  COLORS: "readonly string[]",
  BOUNDING_BOX: BOX,
  BOUNDING_BOXES: `readonly ${BOX}[]`,
  CURVE:
    "{ readonly points: readonly (readonly [number, number])[]; readonly interpolation: string }",
  RANGE: "{ readonly min: number; readonly max: number }",
};

/** The constant a V3 value-type input takes (`unknown` for types without a known shape). */
export function valueConstantType(type: string): string {
  return V3_VALUE_CONSTANTS[type] ?? "unknown";
}

/** Whether the property for this input may be left out when adding the node. */
export function isOptionalInput(input: InputIR): boolean {
  if (!input.required) return true;
  switch (input.kind) {
    case "int":
    case "float":
    case "string":
    case "boolean":
    case "combo":
      return input.default !== undefined;
    case "dynamic_combo":
      return typeof input.config[1]["default"] === "string";
    case "autogrow":
      return input.min === 0 || !input.template.required;
    case "link":
      return input.value === true && input.default !== undefined;
    default:
      return false;
  }
}

/**
 * The TypeScript type of the value an input accepts in `wf.add()`. `key` is the input's prompt
 * key (dotted for nested dynamic inputs), used to look up combo options.
 */
export function inputValueType(input: InputIR, key: string, ctx: TypeContext): string {
  switch (input.kind) {
    case "link":
      if (input.value) return union([valueConstantType(input.type), linkType(input.accepts)]);
      return union([linkType(input.accepts), ...socketConstants(input.accepts)]);
    case "matchtype":
      return union([linkType(input.allowedTypes), ...socketConstants(input.allowedTypes)]);
    case "int": {
      const big =
        (input.max !== undefined && input.max > SAFE) ||
        (input.min !== undefined && input.min < -SAFE);
      return union(["number", ...(big ? ["bigint"] : []), 'Link<"INT">']);
    }
    case "float":
      return 'number | Link<"FLOAT">';
    case "string":
      return 'string | Link<"STRING">';
    case "boolean":
      return 'boolean | Link<"BOOLEAN">';
    case "combo": {
      const options = ctx.comboOptions(key);
      let value = options ?? "string";
      // Upload inputs take any uploaded file name: the server checks them with its own
      // validator, not against the list (protocol §5.2).
      if (options && (ctx.looseCombos || input.upload)) value = `${options} | (string & {})`;
      if (input.multiselect) value = `${value} | readonly ${arrayOf(value)}`;
      return `${value} | Link<"COMBO">${input.upload ? " | UploadSource" : ""}`;
    }
    case "dynamic_combo":
      return dynamicComboType(input, key, ctx);
    case "autogrow":
      return autogrowType(input, key, ctx);
  }
}

/** `T[]`, parenthesizing `T` only where TypeScript needs it (unions and intersections). */
export function arrayOf(type: string): string {
  const needsParens = splitTopLevel(type, "|").length > 1 || splitTopLevel(type, "&").length > 1;
  return needsParens ? `(${type})[]` : `${type}[]`;
}

/** Splits `A | B<C | D> | "x|y"` at top-level separators only. */
export function splitTopLevel(type: string, separator: "|" | "&"): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < type.length; i++) {
    const c = type[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if ("<([{".includes(c)) depth++;
    else if (">)]}".includes(c)) depth--;
    else if (c === separator && depth === 0) {
      out.push(type.slice(start, i));
      start = i + 1;
    }
  }
  out.push(type.slice(start));
  return out.map((m) => m.trim()).filter((m) => m !== "");
}

function union(parts: readonly string[]): string {
  return [...new Set(parts)].join(" | ");
}

function dynamicComboType(input: DynamicComboInputIR, key: string, ctx: TypeContext): string {
  if (input.options.length === 0) return "string";
  const variants: string[] = [];
  for (const option of input.options) {
    const members = [`readonly key: ${stringLiteral(option.key)}`];
    for (const child of option.inputs) {
      const childKey = `${dynamicChildPrefix(key, option.key)}${child.name}`;
      const optional = isOptionalInput(child) ? "?" : "";
      members.push(
        `${propertyName(child.name)}${optional}: ${inputValueType(child, childKey, ctx)}`,
      );
    }
    variants.push(`{ ${members.join("; ")} }`);
    // An option whose inputs can all be left out may also be selected by its key alone.
    if (option.inputs.every(isOptionalInput)) variants.push(stringLiteral(option.key));
  }
  return variants.join(" | ");
}

function autogrowType(input: AutogrowInputIR, key: string, ctx: TypeContext): string {
  const element = inputValueType(input.template, `${key}[]`, ctx);
  const required = input.template.required ? Math.min(input.min, input.names.length) : 0;
  if (input.prefix !== undefined) {
    const head = Array.from({ length: required }, () => element);
    return head.length === 0
      ? `readonly ${arrayOf(element)}`
      : `readonly [${head.join(", ")}, ...${arrayOf(element)}]`;
  }
  const members = input.names.map(
    (name, i) => `${propertyName(name)}${i < required ? "" : "?"}: ${element}`,
  );
  return `{ ${members.join("; ")} }`;
}
