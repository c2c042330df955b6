import {
  UiSubgraphSchema,
  UiWorkflowSchema,
  type UiInput,
  type UiNode,
  type UiOutput,
  type UiSubgraph,
  type UiWorkflow,
} from "../protocol/ui-workflow.js";
import { invalidWorkflow, WorkflowImportError, type ImportProblem } from "./errors.js";

/**
 * The UI document as conversion reads it: both link spellings unified, node ids as strings,
 * subgraph definitions collected from every level, and (by default) inner node ids renumbered
 * as the editor does on load. Built by {@link readUiDocument}; plain data, never mutated after.
 */

/** A link, whatever its spelling in the file. */
export interface GraphLink {
  readonly id: number;
  readonly originId: string;
  readonly originSlot: number;
  readonly targetId: string;
  readonly targetSlot: number;
  readonly type: unknown;
}

/** A node of a root graph or of a subgraph definition. */
export interface GraphNode {
  /** `String(id)` as in the file (after the editor's renumbering inside definitions). */
  readonly id: string;
  readonly type: string;
  readonly mode: number;
  readonly title: string | undefined;
  readonly inputs: readonly UiInput[];
  readonly outputs: readonly UiOutput[];
  readonly widgetsValues: readonly unknown[] | Readonly<Record<string, unknown>> | undefined;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** One graph: the root, or the body of a subgraph definition. */
export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly byId: ReadonlyMap<string, GraphNode>;
  readonly links: ReadonlyMap<number, GraphLink>;
  /** Set for a definition's body. */
  readonly definition?: SubgraphDefinition;
}

/** A boundary input or output of a subgraph definition. */
export interface SubgraphSlot {
  readonly name: string;
  readonly type: unknown;
  readonly linkIds: readonly number[];
}

/** A subgraph definition (§5.4). */
export interface SubgraphDefinition {
  readonly id: string;
  readonly name: string;
  readonly inputs: readonly SubgraphSlot[];
  readonly outputs: readonly SubgraphSlot[];
  readonly graph: Graph;
}

/** A parsed UI document. */
export interface UiDocument {
  readonly root: Graph;
  readonly subgraphs: ReadonlyMap<string, SubgraphDefinition>;
  /** `extra.groupNodes`: legacy group-node definitions by name (§5.5), unparsed. */
  readonly groupNodes: Readonly<Record<string, unknown>>;
  /** Inner node ids the editor's load would renumber: `definition id → old id → new id`. */
  readonly renumbered: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** `extra.frontendVersion`, when the file says. */
  readonly frontendVersion: string | undefined;
}

/** Options of {@link readUiDocument}. */
export interface ReadUiOptions {
  /**
   * Renumber inner node ids of subgraph definitions that clash with root ids or ids of earlier
   * definitions, as the editor does on load since frontend v1.41.14
   * (`deduplicateSubgraphNodeIds`). Default `true`, so execution ids match what the editor
   * queues; `false` keeps the ids in the file.
   */
  readonly renumberSubgraphIds?: boolean;
}

/** Sentinel node ids of a subgraph's boundary: its input node and its output node. */
export const SUBGRAPH_INPUT_ID = "-10";
export const SUBGRAPH_OUTPUT_ID = "-20";

/** True when `raw` looks like a UI-format document (it has `nodes` and links or counters). */
export function isUiDocumentShape(raw: unknown): raw is Record<string, unknown> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return false;
  const o = raw as Record<string, unknown>;
  return (
    Array.isArray(o["nodes"]) &&
    ("links" in o || "last_node_id" in o || "version" in o || "state" in o)
  );
}

/**
 * Checks an untrusted UI document and builds its {@link UiDocument}. Throws one
 * {@link WorkflowImportError} (`WORKFLOW_INVALID`) naming the node and field of the first
 * problems when the document does not have the shape of §1–§2.
 */
export function readUiDocument(raw: unknown, options: ReadUiOptions = {}): UiDocument {
  let doc: UiWorkflow;
  // Most files already have exactly the checked shape: take them as they are, without the
  // copy zod makes of every node. Anything else goes through the schema, which also repairs
  // cosmetic fields of the wrong type and words the errors.
  if (isStrictDocument(raw)) doc = raw;
  else {
    const parsed = UiWorkflowSchema.safeParse(raw);
    if (!parsed.success) throw shapeError(raw, parsed.error.issues);
    doc = parsed.data;
  }
  const definitions = collectDefinitions(doc);
  const renumbered =
    options.renumberSubgraphIds === false ? new Map() : renumberInnerIds(doc, definitions);
  const subgraphs = new Map<string, SubgraphDefinition>();
  for (const def of definitions) {
    if (subgraphs.has(def.id)) continue;
    const remap = renumbered.get(def.id);
    const slots = (list: UiSubgraph["inputs"]): SubgraphSlot[] =>
      (list ?? []).map((s: NonNullable<UiSubgraph["inputs"]>[number]) => ({
        name: s.name,
        type: s.type,
        linkIds: s.linkIds ?? [],
      }));
    const definition: { -readonly [K in keyof SubgraphDefinition]: SubgraphDefinition[K] } = {
      id: def.id,
      name: def.name ?? def.id,
      inputs: slots(def.inputs),
      outputs: slots(def.outputs),
      graph: undefined as unknown as Graph,
    };
    definition.graph = buildGraph(def.nodes, def.links, remap, definition);
    subgraphs.set(def.id, definition);
  }
  const extra = doc.extra ?? {};
  const groupNodes = extra["groupNodes"];
  return {
    root: buildGraph(doc.nodes, doc.links, undefined, undefined),
    subgraphs,
    groupNodes:
      groupNodes && typeof groupNodes === "object" && !Array.isArray(groupNodes)
        ? (groupNodes as Record<string, unknown>)
        : {},
    renumbered,
    frontendVersion:
      typeof extra["frontendVersion"] === "string" ? extra["frontendVersion"] : undefined,
  };
}

function buildGraph(
  nodes: readonly UiNode[],
  links: readonly (unknown[] | Record<string, unknown> | null)[] | null | undefined,
  remap: ReadonlyMap<string, string> | undefined,
  definition: SubgraphDefinition | undefined,
): Graph {
  const byId = new Map<string, GraphNode>();
  const list: GraphNode[] = [];
  const re = (nodeId: string | number) => {
    const s = String(nodeId);
    return remap?.get(s) ?? s;
  };
  for (const n of nodes) {
    const node: GraphNode = {
      id: re(n.id),
      type: n.type,
      mode: n.mode ?? 0,
      title: n.title ?? undefined,
      inputs: n.inputs ?? [],
      outputs: n.outputs ?? [],
      widgetsValues: n.widgets_values ?? undefined,
      properties: n.properties ?? {},
    };
    // A duplicated id keeps its first node, as the editor's `graph.add` refuses the second.
    if (!byId.has(node.id)) byId.set(node.id, node);
    list.push(node);
  }
  const linkMap = new Map<number, GraphLink>();
  for (const l of links ?? []) {
    if (l === null) continue;
    const link: GraphLink = Array.isArray(l)
      ? {
          id: l[0] as number,
          originId: re(l[1] as number | string),
          originSlot: l[2] as number,
          targetId: re(l[3] as number | string),
          targetSlot: l[4] as number,
          type: l[5],
        }
      : {
          id: l["id"] as number,
          originId: re(l["origin_id"] as number | string),
          originSlot: l["origin_slot"] as number,
          targetId: re(l["target_id"] as number | string),
          targetSlot: l["target_slot"] as number,
          type: l["type"],
        };
    linkMap.set(link.id, link);
  }
  return { nodes: list, byId, links: linkMap, ...(definition ? { definition } : {}) };
}

/** Definitions from the root and, recursively, from inside definitions (first one wins). */
function collectDefinitions(doc: UiWorkflow): UiSubgraph[] {
  const out: UiSubgraph[] = [];
  const seen = new Set<string>();
  const visit = (list: readonly unknown[] | null | undefined) => {
    for (const raw of list ?? []) {
      let def: UiSubgraph;
      if (isStrictSubgraph(raw)) def = raw;
      else {
        const parsed = UiSubgraphSchema.safeParse(raw);
        if (!parsed.success)
          throw shapeError({ definitions: { subgraphs: [raw] } }, parsed.error.issues);
        def = parsed.data;
      }
      if (seen.has(def.id)) continue;
      seen.add(def.id);
      out.push(def);
      visit(def.definitions?.subgraphs);
    }
  };
  visit(doc.definitions?.subgraphs);
  return out;
}

/**
 * The editor's load-time renumbering (frontend v1.41.14+, `deduplicateSubgraphNodeIds`):
 * walking the definitions in file order, a numeric inner id already used by a root node or an
 * earlier definition gets the next free id above the graph's `lastNodeId` counter.
 */
function renumberInnerIds(
  doc: UiWorkflow,
  definitions: readonly UiSubgraph[],
): Map<string, Map<string, string>> {
  const used = new Set<number>();
  for (const n of doc.nodes) if (typeof n.id === "number") used.add(n.id);
  const counter = doc.state?.lastNodeId ?? doc.last_node_id;
  let last = typeof counter === "number" && Number.isFinite(counter) ? counter : 0;
  const out = new Map<string, Map<string, string>>();
  for (const def of definitions) {
    const remap = new Map<string, string>();
    for (const n of def.nodes) {
      if (typeof n.id !== "number") continue;
      if (used.has(n.id)) {
        do last++;
        while (used.has(last));
        remap.set(String(n.id), String(last));
        used.add(last);
      } else {
        used.add(n.id);
        if (n.id > last) last = n.id;
      }
    }
    if (remap.size) out.set(def.id, remap);
  }
  return out;
}

function shapeError(raw: unknown, issues: readonly ShapeIssue[]): WorkflowImportError {
  const problems: ImportProblem[] = [];
  for (const issue of issues.slice(0, 5).map(unionBranchIssue)) {
    const at = locate(raw, issue.path);
    problems.push({
      kind: "invalid_document",
      message: `${at.where || "document"}: ${issue.message}`,
      ...(at.nodeId !== undefined ? { nodeId: at.nodeId } : {}),
      ...(at.title ? { title: at.title } : {}),
      ...(at.classType ? { classType: at.classType } : {}),
    });
  }
  if (problems.length === 0) {
    return invalidWorkflow(
      "invalid_document",
      "not a UI workflow",
      "Export the workflow again from the editor (File → Export).",
    );
  }
  return new WorkflowImportError(
    problems,
    "The file does not have the shape of an editor workflow (schema 0.4 or 1); re-export it from the editor.",
  );
}

/** A zod issue as far as it can be read: its own fields, and a union's branch issues. */
interface ShapeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code?: string;
  readonly errors?: readonly (readonly ShapeIssue[])[];
}

/**
 * A union that matched no branch ("Invalid input", as zod says for a link that is neither an
 * array nor an object link) is reported by the branch that got furthest: the one whose issues
 * reach deepest into the value (`links[0].origin_slot`, not "expected array"), then the one with
 * the fewest issues. Other issues are returned as they are.
 */
function unionBranchIssue(issue: ShapeIssue): ShapeIssue {
  if (issue.code !== "invalid_union" || !issue.errors?.length) return issue;
  const depth = (branch: readonly ShapeIssue[]) => Math.max(0, ...branch.map((i) => i.path.length));
  const best = [...issue.errors]
    .filter((b) => b.length > 0)
    .sort((a, b) => depth(b) - depth(a) || a.length - b.length)[0];
  if (!best) return issue;
  const inner = unionBranchIssue(best[0]!);
  const more = best.length > 1 ? ` (and ${best.length - 1} more in this entry)` : "";
  return { path: [...issue.path, ...inner.path], message: `${inner.message}${more}` };
}

/** The node (if any) a zod issue path points into, and the path as text. */
function locate(
  raw: unknown,
  path: readonly PropertyKey[],
): { where: string; nodeId?: string; title?: string; classType?: string } {
  let at: unknown = raw;
  let node: Record<string, unknown> | undefined;
  let where = "";
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    where += typeof key === "number" ? `[${key}]` : where ? `.${String(key)}` : String(key);
    at =
      at !== null && typeof at === "object" ? (at as Record<PropertyKey, unknown>)[key] : undefined;
    if (path[i - 1] === "nodes" && at && typeof at === "object")
      node = at as Record<string, unknown>;
  }
  if (!node) return { where };
  const id = node["id"];
  const title = node["title"];
  const type = node["type"];
  return {
    where,
    ...(typeof id === "number" || typeof id === "string" ? { nodeId: String(id) } : {}),
    ...(typeof title === "string" ? { title } : {}),
    ...(typeof type === "string" ? { classType: type } : {}),
  };
}

// Strict shape checks: true only when a value already satisfies the zod schemas of
// `protocol/ui-workflow.ts` without any repair, so it can be used as it is.
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const opt = (v: unknown, test: (x: unknown) => boolean) => v === undefined || v === null || test(v);
const isStr = (v: unknown) => typeof v === "string";
const isNum = (v: unknown) => typeof v === "number";
const isId = (v: unknown) => typeof v === "number" || typeof v === "string";
const isWidgetRef = (v: unknown) => isObj(v) && opt(v["name"], isStr) && v["name"] !== null;

function isStrictInput(v: unknown): boolean {
  return (
    isObj(v) &&
    typeof v["name"] === "string" &&
    opt(v["link"], isNum) &&
    opt(v["label"], isStr) &&
    opt(v["widget"], isWidgetRef)
  );
}

function isStrictOutput(v: unknown): boolean {
  return (
    isObj(v) &&
    opt(v["name"], isStr) &&
    opt(v["links"], (l) => Array.isArray(l) && l.every(isNum)) &&
    opt(v["widget"], isWidgetRef)
  );
}

function isStrictNode(v: unknown): boolean {
  return (
    isObj(v) &&
    isId(v["id"]) &&
    typeof v["type"] === "string" &&
    opt(v["mode"], isNum) &&
    opt(v["title"], isStr) &&
    opt(v["inputs"], (a) => Array.isArray(a) && a.every(isStrictInput)) &&
    opt(v["outputs"], (a) => Array.isArray(a) && a.every(isStrictOutput)) &&
    opt(v["widgets_values"], (w) => typeof w === "object") &&
    opt(v["properties"], isObj)
  );
}

function isStrictLink(v: unknown): boolean {
  if (v === null) return true;
  if (Array.isArray(v)) {
    return v.length >= 5 && isNum(v[0]) && isId(v[1]) && isNum(v[2]) && isId(v[3]) && isNum(v[4]);
  }
  return (
    isObj(v) &&
    isNum(v["id"]) &&
    isId(v["origin_id"]) &&
    isNum(v["origin_slot"]) &&
    isId(v["target_id"]) &&
    isNum(v["target_slot"])
  );
}

function isStrictGraph(v: Obj): boolean {
  return (
    Array.isArray(v["nodes"]) &&
    v["nodes"].every(isStrictNode) &&
    opt(v["links"], (l) => Array.isArray(l) && l.every(isStrictLink)) &&
    opt(v["extra"], isObj)
  );
}

function isStrictSlot(v: unknown): boolean {
  return (
    isObj(v) &&
    typeof v["name"] === "string" &&
    opt(v["linkIds"], (l) => Array.isArray(l) && l.every(isNum)) &&
    opt(v["label"], isStr)
  );
}

const isStrictDefinitions = (v: unknown) =>
  opt(v, (d) => isObj(d) && opt(d["subgraphs"], Array.isArray));

function isStrictSubgraph(v: unknown): v is UiSubgraph {
  return (
    isObj(v) &&
    typeof v["id"] === "string" &&
    opt(v["name"], isStr) &&
    isStrictGraph(v) &&
    opt(v["inputs"], (a) => Array.isArray(a) && a.every(isStrictSlot)) &&
    opt(v["outputs"], (a) => Array.isArray(a) && a.every(isStrictSlot)) &&
    isStrictDefinitions(v["definitions"])
  );
}

function isStrictDocument(v: unknown): v is UiWorkflow {
  return (
    isObj(v) &&
    isStrictGraph(v) &&
    opt(
      v["state"],
      (st) => isObj(st) && opt(st["lastNodeId"], isNum) && st["lastNodeId"] !== null,
    ) &&
    isStrictDefinitions(v["definitions"])
  );
}
