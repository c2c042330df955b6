import { ComfycError, describeValue, formatJsonPath } from "../errors.js";
import { parsedWithFloats } from "../protocol/json.js";
import { isComboList, isInputSpec } from "../protocol/object-info-fast.js";
import type { ComboValue, InputOptions, InputSpec, NodeInfo } from "../protocol/object-info.js";
import { compareCodeUnits } from "./canonical-json.js";
import { assignIdentifiers, assignOutputIdentifiers } from "./identifiers.js";
import {
  HANDLE_MEMBERS,
  type DynamicComboOptionIR,
  type InputIR,
  type NodeClassIR,
  type NodeSchema,
  type OutputIR,
  type SchemaWarning,
} from "./ir.js";

/** Thrown inside normalization to skip one node; carries the JSON path of the problem. */
class SpecIssue extends Error {
  constructor(
    readonly path: readonly PropertyKey[],
    message: string,
  ) {
    super(message);
  }
}

type NodeWithoutIdentifier = Omit<NodeClassIR, "identifier">;

/** How a node info is checked: `NodeInfoSchema.safeParse`, or a faster equivalent. */
export type NodeInfoParser = (
  value: unknown,
) =>
  | { success: true; data: NodeInfo }
  | { success: false; error: { issues: readonly NodeInfoIssue[] } };

/** What normalizing reports of the first problem of a node info: its path and message. */
export interface NodeInfoIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * `normalizeObjectInfo` without the schema's hash and with the node-info check given: the core
 * of normalizing, free of zod, so codegen loads zod only for a schema that needs it (see
 * `normalize.ts` for the public functions).
 */
export function normalizeNodeClassesWith(
  raw: unknown,
  source: string,
  parseNodeInfo: NodeInfoParser,
): Omit<NodeSchema, "hash"> {
  assertLooksLikeObjectInfo(raw, source);
  const warnings: SchemaWarning[] = [];
  const nodes: NodeWithoutIdentifier[] = [];
  const entries = Object.entries(raw);
  for (const [classType, value] of entries) {
    const parsed = parseNodeInfo(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      warnings.push({
        path: formatJsonPath([classType, ...(issue?.path ?? [])]),
        message: `node skipped: ${issue?.message ?? "invalid node info"}`,
      });
      continue;
    }
    try {
      const node = normalizeNode(classType, parsed.data);
      // Parsed with floats (parseJsonLossless): its limits print as the server prints them.
      nodes.push(
        typeof value === "object" && value !== null && parsedWithFloats(value)
          ? { ...node, numbersAsWritten: true }
          : node,
      );
    } catch (e) {
      if (!(e instanceof SpecIssue)) throw e;
      warnings.push({
        path: formatJsonPath([classType, ...e.path]),
        message: `node skipped: ${e.message}`,
      });
    }
  }
  if (nodes.length === 0) {
    throw new ComfycError(
      "OBJECT_INFO_INVALID",
      `${source} has ${entries.length} entries but none is a valid node description` +
        (warnings[0] ? ` (first problem: ${warnings[0].path}: ${warnings[0].message})` : ""),
      "Pass the JSON returned by GET /object_info of a ComfyUI server.",
    );
  }
  const identifiers = assignIdentifiers(nodes.map((n) => n.classType));
  nodes.sort((a, b) => compareCodeUnits(a.classType, b.classType));
  const classes = new Map<string, NodeClassIR>();
  for (const node of nodes) {
    classes.set(node.classType, { ...node, identifier: identifiers.get(node.classType)! });
  }
  return { classes, warnings };
}

function assertLooksLikeObjectInfo(
  raw: unknown,
  source: string,
): asserts raw is Record<string, unknown> {
  const fail = (what: string) =>
    new ComfycError(
      "OBJECT_INFO_INVALID",
      `${source} is not an object_info: ${what}`,
      "Pass the JSON returned by GET /object_info of a ComfyUI server (save it with `curl http://127.0.0.1:8188/object_info > object_info.json`).",
    );
  if (raw === null || typeof raw !== "object")
    throw fail(`expected a JSON object, got ${describeValue(raw, 40)}`);
  if (Array.isArray(raw)) throw fail("expected a JSON object, got an array");
  const obj = raw as Record<string, unknown>;
  if (Array.isArray(obj["nodes"]) && ("links" in obj || "last_node_id" in obj)) {
    throw fail("it looks like a UI workflow (it has `nodes` and `links`)");
  }
  const values = Object.values(obj);
  if (values.length === 0) throw fail("it has no node classes");
  const looksLikePrompt = values.every(
    (v) => v !== null && typeof v === "object" && "class_type" in v && !("output" in v),
  );
  if (looksLikePrompt) throw fail("it looks like an API-format prompt (entries have `class_type`)");
}

/** Normalizes one node description. Throws {@link SpecIssue} to skip the node. */
export function normalizeNode(classType: string, info: NodeInfo): NodeWithoutIdentifier {
  const inputs: InputIR[] = [];
  const seen = new Set<string>();
  for (const category of ["required", "optional"] as const) {
    const section = info.input[category];
    if (!section) continue;
    for (const name of orderedNames(section, info.input_order?.[category])) {
      // Some nodes list a name under both; ComfyUI resolves it as required (checked first).
      if (seen.has(name)) continue;
      seen.add(name);
      inputs.push(
        normalizeInput(name, section[name]!, category === "required", ["input", category, name]),
      );
    }
  }
  const hidden = Object.keys(info.input.hidden ?? {});
  const displayName = info.display_name || info.name || classType;
  return compact({
    classType,
    pack: packOfModule(info.python_module ?? undefined),
    pythonModule: info.python_module ?? undefined,
    displayName,
    description: info.description || undefined,
    category: info.category || undefined,
    outputNode: info.output_node === true,
    deprecated: info.deprecated === true,
    experimental: info.experimental === true,
    apiNode: info.api_node === true,
    devOnly: info.dev_only === true,
    inputs,
    hidden,
    outputs: normalizeOutputs(info),
    searchAliases: info.search_aliases?.length ? info.search_aliases : undefined,
    essentialsCategory: info.essentials_category || undefined,
    priceBadge: priceBadgeOf(info),
    hasIntermediateOutput: info.has_intermediate_output === true ? true : undefined,
    // A V3 node's info (`GET_NODE_INFO_V1`, an `asdict`) always has both flags; a classic node's
    // has each only when it is true (server.py `node_info`).
    v3: "deprecated" in info && "experimental" in info ? true : undefined,
  });
}

/** `price_badge`: kept when it has the documented `{engine, expr}` strings; V3 sends null. */
function priceBadgeOf(info: NodeInfo): NodeClassIR["priceBadge"] {
  const badge = (info as { price_badge?: unknown }).price_badge;
  if (badge === null || typeof badge !== "object") return undefined;
  const { engine, expr } = badge as { engine?: unknown; expr?: unknown };
  return typeof engine === "string" && typeof expr === "string" ? { engine, expr } : undefined;
}

function orderedNames(section: Record<string, unknown>, order: readonly string[] | undefined) {
  const keys = Object.keys(section);
  if (!order) return keys;
  // Usually the order lists exactly the section's names, in the same order.
  if (order.length === keys.length && order.every((name, i) => name === keys[i])) return keys;
  const inSection = new Set(keys);
  const ordered = order.filter((n) => inSection.has(n));
  const listed = new Set(ordered);
  return [...new Set(ordered), ...keys.filter((k) => !listed.has(k))];
}

function normalizeOutputs(info: NodeInfo): OutputIR[] {
  const names = info.output.map((type, i) => {
    const name = info.output_name?.[i];
    return name || (typeof type === "string" ? type : "COMBO");
  });
  const identifiers = assignOutputIdentifiers(names, HANDLE_MEMBERS);
  return info.output.map((rawType, index) =>
    compact({
      index,
      name: names[index]!,
      identifier: identifiers[index]!,
      type: socketTypeOfOutput(rawType),
      rawType,
      isList: info.output_is_list?.[index] === true,
      tooltip: info.output_tooltips?.[index] ?? undefined,
      matchType: info.output_matchtypes?.[index] ?? undefined,
    }),
  );
}

function socketTypeOfOutput(rawType: string | readonly ComboValue[]): string {
  if (typeof rawType !== "string") return "COMBO";
  // MatchType outputs take the type of their input; the server never type-checks them.
  if (rawType === "COMFY_MATCHTYPE_V3") return "*";
  return rawType;
}

const packs = new Map<string | undefined, string>();
/** {@link packOf}, remembered: a schema has thousands of classes but few modules. */
function packOfModule(pythonModule: string | undefined): string {
  let pack = packs.get(pythonModule);
  if (pack === undefined) {
    pack = packOf(pythonModule);
    if (packs.size < 10_000) packs.set(pythonModule, pack);
  }
  return pack;
}

/** Maps `python_module` to a node pack name (also the generated module's file name). */
export function packOf(pythonModule: string | undefined): string {
  if (!pythonModule) return "core";
  const parts = pythonModule.split(".");
  const head = parts[0]!;
  if (head === "nodes" || head === "comfy_extras") return "core";
  if (head === "comfy_api_nodes") return "api-nodes";
  const packName = head === "custom_nodes" && parts[1] ? parts[1] : head;
  const slug = packName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug === "" || slug === "core" || slug === "api-nodes" || slug === "index"
    ? `pack-${slug || "unnamed"}`
    : slug;
}

type InputBaseFields = Pick<
  InputIR,
  "name" | "required" | "config" | "tooltip" | "displayName" | "forceInput" | "lazy" | "advanced"
>;

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
// A lossless parse gives bigint for limits beyond 2^53 (a seed's 2^64-1); they become the same
// number JSON.parse would give, so both parses normalize alike.
const num = (v: unknown): number | undefined =>
  typeof v === "bigint" ? Number(v) : typeof v === "number" && Number.isFinite(v) ? v : undefined;
/** An integer limit kept exact: a lossless parse's bigint stays a bigint (seed maxima). */
const exactInt = (v: unknown): number | bigint | undefined =>
  typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v) : num(v);
const flag = (v: unknown): true | undefined => (v === true ? true : undefined);

/** Normalizes one input spec. `path` locates it for warnings. */
export function normalizeInput(
  name: string,
  spec: InputSpec,
  required: boolean,
  path: readonly PropertyKey[] = [name],
): InputIR {
  const [type, rawOptions] = spec;
  const options: InputOptions = rawOptions ?? {};
  const base: InputBaseFields = {
    name,
    required,
    config: [type, options],
    tooltip: str(options["tooltip"]),
    displayName: str(options["display_name"]),
    forceInput: flag(options["forceInput"]) ?? flag(options["defaultInput"]),
    lazy: flag(options["lazy"]),
    advanced: flag(options["advanced"]),
  };
  if (Array.isArray(type)) return combo(base, type, options, true);
  switch (type) {
    case "INT": {
      const d = num(options["default"]);
      return withBase(base, {
        kind: "int",
        min: exactInt(options["min"]),
        max: exactInt(options["max"]),
        step: num(options["step"]),
        default: d !== undefined && Number.isInteger(d) ? d : undefined,
      });
    }
    case "FLOAT":
      return withBase(base, {
        kind: "float",
        min: num(options["min"]),
        max: num(options["max"]),
        step: num(options["step"]),
        round: options["round"] === false ? false : num(options["round"]),
        default: num(options["default"]),
      });
    case "STRING":
      return withBase(base, {
        kind: "string",
        multiline: options["multiline"] === true,
        default: typeof options["default"] === "string" ? options["default"] : undefined,
        placeholder: str(options["placeholder"]),
      });
    case "BOOLEAN":
      return withBase(base, {
        kind: "boolean",
        default: typeof options["default"] === "boolean" ? options["default"] : undefined,
        labelOn: str(options["label_on"]),
        labelOff: str(options["label_off"]),
      });
    case "COMBO": {
      const listed = options["options"];
      if (listed !== undefined) {
        // What ComboValueSchema.array() accepts, exactly.
        if (!isComboList(listed)) {
          throw new SpecIssue([...path, 1, "options"], "COMBO options must be a list of values");
        }
        return combo(base, listed, options, false);
      }
      return combo(base, [], options, false);
    }
    case "COMFY_DYNAMICCOMBO_V3":
      return withBase(base, { kind: "dynamic_combo", options: dynamicOptions(options, path) });
    case "COMFY_AUTOGROW_V3":
      return autogrow(base, options, path);
    case "COMFY_MATCHTYPE_V3": {
      const template = options["template"] as Record<string, unknown> | undefined;
      const allowed = str(template?.["allowed_types"]) ?? "*";
      return withBase(base, {
        kind: "matchtype",
        templateId: str(template?.["template_id"]) ?? name,
        allowedTypes: splitTypes(allowed),
      });
    }
    case "COMFY_DYNAMICSLOT_V3": {
      const slot = str(options["slotType"]) ?? "*";
      return withBase(base, { kind: "link", type: slot, accepts: splitTypes(slot) });
    }
    default: {
      // V3 value types (COLOR 0.12.0, BOUNDING_BOX 0.15.0, CURVE 0.16.0, RANGE 0.20.0, …) are
      // widgets whose constant goes in the prompt; `socketless` marks any such widget.
      const value = V3_VALUE_TYPES.has(type) || options["socketless"] === true;
      return withBase(base, {
        kind: "link",
        type,
        accepts: splitTypes(type),
        value: value ? true : undefined,
        default: value ? options["default"] : undefined,
      });
    }
  }
}

/** V3 io types edited by a widget, from `comfy_api/latest/_io.py` (changes §E). */
export const V3_VALUE_TYPES: ReadonlySet<string> = new Set([
  "COLOR",
  "COLORS",
  "BOUNDING_BOX",
  "BOUNDING_BOXES",
  "CURVE",
  "RANGE",
  "HISTOGRAM",
  "IMAGECOMPARE",
  "COMPOSITOR",
  "LAYERS",
]);

function combo(
  base: InputBaseFields,
  options: readonly ComboValue[],
  raw: InputOptions,
  legacy: boolean,
): InputIR {
  const d = raw["default"];
  const validDefault =
    (typeof d === "string" || typeof d === "number" || typeof d === "boolean") &&
    (options.length === 0 || options.includes(d));
  const upload = (["image", "audio", "video", "file"] as const).find(
    (k) => raw[`${k}_upload`] === true,
  );
  return withBase(base, {
    kind: "combo",
    options,
    default: validDefault ? d : undefined,
    legacy,
    multiselect: raw["multiselect"] === true || Boolean(raw["multi_select"]),
    remote: raw["remote"] !== undefined && raw["remote"] !== null,
    upload,
  });
}

/** `"IMAGE, MASK"` → `["IMAGE", "MASK"]`. */
export function splitTypes(type: string): string[] {
  return type
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

function dynamicOptions(
  options: InputOptions,
  path: readonly PropertyKey[],
): DynamicComboOptionIR[] {
  const list = options["options"];
  if (!Array.isArray(list)) {
    throw new SpecIssue([...path, 1, "options"], "DynamicCombo options must be a list");
  }
  return list.map((option: unknown, i) => {
    const at = [...path, 1, "options", i];
    if (
      option === null ||
      typeof option !== "object" ||
      typeof (option as { key?: unknown }).key !== "string"
    ) {
      throw new SpecIssue(at, "DynamicCombo option must be an object with a string `key`");
    }
    const { key, inputs } = option as { key: string; inputs?: unknown };
    return { key, inputs: nestedInputs(inputs, [...at, "inputs"]) };
  });
}

function nestedInputs(raw: unknown, path: readonly PropertyKey[]): InputIR[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new SpecIssue(path, "expected {required?, optional?} inputs");
  }
  const out: InputIR[] = [];
  const seen = new Set<string>();
  for (const category of ["required", "optional"] as const) {
    const section = (raw as Record<string, unknown>)[category];
    if (section === undefined || section === null) continue;
    if (typeof section !== "object" || Array.isArray(section)) {
      throw new SpecIssue([...path, category], "expected an object of input specs");
    }
    for (const [name, spec] of Object.entries(section)) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push(normalizeNestedSpec(name, spec, category === "required", [...path, category, name]));
    }
  }
  return out;
}

function normalizeNestedSpec(
  name: string,
  spec: unknown,
  required: boolean,
  path: readonly PropertyKey[],
): InputIR {
  // What InputSpecSchema accepts, exactly.
  if (!isInputSpec(spec)) throw new SpecIssue(path, "invalid input spec");
  return normalizeInput(name, spec, required, path);
}

function autogrow(
  base: InputBaseFields,
  options: InputOptions,
  path: readonly PropertyKey[],
): InputIR {
  const at = [...path, 1, "template"];
  const template = options["template"];
  if (template === null || typeof template !== "object" || Array.isArray(template)) {
    throw new SpecIssue(at, "Autogrow needs a `template` object");
  }
  const t = template as Record<string, unknown>;
  const inner = nestedInputs(t["input"], [...at, "input"]);
  const first = inner[0];
  if (!first) throw new SpecIssue([...at, "input"], "Autogrow template has no input");
  const min = num(t["min"]) ?? 1;
  let names: string[];
  let prefix: string | undefined;
  if (Array.isArray(t["names"])) {
    if (!t["names"].every((n) => typeof n === "string")) {
      throw new SpecIssue([...at, "names"], "Autogrow names must be strings");
    }
    names = (t["names"] as string[]).slice(0, 100);
  } else if (typeof t["prefix"] === "string") {
    prefix = t["prefix"];
    const max = Math.min(num(t["max"]) ?? 10, 100);
    names = Array.from({ length: Math.max(0, max) }, (_, i) => `${prefix}${i}`);
  } else {
    throw new SpecIssue(at, "Autogrow template needs `prefix` or `names`");
  }
  return withBase(base, { kind: "autogrow", template: first, names, prefix, min });
}

/**
 * `compact({ ...base, ...fields })` without the intermediate spread object: this runs for every
 * input of every class, so the copy it saves is a good part of normalizing's garbage.
 */
function withBase<F extends object>(base: InputBaseFields, fields: F): InputBaseFields & F {
  const out: Record<string, unknown> = {};
  const from = base as unknown as Record<string, unknown>;
  for (const k in from) {
    const v = from[k];
    if (v !== undefined) out[k] = v;
  }
  const more = fields as Record<string, unknown>;
  for (const k in more) {
    const v = more[k];
    if (v !== undefined) out[k] = v;
  }
  return out as InputBaseFields & F;
}

/** Drops keys whose value is `undefined`, so IR objects compare and serialize cleanly. */
function compact<T extends object>(obj: T): T {
  // for…in over a fresh literal: no entry arrays (this runs for every input of every class).
  const out: Record<string, unknown> = {};
  const from = obj as Record<string, unknown>;
  for (const k in from) {
    const v = from[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}
