import type { ComboValue, InputSpec, NodeInfo } from "./object-info.js";

/*
 * Fast paths for reading `/object_info`, without zod. Reading a big object_info is mostly the
 * schemas of `object-info.ts` at work on node infos that are already well formed, where zod's
 * result is a copy equal to its input. The predicates here recognise such values with plain
 * checks; anything they do not recognise (a wrong type, a cosmetic field zod would drop, an own
 * `__proto__` key zod would strip) goes through the schema, which stays the one definition of
 * what is accepted and of every error. A property test checks that whatever a predicate
 * accepts, the schema accepts unchanged. Codegen loads zod only when some node needs it.
 */

/** A JSON object: a plain object (what `JSON.parse` makes), not an array or null. */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A value a combo can offer (what `ComboValueSchema` accepts): a string, boolean or finite number. */
export const isComboValue = (v: unknown): v is ComboValue =>
  typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

/** An array of combo values (what `ComboValueSchema.array()` accepts, exactly). */
export function isComboList(v: unknown): v is ComboValue[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!isComboValue(v[i])) return false;
  return true;
}

const isInputType = (v: unknown): boolean => typeof v === "string" || isComboList(v);

/** An input spec (what `InputSpecSchema` accepts, exactly). */
export function isInputSpec(v: unknown): v is InputSpec {
  return (
    Array.isArray(v) &&
    isInputType(v[0]) &&
    (v.length < 2 || v[1] === undefined || isJsonObject(v[1]))
  );
}

/** A plain object without an own `__proto__` key (which zod's object and record copies drop). */
const isCopyableObject = (v: unknown): v is Record<string, unknown> =>
  isJsonObject(v) && !Object.hasOwn(v, "__proto__");

const isNullish = (v: unknown): v is null | undefined => v === undefined || v === null;
const optionalString = (v: unknown) => isNullish(v) || typeof v === "string";
const optionalBoolean = (v: unknown) => isNullish(v) || typeof v === "boolean";

function optionalArrayOf(v: unknown, item: (x: unknown) => boolean): boolean {
  if (isNullish(v)) return true;
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
  return true;
}

function isSection(v: unknown): boolean {
  if (isNullish(v)) return true;
  if (!isCopyableObject(v)) return false;
  for (const key in v) if (!isInputSpec(v[key])) return false;
  return true;
}

function isInputOrder(v: unknown): boolean {
  if (isNullish(v)) return true;
  if (!isCopyableObject(v)) return false;
  for (const key in v) {
    const names = v[key];
    if (!Array.isArray(names) || !optionalArrayOf(names, (x) => typeof x === "string"))
      return false;
  }
  return true;
}

const STRING_FIELDS = [
  "name",
  "display_name",
  "description",
  "python_module",
  "category",
  "essentials_category",
] as const;
const BOOLEAN_FIELDS = [
  "output_node",
  "deprecated",
  "experimental",
  "api_node",
  "dev_only",
  "has_intermediate_output",
  "is_input_list",
] as const;

/**
 * A node info that `NodeInfoSchema` accepts as it is (its result would be an equal copy).
 * False says nothing: the schema decides.
 */
export function isWellFormedNodeInfo(v: unknown): v is NodeInfo {
  if (!isCopyableObject(v)) return false;
  const input = v["input"];
  if (
    !isCopyableObject(input) ||
    !isSection(input["required"]) ||
    !isSection(input["optional"]) ||
    !(isNullish(input["hidden"]) || isJsonObject(input["hidden"]))
  ) {
    return false;
  }
  if (!Array.isArray(v["output"]) || !optionalArrayOf(v["output"], isInputType)) return false;
  if (!isInputOrder(v["input_order"])) return false;
  const stringOrNull = (x: unknown) => x === null || typeof x === "string";
  if (
    !optionalArrayOf(v["output_is_list"], (x) => x === null || typeof x === "boolean") ||
    !optionalArrayOf(v["output_name"], stringOrNull) ||
    !optionalArrayOf(v["output_tooltips"], stringOrNull) ||
    !optionalArrayOf(v["output_matchtypes"], stringOrNull) ||
    !optionalArrayOf(v["search_aliases"], (x) => typeof x === "string")
  ) {
    return false;
  }
  for (const key of STRING_FIELDS) if (!optionalString(v[key])) return false;
  for (const key of BOOLEAN_FIELDS) if (!optionalBoolean(v[key])) return false;
  return true;
}
