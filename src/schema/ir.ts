import type { ComboValue, InputOptions } from "../protocol/object-info.js";

/**
 * The normalized node model every part of comfyc reads: codegen, the builder, the validator and
 * the test server. Plain readonly data, produced only by `normalizeObjectInfo()`, so no consumer
 * ever sees raw `/object_info` JSON.
 */

/** `[input_type, extra_info]` exactly as ComfyUI reports it in `input_config` of errors. */
export type InputConfig = readonly [type: string | readonly ComboValue[], options: InputOptions];

interface InputBase {
  /** The key in the prompt's `inputs`. */
  readonly name: string;
  readonly required: boolean;
  readonly config: InputConfig;
  readonly tooltip?: string;
  readonly displayName?: string;
  /** `forceInput`/`defaultInput`: shown as a socket only in the editor. */
  readonly forceInput?: boolean;
  readonly lazy?: boolean;
  readonly advanced?: boolean;
}

/** A socket: links only, except that widget types inside a union also accept constants. */
export interface LinkInputIR extends InputBase {
  readonly kind: "link";
  /** The declared type string, such as `"IMAGE"`, `"IMAGE,MASK"` or `"*"`. */
  readonly type: string;
  /** `type` split on commas and trimmed. */
  readonly accepts: readonly string[];
  /**
   * A V3 value type edited by a widget (`COLOR`, `BOUNDING_BOX`, `CURVE`, `RANGE`, …, or any
   * `socketless` input): the prompt may hold a constant instead of a link (ComfyUI 0.9.0+).
   */
  readonly value?: true;
  /** The widget's default constant, when the server gives one. */
  readonly default?: unknown;
}

export interface IntInputIR extends InputBase {
  readonly kind: "int";
  /** Exact limits: a bigint beyond 2^53 when the schema was parsed losslessly (64-bit seeds). */
  readonly min?: number | bigint;
  readonly max?: number | bigint;
  readonly step?: number;
  readonly default?: number;
}

export interface FloatInputIR extends InputBase {
  readonly kind: "float";
  readonly min?: number;
  readonly max?: number;
  readonly step?: number;
  readonly round?: number | false;
  readonly default?: number;
}

export interface StringInputIR extends InputBase {
  readonly kind: "string";
  readonly multiline: boolean;
  readonly default?: string;
  readonly placeholder?: string;
}

export interface BooleanInputIR extends InputBase {
  readonly kind: "boolean";
  readonly default?: boolean;
  readonly labelOn?: string;
  readonly labelOff?: string;
}

export interface ComboInputIR extends InputBase {
  readonly kind: "combo";
  readonly options: readonly ComboValue[];
  readonly default?: ComboValue;
  /** Declared as a list (`[[…]]`) rather than `"COMBO"`; v0.3.64 checks membership only then. */
  readonly legacy: boolean;
  readonly multiselect: boolean;
  /** Options are fetched by the editor from a route (`remote`), so the list here may be empty. */
  readonly remote: boolean;
  /** `image_upload` and friends: values are files uploaded to the server's input folder. */
  readonly upload?: "image" | "audio" | "video" | "file";
}

/** V3 DynamicCombo: the value selects an option whose inputs become `<name>.<child>` keys. */
export interface DynamicComboInputIR extends InputBase {
  readonly kind: "dynamic_combo";
  readonly options: readonly DynamicComboOptionIR[];
}

export interface DynamicComboOptionIR {
  readonly key: string;
  readonly inputs: readonly InputIR[];
}

/** V3 Autogrow: a template input repeated as `<name>.<slot>` for each slot name. */
export interface AutogrowInputIR extends InputBase {
  readonly kind: "autogrow";
  readonly template: InputIR;
  /** Slot names in order: `prefix0…prefix(max-1)`, or the declared `names`. */
  readonly names: readonly string[];
  /** Set for the prefix form, which the builder exposes as an array. */
  readonly prefix?: string;
  /** The first `min` slots are required when the template input is required. */
  readonly min: number;
}

/** V3 MatchType: any of `allowedTypes`; the server does not type-check these links. */
export interface MatchTypeInputIR extends InputBase {
  readonly kind: "matchtype";
  readonly templateId: string;
  readonly allowedTypes: readonly string[];
}

export type WidgetInputIR =
  IntInputIR | FloatInputIR | StringInputIR | BooleanInputIR | ComboInputIR;

export type InputIR =
  LinkInputIR | WidgetInputIR | DynamicComboInputIR | AutogrowInputIR | MatchTypeInputIR;

export interface OutputIR {
  readonly index: number;
  /** Display name from `output_name`, falling back to the type. */
  readonly name: string;
  /** Unique, valid property name on the node handle (`SIGMAS`, `SIGMAS_1`). */
  readonly identifier: string;
  /** Socket type: `"COMBO"` for list-typed outputs, `"*"` for MatchType outputs. */
  readonly type: string;
  /** The type exactly as `/object_info` lists it (validation compares this). */
  readonly rawType: string | readonly ComboValue[];
  readonly isList: boolean;
  readonly tooltip?: string;
  /** `output_matchtypes[index]` (0.4.0+): the MatchType template whose type this output takes. */
  readonly matchType?: string;
}

/** `price_badge` of a partner API node (0.9.2+): how the editor computes its price. */
export interface PriceBadgeIR {
  /** The expression language, `"jsonata"`. */
  readonly engine: string;
  /** The price expression over the widgets and inputs it depends on. */
  readonly expr: string;
}

export interface NodeClassIR {
  /** The registered name, the key in `/object_info`: `"LayerUtility: CropByMask V2"`. */
  readonly classType: string;
  /** Valid, collision-free, stable identifier: `"LayerUtility_CropByMask_V2"`. */
  readonly identifier: string;
  /** Node pack, from `python_module`: `core`, `api-nodes`, or the custom node folder. */
  readonly pack: string;
  readonly pythonModule?: string;
  /** `display_name`, falling back to `classType`. */
  readonly displayName: string;
  readonly description?: string;
  readonly category?: string;
  readonly outputNode: boolean;
  readonly deprecated: boolean;
  readonly experimental: boolean;
  readonly apiNode: boolean;
  readonly devOnly: boolean;
  readonly inputs: readonly InputIR[];
  /** Names of hidden inputs, which the server fills in. */
  readonly hidden: readonly string[];
  readonly outputs: readonly OutputIR[];
  readonly searchAliases?: readonly string[];
  /** `essentials_category` (0.15.0+): the editor's essentials tab this node is listed under. */
  readonly essentialsCategory?: string;
  /** `price_badge` (0.9.2+), on partner API nodes. */
  readonly priceBadge?: PriceBadgeIR;
  /** `has_intermediate_output` (0.19.0+): shows UI output before it finishes. */
  readonly hasIntermediateOutput?: true;
  /**
   * The object_info was read with `parseJsonLossless(text, { floats: true })` (this class's
   * entry is `parsedWithFloats`): a number in this
   * class's input options (`min`, `max`, combo values) is a Python float exactly when
   * `writtenAsFloat` says so, and the validator prints it so (`max of 1000.0` for a V3
   * `io.Float` limit, `max of 1` for a classic FLOAT input declaring `"max": 1`). Without it, a
   * FLOAT input's limits print as floats and other limits as ints, as most classes declare them.
   */
  readonly numbersAsWritten?: true;
  /**
   * A V3 node (`comfy_api` `io.ComfyNode`), told from its entry: V3 entries always
   * carry `deprecated` and `experimental`, classic ones each only when true. Its `RETURN_TYPES`
   * is a list, so a bad link index raises `list indices must be…` / `list index out of range`
   * where a classic node's tuple says `tuple`.
   */
  readonly v3?: true;
}

/** A problem in one part of an object_info that was skipped rather than failing everything. */
export interface SchemaWarning {
  /** JSON path into the object_info: `KSampler.input.required.seed[1].max`. */
  readonly path: string;
  readonly message: string;
}

/** A normalized object_info. */
export interface NodeSchema {
  /** Node classes keyed by class_type, in code-unit order of class_type. */
  readonly classes: ReadonlyMap<string, NodeClassIR>;
  readonly warnings: readonly SchemaWarning[];
  /** sha256 of the canonical JSON (sorted keys) of the object_info. */
  readonly hash: string;
}

/**
 * Members of a node handle that outputs cannot use as names; an output with one of these names
 * gets its index appended. `then` and `toJSON` would confuse `await` and `JSON.stringify`.
 */
export const HANDLE_MEMBERS: ReadonlySet<string> = new Set([
  "nodeId",
  "classType",
  "index",
  "type",
  "then",
  "toJSON",
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__proto__",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
]);
