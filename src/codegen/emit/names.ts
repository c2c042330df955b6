import type { NodeClassIR } from "../../schema/ir.js";

/** The top-level names emitted for one class. */
export interface ClassNames {
  /** The node class constant: `KSampler`. */
  readonly factory: string;
  /** The inputs interface: `KSamplerInputs`. */
  readonly inputs: string;
  /** The handle interface: `KSamplerNode`. */
  readonly handle: string;
  /** The combo options constant: `KSamplerOptions`. */
  readonly options: string;
}

/**
 * Derives the names of each class's declarations, unique across all given classes: a derived
 * name that equals another class's identifier or derived name gets `_` appended until free.
 * Class identifiers are already unique and win every clash. Deterministic for a given set.
 */
export function assignClassNames(nodes: readonly NodeClassIR[]): Map<string, ClassNames> {
  const taken = new Set(nodes.map((n) => n.identifier));
  const out = new Map<string, ClassNames>();
  const derive = (base: string) => {
    let name = base;
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    return name;
  };
  for (const node of nodes) {
    const id = node.identifier;
    out.set(node.classType, {
      factory: id,
      inputs: derive(`${id}Inputs`),
      handle: derive(`${id}Node`),
      options: derive(`${id}Options`),
    });
  }
  return out;
}
