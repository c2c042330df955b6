import {
  StructureKind,
  VariableDeclarationKind,
  type InterfaceDeclarationStructure,
  type PropertySignatureStructure,
  type VariableStatementStructure,
} from "ts-morph";
import type { ComboValue } from "../../protocol/object-info.js";
import type { InputIR, NodeClassIR } from "../../schema/ir.js";
import { layoutOf } from "../print.js";
import { classDoc, inputDoc, outputDoc } from "./docs.js";
import type { ClassNames } from "./names.js";
import { literal, propertyName, stringLiteral } from "./text.js";
import { inputValueType, isOptionalInput, type TypeContext } from "./value-type.js";

/** Settings shared by every emitter. */
export interface EmitOptions {
  readonly looseCombos: boolean;
}

const jsDocs = (text: string | undefined) =>
  text ? [{ kind: StructureKind.JSDoc as const, description: text }] : undefined;

/**
 * Options-table key prefix of a dynamic combo option's inputs: `resize_type[match size].`. The
 * option is part of the key because two options may list different values under one name.
 */
export function dynamicChildPrefix(key: string, optionKey: string): string {
  return `${key}[${optionKey}].`;
}

/** Every combo with listed options, keyed by prompt key (dotted for nested dynamic inputs). */
export function collectCombos(
  inputs: readonly InputIR[],
  prefix = "",
  out = new Map<string, readonly ComboValue[]>(),
): Map<string, readonly ComboValue[]> {
  for (const input of inputs) {
    const key = `${prefix}${input.name}`;
    if (input.kind === "combo" && input.options.length > 0) out.set(key, input.options);
    if (input.kind === "dynamic_combo") {
      for (const option of input.options)
        collectCombos(option.inputs, `${dynamicChildPrefix(key, option.key)}`, out);
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

/** `export const KSamplerOptions = { sampler_name: [...] } as const;`, or undefined. */
export function emitOptionsConst(
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
    declarationKind: VariableDeclarationKind.Const,
    docs: jsDocs(
      `The values each combo input of {@link ${names.factory}} accepts, as the server listed them.`,
    ),
    declarations: [
      {
        name: names.options,
        initializer: `{ ${entries.map(([k, v]) => `${k}: [${v.join(", ")}]`).join(", ")} } as const`,
      },
    ],
  };
  layoutOf.set(statement, { entries });
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

/**
 * `export const KSampler: NodeClass<KSamplerInputs, KSamplerNode> = defineNode("KSampler", "…")`.
 * The class's `/object_info` entry travels as JSON text: cheap for `tsc`, parsed on first use.
 */
export function emitFactory(
  node: NodeClassIR,
  names: ClassNames,
  nodeInfoJson: string,
): VariableStatementStructure {
  const args = [stringLiteral(node.classType), stringLiteral(nodeInfoJson)];
  const statement: VariableStatementStructure = {
    kind: StructureKind.VariableStatement,
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: jsDocs(classDoc(node)),
    declarations: [
      {
        name: names.factory,
        type: `NodeClass<${names.inputs}, ${names.handle}>`,
        initializer: `defineNode(${args.join(", ")})`,
      },
    ],
  };
  layoutOf.set(statement, { callee: "defineNode", args });
  return statement;
}
