import { parseJsonLossless } from "../protocol/json.js";
import { ComfycError } from "../errors.js";
import { NodeInfoSchema, type ComboValue } from "../protocol/object-info.js";
import { collectCombos } from "../schema/combos.js";
import type { NodeClassIR } from "../schema/ir.js";
import { normalizeNode } from "../schema/normalize.js";
import type { NodeClass, NodeHandle } from "./types.js";

/** The normalized description of a class, without the codegen-only identifier. */
export type ClassSpec = Omit<NodeClassIR, "identifier">;

/** Runtime side of a {@link NodeClass}: its `/object_info` entry, normalized on first use. */
export interface DefinedNodeClass<I, H extends NodeHandle> extends NodeClass<I, H> {
  /** The normalized description this class was generated from. */
  readonly spec: ClassSpec;
}

const specs = new WeakMap<object, ClassSpec>();

/**
 * Defines a node class from its `/object_info` entry. Generated code calls this once per class;
 * the entry is kept as JSON text and parsed on first use, so importing a module of 1,000
 * classes costs little until they are used.
 *
 * @param classType The exact `class_type`.
 * @param nodeInfoJson The class's `/object_info` entry as JSON text.
 */
export function defineNode<I, H extends NodeHandle>(
  classType: string,
  nodeInfoJson: string,
): DefinedNodeClass<I, H> {
  const cls = {
    classType,
    get spec(): ClassSpec {
      let spec = specs.get(cls);
      if (!spec) {
        spec = parseSpec(classType, nodeInfoJson);
        specs.set(cls, spec);
      }
      return spec;
    },
  };
  return Object.freeze(cls);
}

/** Defines a node class from an already normalized description (used by tools and tests). */
export function nodeClassFromSpec<I, H extends NodeHandle>(
  spec: ClassSpec,
): DefinedNodeClass<I, H> {
  return Object.freeze({ classType: spec.classType, spec });
}

function parseSpec(classType: string, json: string): ClassSpec {
  let raw: unknown;
  try {
    // Lossless: the embedded spec keeps 64-bit limits exact, and so does validation.
    raw = parseJsonLossless(json);
  } catch (cause) {
    throw new ComfycError(
      "OBJECT_INFO_INVALID",
      `The embedded description of node class ${JSON.stringify(classType)} is not JSON`,
      "Regenerate the node modules with `comfyc codegen`.",
      { cause },
    );
  }
  const parsed = NodeInfoSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ComfycError(
      "OBJECT_INFO_INVALID",
      `The embedded description of node class ${JSON.stringify(classType)} is invalid: ${parsed.error.issues[0]?.message}`,
      "Regenerate the node modules with `comfyc codegen`.",
    );
  }
  try {
    return normalizeNode(classType, parsed.data);
  } catch (cause) {
    throw new ComfycError(
      "OBJECT_INFO_INVALID",
      `The embedded description of node class ${JSON.stringify(classType)} cannot be used: ${(cause as Error).message}`,
      "Regenerate the node modules with `comfyc codegen`.",
      { cause },
    );
  }
}

/** True when `value` is a class made by {@link defineNode} or {@link nodeClassFromSpec}. */
export function isDefinedNodeClass(value: unknown): value is DefinedNodeClass<unknown, NodeHandle> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { classType?: unknown }).classType === "string" &&
    "spec" in value
  );
}

/**
 * The combo values of a class, keyed like the generated `…Options` tables (the input name,
 * `parent[option].child` inside dynamic combos). Generated modules export this per class.
 */
export function comboOptions(
  cls: NodeClass<unknown, NodeHandle>,
): Readonly<Record<string, readonly ComboValue[]>> {
  if (!isDefinedNodeClass(cls)) {
    throw new ComfycError(
      "INVALID_GRAPH",
      "comboOptions() needs a node class from generated code",
      "Pass a class imported from your generated modules, such as KSampler.",
    );
  }
  return Object.freeze(Object.fromEntries(collectCombos(cls.spec.inputs)));
}
