import type { ApiPrompt, PromptNode, PromptValue } from "../builder/types.js";
import type { InputIR, NodeSchema } from "../schema/ir.js";
import { guardDepth, WorkflowImportError, type ImportProblem } from "./errors.js";
import { groupNodeDefinition, isGroupNodeType } from "./group-nodes.js";
import {
  applyControl,
  applyQueueTimeBehaviour,
  isControlMode,
  placeholders,
  SAVE_NODES,
  type QueueTimeOptions,
  type WidgetLookup,
} from "./queue-time.js";
import {
  readUiDocument,
  SUBGRAPH_INPUT_ID,
  type Graph,
  type GraphNode,
  type SubgraphDefinition,
  type UiDocument,
} from "./ui-graph.js";
import {
  defaultControlMode,
  fixControlMode,
  liveSocketNames,
  mapWidgetValues,
  type MappedWidgets,
  type WidgetControl,
} from "./widgets.js";

/** Options of {@link convertWorkflow}. */
export interface ConvertOptions extends QueueTimeOptions {
  /**
   * Renumber clashing inner node ids of subgraph definitions as the editor does on load
   * (frontend v1.41.14+), so execution ids match what the editor queues. Default `true`.
   */
  readonly renumberSubgraphIds?: boolean;
  /** Throw one {@link WorkflowImportError} listing every warning instead of returning them. */
  readonly strict?: boolean;
}

/** A conversion warning: what was dropped, defaulted or left as is, and where. */
export type ConvertWarning = ImportProblem;

/** What {@link convertWorkflow} returns. */
export interface ConvertResult {
  /** The API-format prompt, keyed by execution id (`"3"`, `"10:6"` inside subgraph 10). */
  readonly prompt: ApiPrompt;
  readonly warnings: readonly ConvertWarning[];
}

/** Node types that exist only in the editor and never reach the prompt (§5.1–§5.6). */
const VIRTUAL_TYPES = new Set([
  "PrimitiveNode",
  "Reroute",
  "Note",
  "MarkdownNote",
  "SetNode",
  "GetNode",
]);

/** rgthree's editor-only nodes: they change modes or show text, and never reach the prompt. */
const EDITOR_ONLY_PACK_TYPES = new Set([
  "Fast Groups Bypasser (rgthree)",
  "Fast Groups Muter (rgthree)",
  "Fast Bypasser (rgthree)",
  "Fast Muter (rgthree)",
  "Fast Actions Button (rgthree)",
  "Label (rgthree)",
  "Bookmark (rgthree)",
  "Node Collector (rgthree)",
  "Mute / Bypass Repeater (rgthree)",
  "Mute / Bypass Relay (rgthree)",
]);

const MUTED = 2;
const BYPASSED = 4;
/**
 * The longest chain of reroutes, bypassed nodes, Get/Set nodes and subgraph boundaries one link
 * is followed through (real graphs have a handful); beyond it the file is refused, not the stack.
 */
const MAX_RESOLVE_DEPTH = 1_000;
/**
 * The most nodes a document may expand to once every subgraph instance is expanded (the largest
 * real workflows have a few hundred; nested instances multiply, so a small file can ask for
 * billions).
 */
export const MAX_EXPANDED_NODES = 100_000;
/** The deepest nesting of subgraph instances accepted (real workflows nest a few levels). */
export const MAX_SUBGRAPH_DEPTH = 100;

/** Where a graph sits: its instance path from the root and the instance that holds it. */
interface Scope {
  readonly graph: Graph;
  readonly path: readonly string[];
  /** `path` joined with `:` and a trailing `:` (empty at the root): the execution-id prefix. */
  readonly prefix?: string;
  readonly instance?: GraphNode;
  readonly parent?: Scope;
}

type Resolved =
  | { readonly kind: "none" }
  | { readonly kind: "value"; readonly value: unknown }
  | { readonly kind: "link"; readonly nodeId: string; readonly slot: number };

const NONE: Resolved = { kind: "none" };

/** A PrimitiveNode's widgets (§5.1): its value and, for numbers and combos, its control. */
interface PrimitiveState {
  value: unknown;
  readonly control: WidgetControl | undefined;
  /** The value after `Run widget replace on values`, once worked out. */
  sent?: unknown;
}

/**
 * Converts an editor (UI-format) workflow into the API-format prompt the editor's
 * `graphToPrompt` would queue (frontend v1.45, `comfyui-workflow-format.md` §4): widget values
 * named from the schema, links resolved through reroutes, primitives, bypassed nodes and
 * subgraph boundaries, virtual and muted nodes left out, subgraphs and legacy group nodes
 * expanded with `outer:inner` ids. Pure: no I/O.
 *
 * Queue-time behaviour (dynamic prompts, `%date:…%` and `%Node.widget%` placeholders, control
 * modes) is not applied unless asked for in `options`; where the editor would change a value,
 * a warning says so.
 *
 * @param doc The parsed UI document (schema 0.4 or 1).
 * @param schema The server's node definitions (`normalizeObjectInfo` of its `/object_info`).
 * @throws {WorkflowImportError} `WORKFLOW_INVALID` listing every problem that makes the graph
 *   unconvertible (dangling links, links to missing nodes, cycles, a subgraph that contains
 *   itself); with `strict`, also every warning.
 * @example
 * const { prompt, warnings } = convertWorkflow(JSON.parse(text), normalizeObjectInfo(objectInfo));
 */
export function convertWorkflow(
  doc: unknown,
  schema: NodeSchema,
  options: ConvertOptions = {},
): ConvertResult {
  return guardDepth(() => {
    const ui = readUiDocument(
      doc,
      options.renumberSubgraphIds === undefined
        ? {}
        : { renumberSubgraphIds: options.renumberSubgraphIds },
    );
    return new Converter(ui, schema, options).run();
  });
}

class Converter {
  readonly warnings: ConvertWarning[] = [];
  readonly errors: ImportProblem[] = [];
  readonly prompt: ApiPrompt = {};
  /** Widget state per node object: a definition's nodes are shared by its instances, as in the editor. */
  readonly #mapped = new Map<GraphNode, MappedWidgets | undefined>();
  readonly #primitives = new Map<GraphNode, PrimitiveState>();
  /** Prompt inputs whose value came from a promoted subgraph input (no widget serialisation). */
  readonly #rawValues = new Map<string, Set<string>>();
  #lookup: WidgetLookup | undefined;
  readonly #groups = new Map<GraphNode, SubgraphDefinition>();
  /** Node slots whose resolution is under way (the editor's RecursionError check). */
  readonly #resolving = new Set<string>();
  /** Loops already reported, so each is reported once. */
  readonly #loops = new Set<string>();

  constructor(
    readonly ui: UiDocument,
    readonly schema: NodeSchema,
    readonly options: ConvertOptions,
  ) {}

  run(): ConvertResult {
    for (const [defId, remap] of this.ui.renumbered) {
      const def = this.ui.subgraphs.get(defId);
      for (const [from, to] of remap) {
        this.warnings.push({
          kind: "subgraph_id_renumbered",
          message: `inner node ${from} of subgraph "${def?.name ?? defId}" clashes with another node id and is numbered ${to}, as the editor renumbers it on load (frontend v1.41.14+)`,
        });
      }
    }
    const root: Scope = { graph: this.ui.root, path: [] };
    this.#checkSelfReference();
    if (this.errors.length === 0 && !this.#checkExpandedSize()) {
      throw new WorkflowImportError(
        this.errors,
        "Nothing was converted. Real workflows expand to a few hundred nodes: check the file's subgraph definitions (or split the workflow).",
      );
    }
    if (this.options.controlModes && this.errors.length === 0) this.#applyControls(root);
    for (const node of executionOrder(this.ui.root)) this.#visit(root, node, new Set());
    this.#dropLinksToMissing();
    this.#checkCycles();
    applyQueueTimeBehaviour(this.prompt, this.schema, this.options, this.warnings, {
      title: this.#titles(),
      lookup: (name, widget) => this.#widgetLookup()(name, widget),
      rawValues: this.#rawValues,
    });
    if (this.errors.length) {
      throw new WorkflowImportError(
        this.errors,
        "Fix the links named above in the editor (or re-save the workflow), then convert again.",
      );
    }
    if (this.options.strict && this.warnings.length) {
      throw new WorkflowImportError(
        this.warnings,
        "Converted with --strict: every warning is an error. Drop --strict to accept them.",
      );
    }
    return { prompt: this.prompt, warnings: this.warnings };
  }

  #titles(): (nodeId: string) => string | undefined {
    return (nodeId) => this.prompt[nodeId]?._meta?.title;
  }

  /** Emits a node, or expands it when it holds a subgraph or is a group node. */
  #visit(scope: Scope, node: GraphNode, expanding: Set<string>): void {
    const def = this.#definitionOf(node);
    if (def) {
      // Muted or bypassed instances are not expanded (v1.39.3+); nested ones always are.
      if (scope.path.length === 0 && (node.mode === MUTED || node.mode === BYPASSED)) return;
      if (expanding.has(def.id)) return; // reported by #checkSelfReference
      const inner = innerScope(scope, node, def.graph);
      this.#warnPromotedValues(inner, node, def);
      const next = new Set(expanding).add(def.id);
      for (const child of def.graph.nodes) this.#visit(inner, child, next);
      return;
    }
    if (VIRTUAL_TYPES.has(node.type)) return;
    if (EDITOR_ONLY_PACK_TYPES.has(node.type)) {
      this.#warn(
        scope,
        node,
        "editor_only_node",
        "an editor-only node (rgthree); left out as the editor leaves it out",
      );
      return;
    }
    if (node.mode === MUTED || node.mode === BYPASSED) return;
    this.#emit(scope, node);
  }

  #emit(scope: Scope, node: GraphNode): void {
    const id = execId(scope, node);
    const cls = this.schema.classes.get(node.type);
    const inputs: Record<string, PromptValue> = {};
    const mapped = this.#widgets(scope, node);
    if (mapped) {
      for (const [key, value] of mapped.values) inputs[key] = wrap(value);
      if (mapped.defaulted.length) {
        this.#warn(
          scope,
          node,
          "widget_values_missing",
          `the file has no value for ${mapped.defaulted.join(", ")}; the definition's default is used, as the editor does`,
        );
      }
      if (mapped.surplus.length) {
        this.#warn(
          scope,
          node,
          "widget_values_surplus",
          `${mapped.surplus.length} stored widget value(s) beyond the class's widgets are ignored (${mapped.surplus
            .map((v) => JSON.stringify(v))
            .join(", ")
            .slice(
              0,
              120,
            )}); the node's definition may differ from the one the file was saved with`,
        );
      }
      if (mapped.droppedLegacyForceInputs) {
        this.#warn(
          scope,
          node,
          "legacy_force_input_values",
          "values of forceInput inputs from a pre-v1.16 file were dropped, as the editor does",
        );
      }
    } else if (!cls) {
      const count = Array.isArray(node.widgetsValues)
        ? node.widgetsValues.length
        : Object.keys(node.widgetsValues ?? {}).length;
      this.#warn(
        scope,
        node,
        "unknown_class",
        `class "${node.type}" is not in the schema; the node is kept with its links` +
          (count ? ` but its ${count} widget value(s) cannot be named and are left out` : "") +
          ". Convert against the object_info of a server that has this node pack",
      );
    }
    // A PrimitiveNode writes its value into each directly linked widget (applyToGraph, §5.1),
    // whatever its own mode (§5.8).
    for (const input of node.inputs) {
      const source = this.#primitiveSource(scope, input.link);
      if (!source) continue;
      const state = this.#primitive(scope, source);
      if (state.value === undefined) continue;
      inputs[input.widget?.name ?? input.name] = wrap(this.#primitiveSent(scope, source, state));
    }
    for (let i = 0; i < node.inputs.length; i++) {
      const input = node.inputs[i]!;
      if (input.link === null || input.link === undefined) continue;
      const r = this.#resolveInput(scope, node, i, undefined);
      if (r.kind === "link") inputs[input.name] = [r.nodeId, r.slot];
      else if (r.kind === "value") {
        inputs[input.name] = wrap(r.value);
        let raw = this.#rawValues.get(id);
        if (!raw) this.#rawValues.set(id, (raw = new Set()));
        raw.add(input.name);
      }
    }
    const entry: PromptNode = {
      inputs,
      class_type: node.type,
      _meta: { title: node.title ?? cls?.displayName ?? node.type },
    };
    this.prompt[id] = entry;
  }

  /**
   * Widget values of a node of a known class: the node's widget state, built once per node
   * object (queue-time control modes change it in place, as the editor changes its widgets).
   */
  #widgets(_scope: Scope, node: GraphNode): MappedWidgets | undefined {
    if (this.#mapped.has(node)) return this.#mapped.get(node);
    const cls = this.schema.classes.get(node.type);
    const mapped = cls ? mapWidgetValues(cls, node.widgetsValues) : undefined;
    this.#mapped.set(node, mapped);
    return mapped;
  }

  /** The PrimitiveNode a link id comes from, if it does. */
  #primitiveSource(scope: Scope, linkId: number | null | undefined): GraphNode | undefined {
    if (linkId === null || linkId === undefined) return undefined;
    const link = scope.graph.links.get(linkId);
    const source = link && scope.graph.byId.get(link.originId);
    return source?.type === "PrimitiveNode" ? source : undefined;
  }

  /**
   * A PrimitiveNode's widget state (§5.1): `widgets_values` is `[value, control, filter]`, its
   * widgets built from the spec of the first input it feeds. The control exists for number and
   * combo targets; it starts `fixed` unless the target's own spec has a control (a seed).
   */
  #primitive(scope: Scope, node: GraphNode): PrimitiveState {
    const known = this.#primitives.get(node);
    if (known) return known;
    const stored = Array.isArray(node.widgetsValues) ? node.widgetsValues : [];
    let target: InputIR | undefined;
    for (const linkId of node.outputs[0]?.links ?? []) {
      const link = scope.graph.links.get(linkId);
      const consumer = link && scope.graph.byId.get(link.targetId);
      const input = consumer?.inputs.find((i) => i.link === linkId);
      const cls = consumer && this.schema.classes.get(consumer.type);
      const name = input?.widget?.name ?? input?.name;
      target = cls?.inputs.find((i) => i.name === name);
      if (link) break;
    }
    let control: WidgetControl | undefined;
    if (target && (target.kind === "int" || target.kind === "float" || target.kind === "combo")) {
      const own = target.config[1]?.["control_after_generate"];
      const mode = stored[1] ? fixControlMode("PrimitiveNode", stored[1]) : undefined;
      control = {
        input: target,
        mode: mode ?? (own ? defaultControlMode(target) : "fixed"),
        filter: target.kind === "combo" ? (stored[2] ?? "") : "",
      };
    }
    const state: PrimitiveState = { value: stored.length ? stored[0] : undefined, control };
    this.#primitives.set(node, state);
    return state;
  }

  /** What a primitive writes into its targets: its value after text replacement when asked (§3.9). */
  #primitiveSent(scope: Scope, node: GraphNode, state: PrimitiveState): unknown {
    if ("sent" in state) return state.sent;
    state.sent = state.value;
    if (
      typeof state.value === "string" &&
      state.value &&
      node.properties["Run widget replace on values"] === true
    ) {
      const now =
        typeof this.options.filenamePlaceholders === "object"
          ? this.options.filenamePlaceholders.now
          : new Date();
      const replaced = placeholders(
        state.value,
        now,
        this.#widgetLookup(),
        this.options,
        this.warnings,
        { ...this.#problem(scope, node, "", ""), input: "value" },
      );
      if (replaced !== undefined) state.sent = replaced;
    }
    return state.sent;
  }

  /**
   * Queue-time control modes (§3.9 item 1, option `controlModes`): every control widget of every
   * node applies its mode once, in the editor's `forEachNode` order (graph order, a subgraph's
   * nodes before its instance and once per instance, muted nodes included), before anything
   * reads the values.
   */
  #applyControls(root: Scope): void {
    const random =
      typeof this.options.controlModes === "object"
        ? this.options.controlModes.random
        : Math.random;
    const change = (
      scope: Scope,
      node: GraphNode,
      key: string,
      from: unknown,
      to: unknown,
      mode: string,
    ) => {
      if (node.mode === MUTED || node.mode === BYPASSED) return;
      this.#warn(
        scope,
        node,
        "control_mode_applied",
        `${key} ${JSON.stringify(from, bigints)} became ${JSON.stringify(to, bigints)} (control_after_generate "${mode}", option controlModes)`,
      );
    };
    const visit = (scope: Scope, expanding: ReadonlySet<string>): void => {
      for (const node of scope.graph.nodes) {
        const def = this.#definitionOf(node);
        if (def && !expanding.has(def.id)) {
          visit(innerScope(scope, node, def.graph), new Set(expanding).add(def.id));
        }
        if (node.type === "PrimitiveNode") {
          const state = this.#primitive(scope, node);
          const control = state.control;
          if (!control || !isControlMode(control.mode) || state.value === undefined) continue;
          const next = applyControl(control, state.value, random);
          if (next !== state.value) change(scope, node, "value", state.value, next, control.mode);
          state.value = next;
          continue;
        }
        const mapped = this.#widgets(scope, node);
        for (const [key, control] of mapped?.controls ?? []) {
          if (!isControlMode(control.mode)) continue;
          const from = mapped!.values.get(key);
          const next = applyControl(control, from, random);
          if (next === from) continue;
          mapped!.values.set(key, next);
          change(scope, node, key, from, next, control.mode);
        }
      }
    };
    visit(root, new Set());
  }

  /**
   * `%Node.widget%` lookups (frontend `applyTextReplacements`): the first node, in
   * `collectAllNodes` order (a subgraph's nodes before its instance), whose
   * `Node name for S&R` is the name, else the first whose title is; then its widget's value.
   */
  #widgetLookup(): WidgetLookup {
    if (this.#lookup) return this.#lookup;
    const all: { scope: Scope; node: GraphNode }[] = [];
    const collect = (scope: Scope, expanding: ReadonlySet<string>): void => {
      for (const node of scope.graph.nodes) {
        const def = this.ui.subgraphs.get(node.type);
        if (def && !expanding.has(def.id))
          collect(innerScope(scope, node, def.graph), new Set(expanding).add(def.id));
        all.push({ scope, node });
      }
    };
    collect({ graph: this.ui.root, path: [] }, new Set());
    const alias = (node: GraphNode): unknown => {
      if ("Node name for S&R" in node.properties) return node.properties["Node name for S&R"];
      // The editor gives every node of a server class this alias on creation, save nodes aside.
      return this.schema.classes.has(node.type) && !SAVE_NODES.has(node.type)
        ? node.type
        : undefined;
    };
    const title = (node: GraphNode) =>
      node.title ?? this.schema.classes.get(node.type)?.displayName ?? node.type;
    this.#lookup = (name, widget) => {
      let hit = all.find((n) => alias(n.node) === name);
      hit ??= all.find((n) => title(n.node) === name);
      if (!hit) return undefined;
      const { scope, node } = hit;
      if (node.type === "PrimitiveNode") {
        const state = this.#primitive(scope, node);
        if (widget === "value" && state.value !== undefined) return { value: state.value };
        if (widget === "control_after_generate" && state.control)
          return { value: state.control.mode };
        return undefined;
      }
      const mapped = this.#widgets(scope, node);
      if (!mapped) return undefined;
      if (mapped.values.has(widget)) {
        // A primitive writes its value into the widgets it feeds before serialisation.
        const input = node.inputs.find((i) => (i.widget?.name ?? i.name) === widget);
        const source = this.#primitiveSource(scope, input?.link);
        if (source) {
          const state = this.#primitive(scope, source);
          if (state.value !== undefined) return { value: state.value };
        }
        return { value: mapped.values.get(widget) };
      }
      for (const control of mapped.controls.values())
        if (widget === "control_after_generate") return { value: control.mode };
      return undefined;
    };
    return this.#lookup;
  }

  /** §4.4 `resolveInput`: what input `index` of `node` receives. */
  #resolveInput(scope: Scope, node: GraphNode, index: number, type: string | undefined): Resolved {
    const input = node.inputs[index];
    if (!input || input.link === null || input.link === undefined) return NONE;
    const link = scope.graph.links.get(input.link);
    if (!link) {
      this.#error(
        scope,
        node,
        "dangling_link",
        `input "${input.name}" uses link ${input.link}, which the file's link table does not have`,
      );
      return NONE;
    }
    const def = scope.graph.definition;
    if (def && link.originId === SUBGRAPH_INPUT_ID) {
      return this.#resolveBoundaryInput(scope, def, link.originSlot);
    }
    const source = scope.graph.byId.get(link.originId);
    if (!source) {
      this.#error(
        scope,
        node,
        "missing_node",
        `input "${input.name}" is linked to node ${link.originId}, which does not exist`,
      );
      return NONE;
    }
    return this.#resolveOutput(scope, source, link.originSlot, type ?? typeName(input.type));
  }

  /** An inner input fed from the subgraph's input `slot`: continue outside, or the promoted value. */
  #resolveBoundaryInput(scope: Scope, def: SubgraphDefinition, slot: number): Resolved {
    const boundary = def.inputs[slot];
    const instance = scope.instance;
    const parent = scope.parent;
    if (!boundary || !instance || !parent) return NONE;
    const outer = instance.inputs.findIndex((i) => i.name === boundary.name);
    const outerInput = instance.inputs[outer];
    if (outerInput && outerInput.link !== null && outerInput.link !== undefined) {
      return this.#resolveInput(parent, instance, outer, undefined);
    }
    const value = this.#promotedValue(scope, boundary.linkIds);
    return value === undefined ? NONE : { kind: "value", value };
  }

  /**
   * The value of an unlinked promoted input: the editor's promoted widget shows (and sends) the
   * first inner widget fed from that input (v1.41.4+ views; v1.45 does not apply the instance's
   * own stored values, §8.11).
   */
  #promotedValue(scope: Scope, linkIds: readonly number[]): unknown {
    for (const linkId of linkIds) {
      const link = scope.graph.links.get(linkId);
      const target = link && scope.graph.byId.get(link.targetId);
      if (!link || !target) continue;
      const input = target.inputs.find((i) => i.link === linkId);
      if (!input?.widget) continue;
      const mapped = this.#widgets(scope, target);
      const key = input.widget.name ?? input.name;
      if (mapped?.values.has(key)) return mapped.values.get(key);
    }
    return undefined;
  }

  /** §4.4 `resolveOutput`: what a consumer of output `slot` of `node` receives. */
  #resolveOutput(scope: Scope, node: GraphNode, slot: number, type: string | undefined): Resolved {
    // The editor throws a RecursionError when a walk comes back to a node slot it is resolving.
    const key = `${execId(scope, node)}\u0000${slot}`;
    if (this.#resolving.has(key)) {
      if (!this.#loops.has(key)) {
        this.#loops.add(key);
        this.#error(
          scope,
          node,
          "cycle",
          `output ${slot} leads back to itself through reroutes, bypassed nodes, Get/Set nodes or subgraph boundaries (the editor stops with a RecursionError)`,
        );
      }
      return NONE;
    }
    if (this.#resolving.size >= MAX_RESOLVE_DEPTH) {
      if (!this.#loops.has("depth")) {
        this.#loops.add("depth");
        this.#error(
          scope,
          node,
          "too_deep",
          `a link passes through more than ${MAX_RESOLVE_DEPTH} reroutes, bypassed nodes, Get/Set nodes or subgraph boundaries`,
        );
      }
      return NONE;
    }
    this.#resolving.add(key);
    try {
      return this.#resolveOutputOnce(scope, node, slot, type);
    } finally {
      this.#resolving.delete(key);
    }
  }

  #resolveOutputOnce(
    scope: Scope,
    node: GraphNode,
    slot: number,
    type: string | undefined,
  ): Resolved {
    if (node.mode === MUTED) return NONE;
    const def = this.#definitionOf(node);
    if (node.mode === BYPASSED) {
      const j = this.#bypassSlot(node, def, slot, type);
      if (j === undefined) {
        this.#warn(
          scope,
          node,
          "bypass_unmatched",
          `bypassed: no input matches type ${type ?? "*"} of output ${slot}, so its consumers get nothing (the editor warns "No input types match")`,
        );
        return NONE;
      }
      return this.#resolveInput(scope, node, j, undefined);
    }
    if (def) {
      const boundary = def.outputs[slot];
      const linkId = boundary?.linkIds[0];
      const link = linkId === undefined ? undefined : def.graph.links.get(linkId);
      if (!link) return NONE;
      const inner = innerScope(scope, node, def.graph);
      if (link.originId === SUBGRAPH_INPUT_ID)
        return this.#resolveBoundaryInput(inner, def, link.originSlot);
      const source = def.graph.byId.get(link.originId);
      if (!source) {
        this.#error(
          inner,
          node,
          "missing_node",
          `subgraph output ${slot} is linked to inner node ${link.originId}, which does not exist`,
        );
        return NONE;
      }
      return this.#resolveOutput(inner, source, link.originSlot, type);
    }
    switch (node.type) {
      case "Reroute":
      case "SetNode":
        return this.#resolveInput(scope, node, 0, type);
      case "GetNode":
        return this.#resolveGetNode(scope, node, type);
      case "PrimitiveNode":
      case "Note":
      case "MarkdownNote":
        return NONE;
    }
    return { kind: "link", nodeId: execId(scope, node), slot };
  }

  /** KJNodes GetNode: the input of the SetNode of the same name, here or in enclosing graphs. */
  #resolveGetNode(scope: Scope, node: GraphNode, type: string | undefined): Resolved {
    const name = Array.isArray(node.widgetsValues) ? node.widgetsValues[0] : undefined;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const setter = s.graph.nodes.find(
        (n) =>
          n.type === "SetNode" && Array.isArray(n.widgetsValues) && n.widgetsValues[0] === name,
      );
      if (setter) return this.#resolveInput(s, setter, 0, type);
    }
    this.#warn(
      scope,
      node,
      "getnode_unmatched",
      `GetNode "${String(name)}" has no SetNode of that name; its consumers get nothing`,
    );
    return NONE;
  }

  /**
   * §4.5: which input of a bypassed node stands in for output `slot`, as an index into the
   * node's `inputs` in the file (undefined: none).
   */
  #bypassSlot(
    node: GraphNode,
    def: SubgraphDefinition | undefined,
    slot: number,
    wanted: string | undefined,
  ): number | undefined {
    const cls = this.schema.classes.get(node.type);
    // The live socket list: definition order, then inputs the definition does not know.
    let live: { name: string; type: string }[];
    if (def) live = def.inputs.map((i) => ({ name: i.name, type: typeName(i.type) ?? "*" }));
    else if (cls) live = liveSocketNames(cls);
    else live = [];
    const fileTypes = new Map(node.inputs.map((i) => [i.name, typeName(i.type)]));
    live = live.map((s) => ({ name: s.name, type: fileTypes.get(s.name) ?? s.type }));
    for (const i of node.inputs)
      if (!live.some((s) => s.name === i.name))
        live.push({ name: i.name, type: typeName(i.type) ?? "*" });
    const outType =
      typeName(node.outputs[slot]?.type) ??
      (def ? typeName(def.outputs[slot]?.type) : cls?.outputs[slot]?.type) ??
      "*";
    const T = wanted ?? "*";
    let pick: number | undefined;
    if (T === "*" || T === "") pick = live[slot] ? slot : live.length ? 0 : undefined;
    else if (
      live[slot] &&
      isValidConnection(live[slot].type, outType) &&
      isValidConnection(live[slot].type, T)
    )
      pick = slot;
    else {
      const exact = live.findIndex((s) => s.type === T);
      if (exact >= 0) pick = exact;
      else {
        const loose = live.findIndex(
          (s) => isValidConnection(s.type, outType) && isValidConnection(s.type, T),
        );
        if (loose >= 0) pick = loose;
      }
    }
    if (pick === undefined) return undefined;
    const name = live[pick]!.name;
    const index = node.inputs.findIndex((i) => i.name === name);
    // An input that exists but is not in the file is unconnected: the consumer gets nothing.
    return index >= 0 ? index : -1;
  }

  #definitionOf(node: GraphNode): SubgraphDefinition | undefined {
    const sub = this.ui.subgraphs.get(node.type);
    if (sub) return sub;
    if (!isGroupNodeType(node.type)) return undefined;
    let def = this.#groups.get(node);
    if (!def) {
      const made = groupNodeDefinition(node, this.ui.groupNodes, this.schema);
      for (const message of made.warnings)
        this.#warn({ graph: this.ui.root, path: [] }, node, "group_node", message);
      if (made.error) {
        this.#error({ graph: this.ui.root, path: [] }, node, "group_node", made.error);
        return undefined;
      }
      def = made.definition!;
      this.#groups.set(node, def);
    }
    return def;
  }

  /** Warns where an instance stores a promoted value that differs from what the editor sends. */
  #warnPromotedValues(inner: Scope, instance: GraphNode, def: SubgraphDefinition): void {
    const stored = instance.widgetsValues;
    if (!Array.isArray(stored) || stored.length === 0) return;
    const proxy = instance.properties["proxyWidgets"];
    let pairs: [string, unknown][] = [];
    if (Array.isArray(proxy)) {
      proxy.forEach((entry, i) => {
        if (Array.isArray(entry) && String(entry[0]) === "-1" && typeof entry[1] === "string")
          pairs.push([entry[1], stored[i]]);
      });
    } else {
      // v1.24–v1.28: one value per definition input that feeds an inner widget.
      const widgetInputs = def.inputs.filter((input) =>
        input.linkIds.some((id) => {
          const link = def.graph.links.get(id);
          const target = link && def.graph.byId.get(link.targetId);
          return target?.inputs.some((i) => i.link === id && i.widget);
        }),
      );
      pairs = widgetInputs.map((input, i) => [input.name, stored[i]]);
    }
    for (const [name, value] of pairs) {
      const boundary = def.inputs.find((i) => i.name === name);
      const outer = instance.inputs.find((i) => i.name === name);
      if (!boundary || (outer && outer.link !== null && outer.link !== undefined)) continue;
      const sent = this.#promotedValue(inner, boundary.linkIds);
      if (
        value !== undefined &&
        value !== null &&
        sent !== undefined &&
        JSON.stringify(sent) !== JSON.stringify(value)
      ) {
        this.#warn(
          { graph: this.ui.root, path: inner.path.slice(0, -1) },
          instance,
          "promoted_value_differs",
          `the instance stores ${JSON.stringify(value)} for promoted input "${name}", but the editor (v1.45) sends the inner node's ${JSON.stringify(sent)}`,
        );
      }
    }
  }

  /** Final step of graphToPrompt: inputs linked to ids not in the prompt are deleted (§4.3). */
  #dropLinksToMissing(): void {
    for (const node of Object.values(this.prompt)) {
      for (const [key, value] of Object.entries(node.inputs)) {
        if (Array.isArray(value) && value.length === 2 && !(String(value[0]) in this.prompt))
          delete node.inputs[key];
      }
    }
  }

  /** A subgraph that contains itself, directly or through others, cannot be expanded. */
  #checkSelfReference(): void {
    const state = new Map<string, "active" | "done">();
    const visit = (def: SubgraphDefinition, trail: string[]): void => {
      state.set(def.id, "active");
      for (const node of def.graph.nodes) {
        const inner = this.ui.subgraphs.get(node.type);
        if (!inner) continue;
        if (state.get(inner.id) === "active") {
          this.errors.push({
            kind: "recursive_subgraph",
            nodeId: node.id,
            classType: node.type,
            ...(node.title ? { title: node.title } : {}),
            message: `subgraph "${def.name}" contains itself (${[...trail, def.name, inner.name].join(" → ")})`,
          });
        } else if (!state.has(inner.id)) visit(inner, [...trail, def.name]);
      }
      state.set(def.id, "done");
    };
    for (const def of this.ui.subgraphs.values()) if (!state.has(def.id)) visit(def, []);
  }

  /**
   * Refuses a document whose subgraph instances expand to more than {@link MAX_EXPANDED_NODES}
   * nodes or nest deeper than {@link MAX_SUBGRAPH_DEPTH}, measured per definition without
   * expanding anything (runs after the self-reference check, so definitions form no loop).
   * False (with the error recorded) when the document is refused.
   */
  #checkExpandedSize(): boolean {
    const measured = new Map<string, { size: number; depth: number }>();
    const measure = (graph: Graph, def?: SubgraphDefinition, level = 0) => {
      const known = def && measured.get(def.id);
      if (known) return known;
      let size = 0;
      let depth = 0;
      for (const node of graph.nodes) {
        const inner = this.ui.subgraphs.get(node.type);
        if (inner && level < MAX_SUBGRAPH_DEPTH) {
          const m = measure(inner.graph, inner, level + 1);
          size += 1 + m.size;
          depth = Math.max(depth, 1 + m.depth);
        } else size += 1;
        if (inner && level >= MAX_SUBGRAPH_DEPTH) depth = Math.max(depth, 1);
        if (size > MAX_EXPANDED_NODES) break;
      }
      const result = { size, depth };
      if (def) measured.set(def.id, result);
      return result;
    };
    for (const node of this.ui.root.nodes) {
      const def = this.ui.subgraphs.get(node.type);
      if (!def) continue;
      const { size, depth } = measure(def.graph, def, 1);
      const problem =
        depth + 1 > MAX_SUBGRAPH_DEPTH
          ? `subgraph "${def.name}" nests subgraphs more than ${MAX_SUBGRAPH_DEPTH} levels deep`
          : size > MAX_EXPANDED_NODES
            ? `subgraph "${def.name}" expands to more than ${MAX_EXPANDED_NODES} nodes (its nested instances multiply)`
            : undefined;
      if (!problem) continue;
      this.#error(
        { graph: this.ui.root, path: [] },
        node,
        depth + 1 > MAX_SUBGRAPH_DEPTH ? "too_deep" : "too_large",
        problem,
      );
      return false;
    }
    if (measure(this.ui.root).size <= MAX_EXPANDED_NODES) return true;
    this.errors.push({
      kind: "too_large",
      message: `the workflow expands to more than ${MAX_EXPANDED_NODES} nodes once its subgraphs are expanded`,
    });
    return false;
  }

  /** A cycle among emitted nodes: the server would reject it, so report it with the nodes. */
  #checkCycles(): void {
    const color = new Map<string, 1 | 2>();
    const stackIds: string[] = [];
    const reported = new Set<string>();
    const visit = (id: string): void => {
      color.set(id, 1);
      stackIds.push(id);
      for (const value of Object.values(this.prompt[id]!.inputs)) {
        if (!Array.isArray(value) || value.length !== 2) continue;
        const dep = String(value[0]);
        if (!(dep in this.prompt)) continue;
        if (color.get(dep) === 1) {
          const cycle = stackIds.slice(stackIds.indexOf(dep));
          const key = [...cycle].sort().join(",");
          if (!reported.has(key)) {
            reported.add(key);
            const first = this.prompt[dep]!;
            this.errors.push({
              kind: "cycle",
              nodeId: dep,
              classType: first.class_type,
              ...(first._meta?.title ? { title: first._meta.title } : {}),
              message: `the graph has a cycle: ${[...cycle, dep].map((n) => `${n} (${this.prompt[n]!.class_type})`).join(" → ")}`,
            });
          }
        } else if (!color.has(dep)) visit(dep);
      }
      stackIds.pop();
      color.set(id, 2);
    };
    for (const id of Object.keys(this.prompt)) if (!color.has(id)) visit(id);
  }

  #problem(scope: Scope, node: GraphNode, kind: string, message: string): ImportProblem {
    const cls = this.schema.classes.get(node.type);
    const title = node.title ?? cls?.displayName;
    return {
      kind,
      nodeId: execId(scope, node),
      classType: node.type,
      ...(title ? { title } : {}),
      message,
    };
  }

  #warn(scope: Scope, node: GraphNode, kind: string, message: string): void {
    this.warnings.push(this.#problem(scope, node, kind, message));
  }

  #error(scope: Scope, node: GraphNode, kind: string, message: string): void {
    this.errors.push(this.#problem(scope, node, kind, message));
  }
}

function execId(scope: Scope, node: GraphNode): string {
  if (scope.path.length === 0) return node.id;
  return `${scope.prefix ?? `${scope.path.join(":")}:`}${node.id}`;
}

/** The scope inside subgraph instance `instance` of `parent`. */
function innerScope(parent: Scope, instance: GraphNode, graph: Graph): Scope {
  const path = [...parent.path, instance.id];
  return { graph, path, prefix: `${path.join(":")}:`, instance, parent };
}

/** A list constant travels as `{"__value__": [...]}`: a bare array is a link to the server. */
function wrap(value: unknown): PromptValue {
  if (Array.isArray(value)) return { __value__: value };
  return value as PromptValue;
}

const bigints = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

function typeName(type: unknown): string | undefined {
  if (typeof type === "string") return type;
  if (typeof type === "number") return String(type);
  if (Array.isArray(type)) return type.join(",");
  return undefined;
}

/** LiteGraph's `isValidConnection` (§4.5): wildcards, then case-insensitive comma unions. */
export function isValidConnection(a: string, b: string): boolean {
  if (a === "" || a === "*" || b === "" || b === "*" || a === b) return true;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  if (!x.includes(",") && !y.includes(",")) return false;
  const xs = x.split(",");
  const ys = y.split(",");
  return xs.some((p) => ys.includes(p));
}

/**
 * LiteGraph's `computeExecutionOrder`: nodes without linked inputs first, then each node once
 * all its linked inputs are satisfied (following `outputs[].links`), ties in array order; nodes
 * left over (cycles, dangling links) at the end in id order.
 */
export function executionOrder(graph: Graph): GraphNode[] {
  const remaining = new Map<GraphNode, number>();
  const queue: GraphNode[] = [];
  for (const node of graph.nodes) {
    const n = node.inputs.filter((i) => i.link !== null && i.link !== undefined).length;
    if (n === 0) queue.push(node);
    else remaining.set(node, n);
  }
  const order: GraphNode[] = [];
  const done = new Set<GraphNode>();
  const visitedLinks = new Set<number>();
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    order.push(node);
    done.add(node);
    for (const output of node.outputs) {
      for (const linkId of output.links ?? []) {
        if (visitedLinks.has(linkId)) continue;
        const link = graph.links.get(linkId);
        if (!link) continue;
        visitedLinks.add(linkId);
        const target = graph.byId.get(link.targetId);
        if (!target || !remaining.has(target)) continue;
        const left = remaining.get(target)! - 1;
        remaining.set(target, left);
        if (left === 0) {
          remaining.delete(target);
          queue.push(target);
        }
      }
    }
  }
  const rest = graph.nodes.filter((n) => !done.has(n));
  rest.sort((a, b) => numericOrder(a.id) - numericOrder(b.id));
  return [...order, ...rest];
}

function numericOrder(id: string): number {
  const n = Number(id);
  return Number.isInteger(n) && n >= 0 ? n : Number.MAX_SAFE_INTEGER;
}
