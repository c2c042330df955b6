import { collectCombos } from "../../schema/combos.js";
import type { NodeClassIR } from "../../schema/ir.js";
import type {
  ConstCallStatement,
  DeclareConstStatement,
  DeclareTableStatement,
  InterfaceStatement,
  PropertySignature,
} from "../statements.js";
import { classDoc, inputDoc, outputDoc } from "./docs.js";
import type { ClassNames } from "./names.js";
import { jsonTextLiteral, literal, propertyName, stringLiteral } from "./text.js";
import { inputValueType, isOptionalInput, type TypeContext } from "./value-type.js";
import { uiOutputType } from "./ui-outputs.js";

/** Settings shared by every emitter. */
export interface EmitOptions {
  readonly looseCombos: boolean;
}

function typeContext(
  combos: ReadonlyMap<string, unknown>,
  names: ClassNames,
  options: EmitOptions,
): TypeContext {
  return {
    looseCombos: options.looseCombos,
    comboOptions: (key) =>
      combos.has(key) ? `(typeof ${names.options})[${stringLiteral(key)}][number]` : undefined,
  };
}

/** `export declare const KSamplerOptions: { readonly sampler_name: readonly [...] }`, or undefined. */
export function emitOptionsDeclaration(
  node: NodeClassIR,
  names: ClassNames,
): DeclareTableStatement | undefined {
  const combos = collectCombos(node.inputs);
  if (combos.size === 0) return undefined;
  return {
    kind: "declare-table",
    name: names.options,
    docs: `The values each combo input of {@link ${names.factory}} accepts, as the server listed them.`,
    entries: [...combos].map(([key, values]) => [propertyName(key), values.map(literal)] as const),
  };
}

/** `export const KSamplerOptions = comboOptions(KSampler);` (the values come from the spec). */
export function emitOptionsValue(
  node: NodeClassIR,
  names: ClassNames,
): ConstCallStatement | undefined {
  if (collectCombos(node.inputs).size === 0) return undefined;
  return { kind: "const-call", name: names.options, callee: "comboOptions", args: [names.factory] };
}

/** `export interface KSamplerInputs { … }`: one property per input, documented. */
export function emitInputsInterface(
  node: NodeClassIR,
  names: ClassNames,
  options: EmitOptions,
): InterfaceStatement {
  const ctx = typeContext(collectCombos(node.inputs), names, options);
  const properties = node.inputs.map((input): PropertySignature => ({
    name: propertyName(input.name),
    optional: isOptionalInput(input),
    type: inputValueType(input, input.name, ctx),
    docs: inputDoc(input),
  }));
  return {
    kind: "interface",
    name: names.inputs,
    extends: [],
    docs: `Inputs of {@link ${names.factory}}.`,
    properties,
  };
}

/** `export interface KSamplerNode extends NodeHandle, Output<"LATENT"> { … }`. */
export function emitHandleInterface(node: NodeClassIR, names: ClassNames): InterfaceStatement {
  const only = node.outputs.length === 1 ? node.outputs[0] : undefined;
  const properties: PropertySignature[] = [];
  for (const output of node.outputs) {
    properties.push({
      name: output.identifier,
      readonly: true,
      type: `Output<${stringLiteral(output.type)}>`,
      docs: outputDoc(output),
    });
  }
  for (const output of node.outputs) {
    properties.push({
      name: String(output.index),
      readonly: true,
      type: `Output<${stringLiteral(output.type)}>`,
    });
  }
  const ui = uiOutputType(node.classType, node.pack);
  if (ui) {
    properties.push({
      name: "__ui",
      readonly: true,
      optional: true,
      type: ui,
      docs: "Type only: what this node shows after running (`result.output(handle)`).",
    });
  }
  return {
    kind: "interface",
    name: names.handle,
    extends: only ? ["NodeHandle", `Output<${stringLiteral(only.type)}>`] : ["NodeHandle"],
    docs:
      node.outputs.length === 0
        ? `Handle of a {@link ${names.factory}} node, which has no outputs.`
        : `Handle of a {@link ${names.factory}} node: its outputs by name and by index.` +
          (only ? " It can also be passed directly where its only output fits." : ""),
    properties,
  };
}

/** `export declare const KSampler: NodeClass<KSamplerInputs, KSamplerNode>;`, documented. */
export function emitFactoryDeclaration(
  node: NodeClassIR,
  names: ClassNames,
): DeclareConstStatement {
  return {
    kind: "declare-const",
    name: names.factory,
    type: `NodeClass<${names.inputs}, ${names.handle}>`,
    docs: classDoc(node),
  };
}

/**
 * `export const KSampler = defineNode("KSampler", "…");`. The class's `/object_info` entry
 * travels as JSON text, parsed on first use; `nodeInfoJson` must come from `JSON.stringify`.
 */
export function emitFactoryValue(
  node: NodeClassIR,
  names: ClassNames,
  nodeInfoJson: string,
): ConstCallStatement {
  return {
    kind: "const-call",
    name: names.factory,
    callee: "defineNode",
    args: [stringLiteral(node.classType), jsonTextLiteral(nodeInfoJson)],
  };
}
