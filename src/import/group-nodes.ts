import type { UiInput, UiOutput } from "../protocol/ui-workflow.js";
import type { NodeSchema } from "../schema/ir.js";
import {
  SUBGRAPH_INPUT_ID,
  SUBGRAPH_OUTPUT_ID,
  type Graph,
  type GraphLink,
  type GraphNode,
  type SubgraphDefinition,
  type SubgraphSlot,
} from "./ui-graph.js";
import { mapWidgetValues } from "./widgets.js";

/**
 * Legacy group nodes (`workflow>Name`, `workflow/Name`, §5.5), expanded by turning each
 * instance into a subgraph definition: inner nodes get ids `"<index>"`, so their execution ids
 * are `"<group node id>:<index>"` as the editor's `ExecutableGroupNodeChildDTO` gives them.
 */

/** True for a legacy group-node type. */
export function isGroupNodeType(type: string): boolean {
  return type.startsWith("workflow>") || type.startsWith("workflow/");
}

interface GroupInnerNode {
  type?: unknown;
  index?: unknown;
  title?: unknown;
  mode?: unknown;
  inputs?: unknown;
  outputs?: unknown;
  widgets_values?: unknown;
  properties?: unknown;
}

/** The definition of one group instance, or why it cannot be expanded. */
export function groupNodeDefinition(
  instance: GraphNode,
  groupNodes: Readonly<Record<string, unknown>>,
  schema: NodeSchema,
): { definition?: SubgraphDefinition; warnings: string[]; error?: string } {
  const name = instance.type.slice("workflow".length + 1);
  const raw = groupNodes[name] as
    { nodes?: unknown; links?: unknown; external?: unknown } | undefined;
  if (!raw || !Array.isArray(raw.nodes)) {
    return {
      warnings: [],
      error: `group node "${name}" has no definition in extra.groupNodes; open the workflow in the editor and convert the group to a subgraph`,
    };
  }
  const warnings: string[] = [];
  const inner = (raw.nodes as GroupInnerNode[]).filter((n) => n && typeof n.type === "string");
  const links = new Map<number, GraphLink>();
  let nextLink = 1;
  const ids = inner.map((n, i) => String(typeof n.index === "number" ? n.index : i));
  const inputsOf = inner.map((n) =>
    (Array.isArray(n.inputs) ? (n.inputs as UiInput[]) : []).map((input) => ({
      ...input,
      link: null as number | null,
    })),
  );
  const outputsOf = inner.map((n) =>
    (Array.isArray(n.outputs) ? (n.outputs as UiOutput[]) : []).map((o) => ({
      ...o,
      links: [] as number[],
    })),
  );
  const internalOut = new Set<string>();
  for (const l of Array.isArray(raw.links) ? (raw.links as unknown[][]) : []) {
    if (!Array.isArray(l)) continue;
    const [oi, os, ti, ts] = l as number[];
    if (
      typeof oi !== "number" ||
      typeof ti !== "number" ||
      typeof os !== "number" ||
      typeof ts !== "number"
    )
      continue;
    const target = inputsOf[ti]?.[ts];
    if (!target || !ids[oi]) continue;
    const id = nextLink++;
    target.link = id;
    outputsOf[oi]?.[os]?.links.push(id);
    internalOut.add(`${oi}:${os}`);
    links.set(id, {
      id,
      originId: ids[oi],
      originSlot: os,
      targetId: ids[ti]!,
      targetSlot: ts,
      type: l[5],
    });
  }
  const external = new Set(
    (Array.isArray(raw.external) ? (raw.external as unknown[][]) : []).map(
      (e) => `${e[0]}:${e[1]}`,
    ),
  );
  // Group inputs: every inner input not fed inside, named as the editor names them.
  const inputs: SubgraphSlot[] = [];
  const used = new Set<string>();
  inner.forEach((node, i) => {
    for (const input of inputsOf[i]!) {
      if (input.link !== null) continue;
      let slotName = input.label ?? input.name;
      if (used.has(slotName)) slotName = `${String(node.title ?? node.type)} ${input.name}`;
      used.add(slotName);
      const id = nextLink++;
      input.link = id;
      links.set(id, {
        id,
        originId: SUBGRAPH_INPUT_ID,
        originSlot: inputs.length,
        targetId: ids[i]!,
        targetSlot: 0,
        type: input.type,
      });
      inputs.push({ name: slotName, type: input.type, linkIds: [id] });
    }
  });
  const outputs: SubgraphSlot[] = [];
  inner.forEach((_node, i) => {
    outputsOf[i]!.forEach((output, j) => {
      if (internalOut.has(`${i}:${j}`) && !external.has(`${i}:${j}`)) return;
      const id = nextLink++;
      links.set(id, {
        id,
        originId: ids[i]!,
        originSlot: j,
        targetId: SUBGRAPH_OUTPUT_ID,
        targetSlot: outputs.length,
        type: output.type,
      });
      outputs.push({ name: String(output.name ?? output.type), type: output.type, linkIds: [id] });
    });
  });
  // Widget values: the instance holds every inner node's values, concatenated in inner order.
  const counts = inner.map((n) => {
    const cls = schema.classes.get(n.type as string);
    return cls ? mapWidgetValues(cls, []).slots.length : 0;
  });
  const own = instance.widgetsValues;
  const split =
    Array.isArray(own) && own.length === counts.reduce((a, b) => a + b, 0) ? own : undefined;
  if (Array.isArray(own) && own.length && !split) {
    warnings.push(
      `group node "${name}" stores ${own.length} widget values for inner widgets counted ${counts.join("+")}; the values stored in its definition are used instead`,
    );
  }
  let offset = 0;
  const nodes: GraphNode[] = inner.map((n, i) => {
    const count = counts[i]!;
    const values = split
      ? split.slice(offset, offset + count)
      : Array.isArray(n.widgets_values)
        ? n.widgets_values
        : undefined;
    offset += count;
    return {
      id: ids[i]!,
      type: n.type as string,
      mode: typeof n.mode === "number" ? n.mode : 0,
      title: typeof n.title === "string" ? n.title : undefined,
      inputs: inputsOf[i]!,
      outputs: outputsOf[i]!,
      widgetsValues: values,
      properties:
        n.properties && typeof n.properties === "object"
          ? (n.properties as Record<string, unknown>)
          : {},
    };
  });
  const definition: { -readonly [K in keyof SubgraphDefinition]: SubgraphDefinition[K] } = {
    id: `group:${instance.id}`,
    name,
    inputs,
    outputs,
    graph: undefined as unknown as Graph,
  };
  definition.graph = {
    nodes,
    byId: new Map(nodes.map((n) => [n.id, n])),
    links,
    definition,
  };
  return { definition, warnings };
}
