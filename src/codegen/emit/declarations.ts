import {
  StructureKind,
  VariableDeclarationKind,
  type InterfaceDeclarationStructure,
  type PropertySignatureStructure,
  type VariableStatementStructure,
} from "ts-morph";
import { collectCombos } from "../../schema/combos.js";
import type { NodeClassIR } from "../../schema/ir.js";
import { layoutOf } from "../print.js";
import { classDoc, inputDoc, outputDoc } from "./docs.js";
import type { ClassNames } from "./names.js";
import { literal, propertyName, stringLiteral } from "./text.js";
import { inputValueType, isOptionalInput, type TypeContext } from "./value-type.js";
import { uiOutputType } from "./ui-outputs.js";

/** Settings shared by every emitter. */
export interface EmitOptions {
  readonly looseCombos: boolean;
}

const jsDocs = (text: string | undefined) =>
  text ? [{ kind: StructureKind.JSDoc as const, description: text }] : undefined;

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
): VariableStatementStructure | undefined {
  const combos = collectCombos(node.inputs);
  if (combos.size === 0) return undefined;
  const entries = [...combos].map(
    ([key, values]) => [propertyName(key), values.map(literal)] as const,
  );
  const statement: VariableStatementStructure = {
    kind: StructureKind.VariableStatement,
    isExported: true,
    hasDeclareKeyword: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: jsDocs(
      `The values each combo input of {@link ${names.factory}} accepts, as the server listed them.`,
    ),
    declarations: [
      {
        name: names.options,
        type: `{ ${entries.map(([k, v]) => `readonly ${k}: readonly [${v.join(", ")}]`).join("; ")} }`,
      },
    ],
  };
  layoutOf.set(statement, { entries });
  return statement;
}

/** `export const KSamplerOptions = comboOptions(KSampler);` (the values come from the spec). */
export function emitOptionsValue(
  node: NodeClassIR,
  names: ClassNames,
): VariableStatementStructure | undefined {
  if (collectCombos(node.inputs).size === 0) return undefined;
  const statement: VariableStatementStructure = {
    kind: StructureKind.VariableStatement,
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: names.options, initializer: `comboOptions(${names.factory})` }],
  };
  layoutOf.set(statement, { callee: "comboOptions", args: [names.factory] });
  return statement;
}

/** `export interface KSamplerInputs { … }`: one property per input, documented. */
export function emitInputsInterface(
  node: NodeClassIR,
  names: ClassNames,
  options: EmitOptions,
): InterfaceDeclarationStructure {
  const ctx = typeContext(collectCombos(node.inputs), names, options);
  const properties: PropertySignatureStructure[] = node.inputs.map((input) => ({
    kind: StructureKind.PropertySignature,
    name: propertyName(input.name),
    hasQuestionToken: isOptionalInput(input),
    type: inputValueType(input, input.name, ctx),
    docs: jsDocs(inputDoc(input)),
  }));
  return {
    kind: StructureKind.Interface,
    name: names.inputs,
    isExported: true,
    docs: jsDocs(`Inputs of {@link ${names.factory}}.`),
    properties,
  };
}

/** `export interface KSamplerNode extends NodeHandle, Output<"LATENT"> { … }`. */
export function emitHandleInterface(
  node: NodeClassIR,
  names: ClassNames,
): InterfaceDeclarationStructure {
  const only = node.outputs.length === 1 ? node.outputs[0] : undefined;
  const properties: PropertySignatureStructure[] = [];
  for (const output of node.outputs) {
    const type = `Output<${stringLiteral(output.type)}>`;
    properties.push({
      kind: StructureKind.PropertySignature,
      name: output.identifier,
      isReadonly: true,
      type,
      docs: jsDocs(outputDoc(output)),
    });
  }
  for (const output of node.outputs) {
    properties.push({
      kind: StructureKind.PropertySignature,
      name: String(output.index),
      isReadonly: true,
      type: `Output<${stringLiteral(output.type)}>`,
    });
  }
  const ui = uiOutputType(node.classType, node.pack);
  if (ui) {
    properties.push({
      kind: StructureKind.PropertySignature,
      name: "__ui",
      isReadonly: true,
      hasQuestionToken: true,
      type: ui,
      docs: jsDocs("Type only: what this node shows after running (`result.output(handle)`)."),
    });
  }
  return {
    kind: StructureKind.Interface,
    name: names.handle,
    isExported: true,
    extends: only ? ["NodeHandle", `Output<${stringLiteral(only.type)}>`] : ["NodeHandle"],
    docs: jsDocs(
      node.outputs.length === 0
        ? `Handle of a {@link ${names.factory}} node, which has no outputs.`
        : `Handle of a {@link ${names.factory}} node: its outputs by name and by index.` +
            (only ? " It can also be passed directly where its only output fits." : ""),
    ),
    properties,
  };
}

/** `export declare const KSampler: NodeClass<KSamplerInputs, KSamplerNode>;`, documented. */
export function emitFactoryDeclaration(
  node: NodeClassIR,
  names: ClassNames,
): VariableStatementStructure {
  return {
    kind: StructureKind.VariableStatement,
    isExported: true,
    hasDeclareKeyword: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: jsDocs(classDoc(node)),
    declarations: [{ name: names.factory, type: `NodeClass<${names.inputs}, ${names.handle}>` }],
  };
}

/**
 * `export const KSampler = defineNode("KSampler", "…");`. The class's `/object_info` entry
 * travels as JSON text, parsed on first use.
 */
export function emitFactoryValue(
  node: NodeClassIR,
  names: ClassNames,
  nodeInfoJson: string,
): VariableStatementStructure {
  const args = [stringLiteral(node.classType), stringLiteral(nodeInfoJson)];
  const statement: VariableStatementStructure = {
    kind: StructureKind.VariableStatement,
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: names.factory, initializer: `defineNode(${args.join(", ")})` }],
  };
  layoutOf.set(statement, { callee: "defineNode", args });
  return statement;
}
