import type { ApiPrompt } from "../builder/types.js";
import { ComfycError } from "../errors.js";
import { isExactIdentifier, isIdentifierName } from "../schema/identifiers.js";
import type { InputIR, NodeClassIR, NodeSchema } from "../schema/ir.js";
import { convertWorkflow, type ConvertOptions, type ConvertWarning } from "./convert.js";
import type { WorkflowSource } from "./detect.js";
import { guardDepth, WorkflowImportError, type ImportProblem } from "./errors.js";
import {
  code,
  flat,
  print,
  printCall,
  printImport,
  PRINT_WIDTH,
  stringLiteral,
  type Doc,
} from "./print.js";
import { socketType } from "./widgets.js";

/** Options of {@link importWorkflow}. */
export interface ImportOptions extends ConvertOptions {
  /**
   * Module path of the generated node modules as the output file imports them, without the
   * pack file (default `"./generated"`): `import { KSampler } from "./generated/core.js"`.
   */
  readonly generated?: string;
  /** The workflow's name (`workflow({ name })`), default none. */
  readonly name?: string;
  /** Where the workflow came from, for the header comment (a file name). */
  readonly sourceName?: string;
  /**
   * Inputs to lift into `defineWorkflow` parameters: `"<node>.<input>=<param>"`, the node by
   * id or title (`"6.text=prompt"`, `"KSampler.seed=seed"`).
   */
  readonly params?: readonly string[];
}

/** What {@link importWorkflow} returns. */
export interface ImportResult {
  /** The TypeScript module: one statement per node in dependency order, `export default` last. */
  readonly source: string;
  /** The prompt the module compiles to (with `keepUnreachable`, and schema defaults filled). */
  readonly prompt: ApiPrompt;
  readonly warnings: readonly ConvertWarning[];
}

interface PromptEntry {
  readonly id: string;
  readonly classType: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly title: string | undefined;
  readonly cls: NodeClassIR | undefined;
}

interface Param {
  readonly nodeId: string;
  readonly input: string;
  readonly name: string;
  expr?: Chain;
}

const NAMES_IN_SCOPE = new Set([
  "wf",
  "p",
  "params",
  "z",
  "workflow",
  "defineWorkflow",
  "$unsafeLink",
]);

/**
 * Turns a workflow into readable TypeScript that uses the generated node factories and compiles
 * back to the same prompt: UI documents are converted first (see `convertWorkflow`), API
 * prompts are taken as they are. Node ids and titles are kept where they differ from what the
 * builder would assign; links go through typed output names; values are literals (bigint for
 * 64-bit integers, `{ __value__: [...] }` lists kept). Classes the schema does not know are
 * added with `wf.$raw`. With `params`, the named inputs become a `defineWorkflow` zod schema
 * whose defaults are the imported values. Pure: no I/O.
 *
 * Differences a compile of the result shows, by design: `compile()` leaves out nodes that feed
 * no output unless `keepUnreachable` is set, and fills schema defaults for inputs the prompt
 * lacks.
 *
 * @throws {WorkflowImportError} `WORKFLOW_INVALID` for prompts that are not node maps or have
 *   a cycle (and every conversion error of a UI document).
 * @throws {ComfycError} `USAGE` for a `params` entry that names no node or input.
 */
export function importWorkflow(
  source: WorkflowSource,
  schema: NodeSchema,
  options: ImportOptions = {},
): ImportResult {
  let prompt: ApiPrompt;
  let warnings: readonly ConvertWarning[] = [];
  if (source.format === "ui") {
    const converted = convertWorkflow(source.workflow, schema, options);
    prompt = converted.prompt;
    warnings = converted.warnings;
  } else prompt = readApiPrompt(source.prompt);
  const text = guardDepth(() => new ModuleWriter(prompt, schema, options, source).write());
  return { source: text, prompt, warnings };
}

/** Checks an API prompt's shape: every entry a node with a string class_type and object inputs. */
function readApiPrompt(raw: Record<string, unknown>): ApiPrompt {
  const problems: ImportProblem[] = [];
  const out: ApiPrompt = {};
  for (const [id, node] of Object.entries(raw)) {
    const n = node as { class_type?: unknown; inputs?: unknown; _meta?: { title?: unknown } };
    if (typeof n?.class_type !== "string" || typeof n.inputs !== "object" || n.inputs === null) {
      problems.push({
        kind: "invalid_node",
        nodeId: id,
        message: "is not a node with a class_type string and an inputs object",
      });
      continue;
    }
    const title = n._meta?.title;
    out[id] = {
      class_type: n.class_type,
      inputs: n.inputs as ApiPrompt[string]["inputs"],
      ...(typeof title === "string" ? { _meta: { title } } : {}),
    };
  }
  if (problems.length) {
    throw new WorkflowImportError(
      problems,
      "An API prompt maps node ids to { class_type, inputs }; export it again with Export (API).",
    );
  }
  return out;
}

class ModuleWriter {
  readonly #entries: PromptEntry[];
  readonly #byId = new Map<string, PromptEntry>();
  readonly #vars = new Map<string, string>();
  readonly #imports = new Map<string, Set<string>>();
  readonly #params: Param[];
  readonly #usesUnsafe = { value: false };
  /** Ids of nodes whose outputs other nodes use: only those get a variable. */
  readonly #referenced = new Set<string>();

  constructor(
    readonly prompt: ApiPrompt,
    readonly schema: NodeSchema,
    readonly options: ImportOptions,
    readonly source: WorkflowSource,
  ) {
    this.#entries = Object.entries(prompt).map(([id, node]) => ({
      id,
      classType: node.class_type,
      inputs: node.inputs,
      title: node._meta?.title,
      cls: schema.classes.get(node.class_type),
    }));
    for (const e of this.#entries) this.#byId.set(e.id, e);
    this.#params = this.#parseParams(options.params ?? []);
  }

  write(): string {
    const ordered = this.#dependencyOrder();
    for (const e of this.#entries) {
      for (const v of Object.values(e.inputs)) if (isLink(v)) this.#referenced.add(String(v[0]));
    }
    const taken: TakenNames = { names: new Set(NAMES_IN_SCOPE), next: new Map() };
    for (const e of ordered) this.#vars.set(e.id, uniqueName(variableBase(e), taken));
    const parameterized = this.#params.length > 0;
    const indent = parameterized ? 2 : 0;
    const statements: string[] = [];
    // The builder numbers nodes 1, 2, … in creation order, skipping ids already taken; an id
    // is written only where it differs from that.
    const ids = new Set<string>();
    let next = 1;
    for (const e of ordered) {
      while (ids.has(String(next))) next++;
      const options: (readonly [string, Doc])[] = [];
      if (e.id === String(next)) next++;
      else options.push(["id", code(stringLiteral(e.id))]);
      ids.add(e.id);
      const defaultTitle = e.cls ? e.cls.displayName : e.classType;
      if (e.title !== undefined && e.title !== defaultTitle)
        options.push(["title", code(stringLiteral(e.title))]);
      statements.push(this.#statement(e, options, indent));
    }
    return this.#module(statements);
  }

  #statement(e: PromptEntry, options: (readonly [string, Doc])[], indent: number): string {
    const name = this.#vars.get(e.id)!;
    const comments: string[] = [];
    const opts: Doc | undefined = options.length ? { kind: "object", entries: options } : undefined;
    if (!e.cls) {
      comments.push(`// "${e.classType}" is not in the schema: added untyped.`);
      const inputs: Doc = {
        kind: "object",
        entries: Object.entries(e.inputs).map(([k, v]) => [key(k), this.#rawValue(v)] as const),
      };
      const args = [code(stringLiteral(e.classType)), inputs, ...(opts ? [opts] : [])];
      return [
        ...comments.map((c) => " ".repeat(indent) + c),
        printCall(`${this.#binding(e, name)}wf.$raw`, args, indent),
      ].join("\n");
    }
    this.#use(e.cls);
    const inputs = this.#inputs(e, e.cls, comments);
    const args = [code(e.cls.identifier), inputs, ...(opts ? [opts] : [])];
    return [
      ...comments.map((c) => " ".repeat(indent) + c),
      printCall(`${this.#binding(e, name)}wf.add`, args, indent),
    ].join("\n");
  }

  /** `const name = ` for a node whose outputs are used, nothing for the others. */
  #binding(e: PromptEntry, name: string): string {
    return this.#referenced.has(e.id) ? `const ${name} = ` : "";
  }

  /** The inputs object of a generated class: declared inputs in schema order, then the rest. */
  #inputs(e: PromptEntry, cls: NodeClassIR, comments: string[]): Doc {
    const entries: (readonly [string | null, Doc])[] = [];
    const consumed = new Set<string>();
    for (const input of cls.inputs) {
      const value = this.#inputValue(e, input, input.name, consumed, comments);
      if (value) entries.push([key(input.name), value]);
    }
    const rest = Object.entries(e.inputs).filter(([k]) => !consumed.has(k));
    if (rest.length) {
      comments.push(
        `// ${rest.map(([k]) => JSON.stringify(k)).join(", ")}: not declared by ${cls.classType}; kept as the workflow has it (ComfyUI ignores undeclared inputs).`,
      );
      entries.push([
        null,
        { kind: "object", entries: rest.map(([k, v]) => [key(k), this.#rawValue(v)] as const) },
      ]);
    }
    return { kind: "object", entries };
  }

  /** The value of one declared input, or undefined to leave it out. */
  #inputValue(
    e: PromptEntry,
    input: InputIR,
    promptKey: string,
    consumed: Set<string>,
    comments: string[],
  ): Doc | undefined {
    const lifted = this.#params.find((p) => p.nodeId === e.id && p.input === promptKey);
    if (input.kind === "dynamic_combo") {
      if (!(promptKey in e.inputs)) return undefined;
      consumed.add(promptKey);
      const selected = e.inputs[promptKey];
      const option = input.options.find((o) => o.key === selected);
      const children: (readonly [string, Doc])[] = [];
      for (const child of option?.inputs ?? []) {
        const v = this.#inputValue(e, child, `${promptKey}.${child.name}`, consumed, comments);
        if (v) children.push([key(child.name), v]);
      }
      const keyDoc = this.#constant(input, selected, promptKey, comments, lifted);
      if (children.length === 0) return keyDoc;
      return { kind: "object", entries: [["key", keyDoc], ...children] };
    }
    if (input.kind === "autogrow") {
      const slots = input.names.filter((n) => `${promptKey}.${n}` in e.inputs);
      if (slots.length === 0) return undefined;
      const docs = slots.map((n) => {
        consumed.add(`${promptKey}.${n}`);
        return [
          n,
          this.#value(
            e,
            input.template,
            e.inputs[`${promptKey}.${n}`],
            `${promptKey}.${n}`,
            comments,
          ),
        ] as const;
      });
      const contiguous = input.prefix !== undefined && slots.every((n, i) => n === input.names[i]);
      if (contiguous) return { kind: "array", items: docs.map(([, d]) => d) };
      if (input.prefix !== undefined) {
        // Gaps in a prefix-form list cannot be written as an array: keep the dotted keys.
        for (const n of slots) consumed.delete(`${promptKey}.${n}`);
        return undefined;
      }
      return { kind: "object", entries: docs.map(([n, d]) => [key(n), d] as const) };
    }
    if (!(promptKey in e.inputs)) {
      if (lifted)
        throw usage(
          `--param ${lifted.nodeId}.${lifted.input}=${lifted.name}: node ${e.id} has no value for "${promptKey}" to lift`,
        );
      if (input.required && !hasDefault(input) && input.kind !== "matchtype") {
        comments.push(`// Required input "${promptKey}" is not connected in the workflow.`);
        return code("undefined as never");
      }
      return undefined;
    }
    consumed.add(promptKey);
    return this.#value(e, input, e.inputs[promptKey], promptKey, comments, lifted);
  }

  /** A link or a constant for a typed input. */
  #value(
    e: PromptEntry,
    input: InputIR,
    value: unknown,
    promptKey: string,
    comments: string[],
    lifted?: Param,
  ): Doc {
    if (isLink(value)) {
      if (lifted)
        throw usage(
          `--param ${lifted.nodeId}.${lifted.input}=${lifted.name}: that input is linked to node ${value[0]}, not a value`,
        );
      return code(this.#linkExpr(value, accepts(input), comments, promptKey));
    }
    return this.#constant(input, value, promptKey, comments, lifted);
  }

  #constant(
    input: InputIR,
    value: unknown,
    promptKey: string,
    comments: string[],
    lifted?: Param,
  ): Doc {
    if (lifted) {
      lifted.expr = zodFor(input, value);
      return code(`p.${lifted.name}`);
    }
    const literal = this.#rawValue(value);
    const problem = typeProblem(input, value);
    if (!problem) return literal;
    comments.push(`// "${promptKey}": ${problem}; kept as the workflow has it.`);
    return code(`${flat(literal)} as never`);
  }

  /** An untyped value: links as output expressions, lists wrapped, literals. */
  #rawValue(value: unknown): Doc {
    if (isLink(value)) return code(this.#linkExpr(value, undefined, [], ""));
    if (Array.isArray(value)) return { kind: "array", items: value.map((v) => this.#rawValue(v)) };
    if (value !== null && typeof value === "object") {
      return {
        kind: "object",
        entries: Object.entries(value).map(([k, v]) => [key(k), this.#rawValue(v)] as const),
      };
    }
    return code(literalOf(value));
  }

  /** `loadCheckpoint.CLIP`, `custom.output(1)`, or `$unsafeLink(…)` where types cannot be checked. */
  #linkExpr(
    link: readonly [unknown, unknown],
    wanted: readonly string[] | undefined,
    comments: string[],
    promptKey: string,
  ): string {
    const [rawId, slot] = link;
    const id = String(rawId);
    const source = this.#byId.get(id);
    const name = this.#vars.get(id);
    if (!source || !name) {
      this.#usesUnsafe.value = true;
      comments.push(`// "${promptKey}" links to node ${id}, which the workflow does not have.`);
      return `$unsafeLink(${stringLiteral(id)}, ${literalOf(slot)})`;
    }
    if (!source.cls) return `${name}.output(${literalOf(slot)})`;
    const out = typeof slot === "number" ? source.cls.outputs[slot] : undefined;
    if (!out) {
      this.#usesUnsafe.value = true;
      comments.push(
        `// "${promptKey}" links to output ${String(slot)} of node ${id}, which ${source.classType} does not have.`,
      );
      return `$unsafeLink(${name}.nodeId, ${literalOf(slot)})`;
    }
    if (wanted && !wanted.includes("*") && out.type !== "*" && !wanted.includes(out.type)) {
      this.#usesUnsafe.value = true;
      comments.push(
        `// "${promptKey}" takes ${wanted.join(" | ")}; the workflow links ${out.type} output ${out.name} of node ${id}.`,
      );
      return `$unsafeLink(${name}.nodeId, ${out.index})`;
    }
    return `${name}.${out.identifier}`;
  }

  #use(cls: NodeClassIR): void {
    const list = this.#imports.get(cls.pack) ?? new Set<string>();
    list.add(cls.identifier);
    this.#imports.set(cls.pack, list);
  }

  #module(statements: string[]): string {
    const generated = (this.options.generated ?? "./generated").replace(/\/+$/, "");
    const parameterized = this.#params.length > 0;
    for (const p of this.#params) {
      if (!p.expr)
        throw usage(
          `--param ${p.nodeId}.${p.input}=${p.name}: node ${p.nodeId} has no input "${p.input}"`,
        );
    }
    const header = [
      "/**",
      ` * Imported by comfyc from ${this.options.sourceName ?? "a workflow"} (${this.source.format === "ui" ? "editor workflow" : "API prompt"}, ${this.#entries.length} nodes).`,
      " * Node ids and titles are the workflow's; edit freely.",
      " */",
    ];
    const comfyc = [
      parameterized ? "defineWorkflow" : "workflow",
      ...(this.#usesUnsafe.value ? ["$unsafeLink"] : []),
    ];
    const lines = [...header, printImport(comfyc.sort(sortNames), "comfyc")];
    if (parameterized) lines.push(printImport(["z"], "zod"));
    for (const pack of [...this.#imports.keys()].sort()) {
      lines.push(
        printImport([...this.#imports.get(pack)!].sort(sortNames), `${generated}/${pack}.js`),
      );
    }
    lines.push("");
    const nameArg = this.options.name ? `{ name: ${stringLiteral(this.options.name)} }` : "";
    if (!parameterized) {
      lines.push(`const wf = workflow(${nameArg});`, ...statements, "", "export default wf;", "");
      return lines.join("\n");
    }
    lines.push(
      "export const params = z.object({",
      ...this.#params.map((p) => printParam(p.name, p.expr!)),
      "});",
      "",
    );
    const def = this.options.name
      ? `{ name: ${stringLiteral(this.options.name)}, params }`
      : "{ params }";
    lines.push(`export default defineWorkflow(${def}, (wf, p) => {`, ...statements, "});", "");
    return lines.join("\n");
  }

  /** Nodes ordered so every node comes after the nodes it links to; ties in prompt order. */
  #dependencyOrder(): PromptEntry[] {
    const dependents = new Map<string, string[]>();
    const waiting = new Map<string, number>();
    for (const e of this.#entries) {
      const ds = new Set<string>();
      for (const v of Object.values(e.inputs)) {
        if (!isLink(v)) continue;
        const d = String(v[0]);
        if (d !== e.id && this.#byId.has(d)) ds.add(d);
      }
      waiting.set(e.id, ds.size);
      for (const d of ds) {
        const list = dependents.get(d);
        if (list) list.push(e.id);
        else dependents.set(d, [e.id]);
      }
    }
    const position = new Map(this.#entries.map((e, i) => [e.id, i]));
    // The ready nodes by prompt position, smallest first: a binary min-heap of positions.
    const ready = new MinHeap();
    this.#entries.forEach((e, i) => waiting.get(e.id) === 0 && ready.push(i));
    const out: PromptEntry[] = [];
    while (ready.size) {
      const e = this.#entries[ready.pop()]!;
      out.push(e);
      for (const t of dependents.get(e.id) ?? []) {
        const left = waiting.get(t)! - 1;
        waiting.set(t, left);
        if (left === 0) ready.push(position.get(t)!);
      }
    }
    if (out.length < this.#entries.length) {
      const placed = new Set(out);
      const stuck = this.#entries.filter((e) => !placed.has(e));
      throw new WorkflowImportError(
        [
          {
            kind: "cycle",
            nodeId: stuck[0]!.id,
            classType: stuck[0]!.classType,
            message: `the prompt has a cycle among nodes ${stuck.map((s) => s.id).join(", ")}`,
          },
        ],
        "A prompt must be a directed acyclic graph; remove the link that closes the loop.",
      );
    }
    return out;
  }

  #parseParams(specs: readonly string[]): Param[] {
    const out: Param[] = [];
    for (const spec of specs) {
      const eq = spec.lastIndexOf("=");
      const target = eq > 0 ? spec.slice(0, eq) : "";
      const name = eq > 0 ? spec.slice(eq + 1) : "";
      if (!target || !isExactIdentifier(name) || NAMES_IN_SCOPE.has(name)) {
        throw usage(
          `Bad --param ${JSON.stringify(spec)}: write <node>.<input>=<name>, with <name> a plain identifier (not ${[...NAMES_IN_SCOPE].join(", ")})`,
        );
      }
      if (out.some((p) => p.name === name))
        throw usage(
          `--param name "${name}" is used twice`,
          "Give each lifted input its own parameter name.",
        );
      const matches: { nodeId: string; input: string }[] = [];
      for (const e of this.#entries) {
        for (const label of new Set([e.id, e.title, e.cls?.displayName, e.classType])) {
          if (label && target.startsWith(`${label}.`))
            matches.push({ nodeId: e.id, input: target.slice(label.length + 1) });
        }
      }
      const byId = matches.filter(
        (m) => target.startsWith(`${m.nodeId}.`) && this.#byId.has(m.nodeId),
      );
      const chosen = byId.find((m) => target === `${m.nodeId}.${m.input}`) ?? matches[0];
      const nodes = new Set(matches.map((m) => m.nodeId));
      if (!chosen) throw usage(`--param ${spec}: no node has the id or title in "${target}"`);
      if (nodes.size > 1 && !byId.length) {
        throw usage(
          `--param ${spec}: "${target}" matches nodes ${[...nodes].join(", ")}; name the node by id`,
        );
      }
      const twice = out.find((p) => p.nodeId === chosen.nodeId && p.input === chosen.input);
      if (twice)
        throw usage(
          `--param ${spec}: input ${chosen.input} of node ${chosen.nodeId} is already the parameter "${twice.name}"`,
          "Lift each input once; one parameter can feed one input only.",
        );
      out.push({ ...chosen, name });
    }
    return out;
  }
}

function usage(
  message: string,
  hint = "Name the node by its id (as in the prompt) or its title, e.g. --param 6.text=prompt.",
): ComfycError {
  return new ComfycError("USAGE", message, hint);
}

const isLink = (v: unknown): v is readonly [string | number, number] =>
  Array.isArray(v) &&
  v.length === 2 &&
  (typeof v[0] === "string" || typeof v[0] === "number") &&
  typeof v[1] === "number";

/** Socket types a typed input accepts as a link. */
function accepts(input: InputIR): readonly string[] {
  switch (input.kind) {
    case "link":
      return input.accepts;
    case "matchtype":
      return input.allowedTypes;
    case "autogrow":
    case "dynamic_combo":
      return ["*"];
    default:
      return [socketType(input)];
  }
}

function hasDefault(input: InputIR): boolean {
  return "default" in input && input.default !== undefined;
}

/** Why a constant does not fit the generated input type, or undefined when it does. */
function typeProblem(input: InputIR, value: unknown): string | undefined {
  switch (input.kind) {
    case "int":
      if (typeof value === "bigint") {
        const big =
          (input.max ?? 0) > Number.MAX_SAFE_INTEGER || (input.min ?? 0) < -Number.MAX_SAFE_INTEGER;
        return big ? undefined : "a 64-bit integer where the schema allows no such range";
      }
      return typeof value === "number"
        ? undefined
        : `${describe(value)} where an integer is expected`;
    case "float":
      return typeof value === "number"
        ? undefined
        : `${describe(value)} where a number is expected`;
    case "string":
      return typeof value === "string"
        ? undefined
        : `${describe(value)} where a string is expected`;
    case "boolean":
      return typeof value === "boolean"
        ? undefined
        : `${describe(value)} where a boolean is expected`;
    case "combo":
      // Upload combos take any file name; an empty list (remote, or no files) is typed `string`.
      if ((input.upload || input.options.length === 0) && typeof value === "string")
        return undefined;
      if (input.multiselect && value && typeof value === "object") return undefined;
      return input.options.includes(value as never)
        ? undefined
        : `${describe(value)} is not one of the schema's ${input.options.length} options`;
    case "dynamic_combo":
      return input.options.some((o) => o.key === value)
        ? undefined
        : `${describe(value)} is not one of its options`;
    case "link":
    case "matchtype": {
      const types = input.kind === "link" ? input.accepts : input.allowedTypes;
      const scalar =
        typeof value === "string"
          ? "STRING"
          : typeof value === "boolean"
            ? "BOOLEAN"
            : typeof value === "number"
              ? "INT"
              : undefined;
      if (types.includes("*") && ["string", "number", "boolean"].includes(typeof value))
        return undefined;
      if (scalar && (types.includes(scalar) || (scalar === "INT" && types.includes("FLOAT"))))
        return undefined;
      return `a constant ${describe(value)} for a ${types.join(" | ")} socket`;
    }
    default:
      return undefined;
  }
}

function describe(value: unknown): string {
  const s = literalOf(value);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

/** A JS literal: JSON for data, `123n` for bigint. */
function literalOf(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return stringLiteral(value);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (value === undefined) return "undefined";
  if (value === null || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A property name as written in an object literal. */
function key(name: string): string {
  return isIdentifierName(name) ? name : stringLiteral(name);
}

/** A zod call chain: `z.number().int().default(5)` as `[["number", []], ["int", []], …]`. */
type Chain = readonly (readonly [string, readonly Doc[]])[];

/** The zod schema of a lifted input, defaulting to its imported value. */
function zodFor(input: InputIR, value: unknown): Chain {
  const def = ["default", [code(literalOf(value))]] as const;
  const bound = (n: number | bigint | undefined, m: "min" | "max") =>
    typeof n === "number" && Number.isFinite(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER
      ? [[m, [code(String(n))]] as const]
      : [];
  switch (input.kind) {
    case "int":
      if (typeof value === "bigint") return [["bigint", []], def];
      return [
        ["number", []],
        ["int", []],
        ...bound(input.min, "min"),
        ...bound(input.max, "max"),
        def,
      ];
    case "float":
      return [["number", []], ...bound(input.min, "min"), ...bound(input.max, "max"), def];
    case "boolean":
      return [["boolean", []], def];
    case "combo":
    case "dynamic_combo": {
      const options = input.kind === "combo" ? input.options : input.options.map((o) => o.key);
      const plain = !(input.kind === "combo" && input.upload);
      if (
        plain &&
        options.length &&
        options.every((o) => typeof o === "string") &&
        options.includes(value as never)
      ) {
        return [
          [
            "enum",
            [{ kind: "array", items: options.map((o) => code(stringLiteral(o as string))) }],
          ],
          def,
        ];
      }
      return [["string", []], def];
    }
    default:
      return [
        [
          typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string",
          [],
        ],
        def,
      ];
  }
}

/** `name: z.…,` as prettier prints a member chain: flat if it fits, else one call per line. */
function printParam(name: string, chain: Chain): string {
  const call = ([m, args]: readonly [string, readonly Doc[]]) =>
    `.${m}(${args.map(flat).join(", ")})`;
  const one = `  ${name}: z${chain.map(call).join("")},`;
  if (one.length <= PRINT_WIDTH) return one;
  const lines = chain.map(([m, args]) => {
    const head = `    .${m}(`;
    const body = args.map((a) => print(a, 4, head.length, ")")).join(", ");
    return `${head}${body})`;
  });
  return `  ${name}: z\n${lines.join("\n")},`;
}

/** A camelCase name from the node's title (or class display name). */
function variableBase(e: PromptEntry): string {
  const label = e.title ?? e.cls?.displayName ?? e.classType;
  const words = label
    .split(/[^\p{L}\p{N}]+/u)
    .flatMap((w) => w.split(/(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u))
    .filter((w) => w !== "");
  const camel = words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join("");
  if (camel === "" || !/^[\p{L}_]/u.test(camel)) return `node${camel}`;
  return camel;
}

/** Identifiers in use, and per base the next number to try (so n equal bases cost O(n)). */
interface TakenNames {
  readonly names: Set<string>;
  readonly next: Map<string, number>;
}

function uniqueName(base: string, taken: TakenNames): string {
  let name = isExactIdentifier(base) ? base : `${base}Node`;
  if (!isExactIdentifier(name)) name = "node";
  if (taken.names.has(name)) {
    const stem = isExactIdentifier(base) ? base : "node";
    let i = taken.next.get(stem) ?? 2;
    while (taken.names.has(`${stem}${i}`)) i++;
    name = `${stem}${i}`;
    taken.next.set(stem, i + 1);
  }
  taken.names.add(name);
  return name;
}

/** A binary min-heap of numbers. */
class MinHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(value: number): void {
    const a = this.#items;
    let i = a.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= value) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = value;
  }

  /** Removes and returns the smallest value; the heap must not be empty. */
  pop(): number {
    const a = this.#items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= a.length) break;
      if (child + 1 < a.length && a[child + 1]! < a[child]!) child++;
      if (a[child]! >= last) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

function sortNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
