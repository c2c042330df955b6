import { describeValue } from "../errors.js";
import type { InputIR } from "../schema/ir.js";
import { isDefinedNodeClass, type ClassSpec } from "./node-class.js";
import type { NodeSchema } from "../schema/ir.js";
import { validatePrompt, type ClassLookup, type ValidationResult } from "../schema/validate.js";
import { GraphError, PromptInvalidError } from "./errors.js";
import {
  captureCallSite,
  formatLocation,
  resolveCallSite,
  type CallSite,
} from "./source-location.js";
import type {
  AddOptions,
  ApiPrompt,
  CompileReport,
  DroppedNode,
  NodeClass,
  NodeHandle,
  Output,
  PromptValue,
  RawAddOptions,
  RawNodeHandle,
  SourceLocation,
  UploadSource,
} from "./types.js";

/** Options of {@link Workflow.compile}. */
export interface CompileOptions {
  /**
   * Keep nodes that feed no output node. ComfyUI never runs them; by default they are left out
   * of the prompt and listed in the report.
   */
  readonly keepUnreachable?: boolean;
  /** Validate with ComfyUI's rules and throw {@link PromptInvalidError} on any problem (default true). */
  readonly validate?: boolean;
  /** Validate against this schema instead of the one the node classes were generated from. */
  readonly schema?: NodeSchema;
  /**
   * Follow this ComfyUI release's validation rules (default: the newest), as `validatePrompt`'s
   * `comfyuiVersion`: `"0.3.64"` or `"v0.3.64"`; anything else is `ComfyuiVersionError`.
   */
  readonly comfyuiVersion?: string;
}

/** Options of {@link workflow}. */
export interface WorkflowOptions {
  /** A short name used in reports and by `comfyc run` for output folders. */
  readonly name?: string;
  /**
   * Record where each node was created (`file:line:column`), for errors and reports. Default:
   * on, except when `NODE_ENV` is `"production"` (read when the workflow is made). Capturing a
   * call site (a V8 stack capture, 1.5–3 µs) is the largest part of `wf.add()`'s cost, several
   * times what compiling and validating the node costs; a server building graphs per request
   * or a loop adding thousands of nodes wants it off.
   */
  readonly sourceLocations?: boolean;
}

/** The site of a node added without source locations. */
const NO_SITE: CallSite = {};

interface NodeRecord {
  readonly id: string;
  readonly classType: string;
  readonly spec: ClassSpec | undefined;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly title: string;
  /** Where the node was created; formatted only when an error or a report reads it. */
  readonly site: CallSite;
  /** For raw nodes: whether declared an output node (`undefined` = unknown). */
  readonly outputNode: boolean | undefined;
}

type AddArgs<I> = {} extends I
  ? [inputs?: NoInfer<I>, options?: AddOptions]
  : [inputs: NoInfer<I>, options?: AddOptions];

/** The `Symbol.for` brand behind `isWorkflow`: two copies of comfyc recognise each other's workflows. */
export const WORKFLOW_BRAND: unique symbol = Symbol.for("comfyc.workflow") as never;

/**
 * A graph under construction. Add nodes with {@link Workflow.add}; each call returns a handle
 * whose properties are the node's typed outputs. {@link Workflow.compile} turns the graph into
 * API-format JSON. Workflows hold no global state: build as many at once as you like.
 *
 * @example
 * const wf = workflow();
 * const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
 * const text = wf.add(CLIPTextEncode, { clip: ckpt.CLIP, text: "a lighthouse at dusk" });
 */
export class Workflow {
  /** @internal The cross-copy brand checked by `isWorkflow`. */
  readonly [WORKFLOW_BRAND] = "plain";
  readonly #nodes: NodeRecord[] = [];
  /** Node id → its position in #nodes. */
  readonly #ids = new Map<string, number>();
  #nextId = 1;

  /** A short name used in reports and by `comfyc run` for output folders. */
  readonly name: string | undefined;

  readonly #sourceLocations: boolean;

  constructor(options: WorkflowOptions = {}) {
    this.name = options.name;
    this.#sourceLocations = options.sourceLocations ?? process.env["NODE_ENV"] !== "production";
  }

  /**
   * Adds a node of a generated class and returns its handle. Inputs with a schema default may
   * be left out; the default is written when compiling.
   */
  add<I, H extends NodeHandle>(cls: NodeClass<I, H>, ...args: AddArgs<I>): H {
    const [inputs, options] = args;
    if (!isDefinedNodeClass(cls)) {
      throw new GraphError(
        `wf.add() needs a node class from generated code, got ${describeValue(cls, 60)}`,
        "Import node classes from your generated modules, or use wf.$raw(classType, inputs) for classes that are not generated.",
      );
    }
    const spec = cls.spec;
    // What may throw (a getter of the caller's objects) before the id is taken: #takeId
    // records the position of the node pushed next.
    const given = { ...(inputs as object | undefined) };
    const title = options?.title ?? spec.displayName;
    const id = this.#takeId(options?.id);
    this.#nodes.push({
      id,
      classType: spec.classType,
      spec,
      inputs: given,
      title,
      site: this.#sourceLocations ? captureCallSite(Workflow.prototype.add) : NO_SITE,
      outputNode: spec.outputNode,
    });
    return makeHandle(id, spec.classType, spec.outputs, this) as H;
  }

  /**
   * Escape hatch: adds a node of a class that is not in the generated code (a custom node
   * installed later). Inputs are untyped and passed through as given; outputs are addressed
   * by index with `handle.output(i)`.
   */
  $raw(
    classType: string,
    inputs: Readonly<Record<string, unknown>> = {},
    options: RawAddOptions = {},
  ): RawNodeHandle {
    if (typeof classType !== "string" || classType === "") {
      throw new GraphError(
        `wf.$raw() needs a class_type string, got ${describeValue(classType, 40)}`,
        'Pass the class name exactly as ComfyUI lists it: wf.$raw("KSampler", { … }).',
      );
    }
    const given = { ...inputs };
    const title = options.title ?? classType;
    const id = this.#takeId(options.id);
    this.#nodes.push({
      id,
      classType,
      spec: undefined,
      inputs: given,
      title,
      site: this.#sourceLocations ? captureCallSite(Workflow.prototype.$raw) : NO_SITE,
      outputNode: options.outputNode,
    });
    return Object.freeze({
      nodeId: id,
      classType,
      output: (index: number) => $unsafeLink(id, index),
    });
  }

  /** Number of nodes added so far. */
  get size(): number {
    return this.#nodes.length;
  }

  /** Compiles the graph to an API-format prompt (protocol §4). Deterministic and pure. */
  compile(options: CompileOptions = {}): ApiPrompt {
    return this.compileWithReport(options).prompt;
  }

  /** Like {@link Workflow.compile}, also returning unreachable nodes and source locations. */
  compileWithReport(options: CompileOptions = {}): CompileReport {
    // Arrays by node position, not maps by id: this runs on every compile.
    const nodes = this.#nodes;
    const compiled = nodes.map((node) => compileInputs(node, this));
    const keep = reachableFromOutputs(nodes, compiled, this.#ids);
    const prompt: ApiPrompt = {};
    const unreachable: DroppedNode[] = [];
    const kept: NodeRecord[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (keep[i] === 0) {
        const source = resolveCallSite(node.site);
        unreachable.push({
          nodeId: node.id,
          classType: node.classType,
          title: node.title,
          ...(source ? { source } : {}),
        });
        if (!options.keepUnreachable) continue;
      }
      prompt[node.id] = {
        class_type: node.classType,
        inputs: compiled[i]!.out,
        _meta: { title: node.title },
      };
      kept.push(node);
    }
    let validation: ValidationResult | undefined;
    if (options.validate !== false) {
      validation = this.#validate(prompt, options);
      if (!validation.valid || Object.keys(validation.nodeErrors).length > 0) {
        throw new PromptInvalidError(validation.error, validation.nodeErrors, (id) => {
          const node = this.#node(id);
          const source = node && resolveCallSite(node.site);
          return (
            node && {
              title: node.title,
              ...(source ? { source: formatLocation(source) } : {}),
            }
          );
        });
      }
    }
    const outputs = this.#nodes
      .filter((n) => n.outputNode === true && prompt[n.id])
      .map((n) => n.id);
    return {
      prompt,
      unreachable,
      sources: new LazySources(kept),
      outputs,
      ...(validation ? { validation } : {}),
    };
  }

  #validate(prompt: ApiPrompt, options: CompileOptions): ValidationResult {
    const { specs, opaque: raw } = this.#classes();
    const lookup: ClassLookup = options.schema
      ? (classType) => options.schema!.classes.get(classType)
      : (classType) => specs.get(classType);
    const opaque = options.schema
      ? new Set([...raw].filter((c) => !options.schema!.classes.has(c)))
      : raw;
    return validatePrompt(prompt, lookup, {
      opaqueClasses: opaque,
      // localFile()/fileBytes() markers become file names when the runtime uploads them.
      pendingUpload: (v) => v !== null && typeof v === "object" && "__comfycUpload" in v,
      ...(options.comfyuiVersion ? { comfyuiVersion: options.comfyuiVersion } : {}),
    });
  }

  /**
   * The classes of the nodes so far: generated ones by class type, `$raw` ones as opaque.
   * Nodes are only ever appended, so the sets are extended, not rebuilt, on each compile.
   */
  #classes(): {
    readonly specs: ReadonlyMap<string, ClassSpec>;
    readonly opaque: ReadonlySet<string>;
  } {
    const c = this.#classCache;
    for (; c.seen < this.#nodes.length; c.seen++) {
      const node = this.#nodes[c.seen]!;
      if (node.spec) c.specs.set(node.classType, node.spec);
      else c.opaque.add(node.classType);
    }
    return c;
  }

  readonly #classCache = {
    seen: 0,
    specs: new Map<string, ClassSpec>(),
    opaque: new Set<string>(),
  };

  /** Where the node with this id was created, when known. */
  getSource(nodeId: string): SourceLocation | undefined {
    const node = this.#node(nodeId);
    return node && resolveCallSite(node.site);
  }

  #node(id: string): NodeRecord | undefined {
    const i = this.#ids.get(id);
    return i === undefined ? undefined : this.#nodes[i];
  }

  /** Checks or assigns the id of the node pushed next, and records its position. */
  #takeId(requested: string | undefined): string {
    if (requested !== undefined) {
      if (typeof requested !== "string" || requested === "") {
        throw new GraphError(
          `Node id must be a non-empty string, got ${describeValue(requested, 40)}`,
          'Give the node a string id such as { id: "sampler" }, or leave `id` out.',
        );
      }
      if (this.#ids.has(requested)) {
        throw new GraphError(
          `Node id "${requested}" is already used in this workflow`,
          "Give each node a unique id, or leave `id` out to number nodes automatically.",
          { nodeId: requested },
        );
      }
      this.#ids.set(requested, this.#nodes.length);
      return requested;
    }
    while (this.#ids.has(String(this.#nextId))) this.#nextId++;
    const id = String(this.#nextId++);
    this.#ids.set(id, this.#nodes.length);
    return id;
  }
}

/**
 * Node id → where the node was created. A real Map (callers check `instanceof Map`), filled on
 * first read: compiling never pays for formatting locations nobody looks at, and `get` formats
 * only the one asked for.
 */
class LazySources extends Map<string, SourceLocation> {
  /** The compiled nodes, until the map is filled; indexed by id on the first `get`. */
  #nodes: readonly NodeRecord[] | undefined;
  #sites: Map<string, CallSite> | undefined;

  constructor(nodes: readonly NodeRecord[]) {
    super();
    this.#nodes = nodes;
  }

  #fill(): void {
    const nodes = this.#nodes;
    if (!nodes) return;
    this.#nodes = undefined;
    this.#sites = undefined;
    for (const node of nodes) {
      const location = resolveCallSite(node.site);
      if (location) super.set(node.id, location);
    }
  }

  override get(nodeId: string): SourceLocation | undefined {
    if (!this.#nodes) return super.get(nodeId);
    this.#sites ??= new Map(this.#nodes.map((n) => [n.id, n.site]));
    const site = this.#sites.get(nodeId);
    return site && resolveCallSite(site);
  }

  override has(nodeId: string): boolean {
    return this.get(nodeId) !== undefined;
  }

  override get size(): number {
    this.#fill();
    return super.size;
  }

  override set(nodeId: string, location: SourceLocation): this {
    this.#fill();
    return super.set(nodeId, location);
  }

  override delete(nodeId: string): boolean {
    this.#fill();
    return super.delete(nodeId);
  }

  override clear(): void {
    this.#nodes = undefined;
    this.#sites = undefined;
    super.clear();
  }

  override forEach(
    callback: (value: SourceLocation, key: string, map: Map<string, SourceLocation>) => void,
    thisArg?: unknown,
  ): void {
    this.#fill();
    super.forEach(callback, thisArg);
  }

  override entries(): MapIterator<[string, SourceLocation]> {
    this.#fill();
    return super.entries();
  }

  override keys(): MapIterator<string> {
    this.#fill();
    return super.keys();
  }

  override values(): MapIterator<SourceLocation> {
    this.#fill();
    return super.values();
  }

  override [Symbol.iterator](): MapIterator<[string, SourceLocation]> {
    this.#fill();
    return super[Symbol.iterator]();
  }
}

/** Creates an empty {@link Workflow}. */
export function workflow(options: WorkflowOptions = {}): Workflow {
  return new Workflow(options);
}

/**
 * Escape hatch: an untyped link to output `index` of the node with id `nodeId`, for nodes added
 * with `wf.$raw()` or ids set explicitly. Nothing checks it until validation.
 */
export function $unsafeLink(nodeId: string, index: number): UntypedOutput {
  if (typeof nodeId !== "string" || !Number.isInteger(index) || index < 0) {
    throw new GraphError(
      `$unsafeLink needs a node id string and an output index ≥ 0, got (${describeValue(nodeId, 30)}, ${describeValue(index, 20)})`,
      'Write $unsafeLink("4", 0) for output 0 of node "4".',
    );
  }
  return Object.freeze({ nodeId, index, type: "*" });
}

/** An output whose type is unknown, accepted by every input: the escape hatches return it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UntypedOutput = Output<any>;

/**
 * The workflow each output (and single-output handle) was made by. Ids are per workflow, so an
 * output used in another workflow would link to whatever node has its id there.
 */
class Owned {
  readonly #owner: Workflow;

  constructor(owner: Workflow) {
    this.#owner = owner;
  }

  /** The workflow that made `value`, or `undefined` for any other object ($unsafeLink's). */
  static ownerOf(value: object): Workflow | undefined {
    return #owner in value ? (value as Owned).#owner : undefined;
  }
}

/**
 * A fresh object owned by `owner`: a private field, not a WeakMap entry, since every `wf.add`
 * makes one per output and a WeakMap insert cost as much as the rest of an unlocated add.
 */
function owned(owner: Workflow): Record<string | number, unknown> {
  return new Owned(owner) as unknown as Record<string | number, unknown>;
}

function makeHandle(
  nodeId: string,
  classType: string,
  outputs: ClassSpec["outputs"],
  owner: Workflow,
): NodeHandle {
  const handle = owned(owner);
  handle["nodeId"] = nodeId;
  handle["classType"] = classType;
  for (const out of outputs) {
    const made = owned(owner);
    made["nodeId"] = nodeId;
    made["index"] = out.index;
    made["type"] = out.type;
    const output = Object.freeze(made) as unknown as Output;
    handle[out.identifier] = output;
    handle[out.index] = output;
  }
  if (outputs.length === 1) {
    // A single-output node can be passed wherever its output fits.
    handle["index"] = 0;
    handle["type"] = outputs[0]!.type;
  }
  return Object.freeze(handle) as unknown as NodeHandle;
}

/** True for an output (or single-output handle): an object with a node id and an index. */
export function isOutput(value: unknown): value is Output {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Output).nodeId === "string" &&
    typeof (value as Output).index === "number" &&
    "type" in value
  );
}

/** A node's prompt inputs and the ids of the nodes it links to. */
function compileInputs(node: NodeRecord, owner: Workflow): Compiling {
  // Module-level helpers with the state passed along: this runs once per node per compile.
  const c: Compiling = { node, owner, out: {}, links: [] };
  const given = node.inputs;
  if (node.spec) {
    const declared = node.spec.inputs;
    for (let i = 0; i < declared.length; i++) {
      const input = declared[i]!;
      emitInput(c, input, input.name, given[input.name], true);
    }
    const names = declaredNames(node.spec);
    for (const key of Object.keys(given)) {
      const value = given[key];
      if (!names.has(key) && value !== undefined) c.out[key] = convertInput(c, key, value);
    }
  } else {
    for (const key of Object.keys(given)) {
      const value = given[key];
      if (value !== undefined) c.out[key] = convertInput(c, key, value);
    }
  }
  return c;
}

/** One node being compiled: its prompt inputs so far and the node ids it links to. */
interface Compiling {
  readonly node: NodeRecord;
  readonly owner: Workflow;
  readonly out: Record<string, PromptValue>;
  readonly links: string[];
}

const declaredNameSets = new WeakMap<ClassSpec, ReadonlySet<string>>();

/** The names of a class's declared inputs (one set per class, shared by its nodes). */
function declaredNames(spec: ClassSpec): ReadonlySet<string> {
  let names = declaredNameSets.get(spec);
  if (!names) {
    names = new Set(spec.inputs.map((input) => input.name));
    declaredNameSets.set(spec, names);
  }
  return names;
}

function inputAt(c: Compiling, input: string) {
  return { nodeId: c.node.id, classType: c.node.classType, input };
}

function convertInput(c: Compiling, key: string, value: unknown): PromptValue {
  if (isOutput(value)) {
    const owner = Owned.ownerOf(value);
    if (owner !== undefined && owner !== c.owner) {
      throw new GraphError(
        `input ${key} is an output of node "${value.nodeId}" of another workflow`,
        "Add that node to this workflow (components take the workflow as an argument); to link by id on purpose, use $unsafeLink(nodeId, index).",
        inputAt(c, key),
      );
    }
    c.links.push(value.nodeId);
    return [value.nodeId, value.index];
  }
  if (typeof value === "object" && value !== null && "nodeId" in value && !("index" in value)) {
    throw new GraphError(
      `input ${key} was given a node with several outputs`,
      "Pass one of its outputs, such as `node.IMAGE`, instead of the node itself.",
      inputAt(c, key),
    );
  }
  if (typeof value === "function" || typeof value === "symbol" || value === undefined) {
    throw new GraphError(
      `input ${key} has a value that is not JSON: ${typeof value}`,
      "Pass a string, number, boolean, bigint, list or another node's output; leave the input out to use its default.",
      inputAt(c, key),
    );
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new GraphError(
      `input ${key} is ${value}, which JSON cannot carry`,
      "Pass a finite number.",
      inputAt(c, key),
    );
  }
  // Any JSON array is read as a link by ComfyUI; list constants travel wrapped (protocol §4).
  if (Array.isArray(value)) return { __value__: value };
  return value as PromptValue;
}

function emitInput(
  c: Compiling,
  input: InputIR,
  key: string,
  value: unknown,
  fillDefault: boolean,
): void {
  switch (input.kind) {
    case "dynamic_combo": {
      const raw = value ?? input.config[1]["default"];
      if (raw === undefined) return;
      const selected =
        typeof raw === "string"
          ? { key: raw }
          : (raw as { key?: unknown } & Record<string, unknown>);
      if (typeof selected !== "object" || selected === null || typeof selected.key !== "string") {
        throw new GraphError(
          `input ${key} needs an option key or { key, …inputs }, got ${describeValue(raw)}`,
          `Options are: ${input.options.map((o) => JSON.stringify(o.key)).join(", ")}.`,
          inputAt(c, key),
        );
      }
      c.out[key] = selected.key;
      const option = input.options.find((o) => o.key === selected.key);
      if (!option) return; // The validator reports unknown keys with the server's rules.
      for (const child of option.inputs) {
        emitInput(
          c,
          child,
          `${key}.${child.name}`,
          (selected as Record<string, unknown>)[child.name],
          true,
        );
      }
      return;
    }
    case "autogrow": {
      if (value === undefined) return;
      if (Array.isArray(value)) {
        if (value.length > input.names.length) {
          throw new GraphError(
            `input ${key} takes at most ${input.names.length} entries, got ${value.length}`,
            `Pass at most ${input.names.length} entries.`,
            inputAt(c, key),
          );
        }
        value.forEach((v, i) =>
          emitInput(c, input.template, `${key}.${input.names[i]!}`, v, false),
        );
        return;
      }
      if (typeof value !== "object" || value === null) {
        throw new GraphError(
          `input ${key} needs an array or an object of slots, got ${describeValue(value)}`,
          `Slots are: ${input.names.join(", ")}.`,
          inputAt(c, key),
        );
      }
      for (const [slot, v] of Object.entries(value)) {
        if (!input.names.includes(slot)) {
          throw new GraphError(
            `input ${key} has no slot ${JSON.stringify(slot)}`,
            `Slots are: ${input.names.join(", ")}.`,
            inputAt(c, key),
          );
        }
        if (v !== undefined) emitInput(c, input.template, `${key}.${slot}`, v, false);
      }
      return;
    }
    default: {
      if (value !== undefined) c.out[key] = convertInput(c, key, value);
      else if (fillDefault && "default" in input && input.default !== undefined)
        // A list default (COLORS' []) must be wrapped, or the server reads it as a link.
        c.out[key] = convertInput(c, key, input.default);
    }
  }
}

/** Output nodes (and raw nodes that may be outputs) and everything they link to, by position. */
function reachableFromOutputs(
  nodes: readonly NodeRecord[],
  compiled: readonly Compiling[],
  positions: ReadonlyMap<string, number>,
): Uint8Array {
  // 1 at the position of each node kept.
  const keep = new Uint8Array(nodes.length);
  const stack: number[] = [];
  for (let i = 0; i < nodes.length; i++) if (nodes[i]!.outputNode !== false) stack.push(i);
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (keep[i] === 1) continue;
    keep[i] = 1;
    for (const dep of compiled[i]!.links) {
      // A link to a node that does not exist is the validator's to report.
      const j = positions.get(dep);
      if (j !== undefined && keep[j] === 0) stack.push(j);
    }
  }
  return keep;
}

/** Marks a local file for an upload input (`LoadImage.image`); the runtime uploads it. */
export function localFile(path: string): UploadSource {
  return Object.freeze({
    __comfycUpload: Object.freeze({ path, name: path.split(/[\\/]/).pop() || "upload.png" }),
  });
}

/** Marks bytes for an upload input; `name` gives the extension (`mask.png`). */
export function fileBytes(bytes: Uint8Array, name: string): UploadSource {
  return Object.freeze({ __comfycUpload: Object.freeze({ bytes, name }) });
}
