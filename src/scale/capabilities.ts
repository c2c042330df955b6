import { createHash } from "node:crypto";
import { ComfycError } from "../errors.js";
import { ComboValueSchema, type ComboValue } from "../protocol/object-info.js";

/**
 * What one ComfyUI instance can run, as far as routing cares: its node classes and, per combo
 * input, the values it lists (model files, sampler names). Combos whose values are files
 * uploaded at submission (`image_upload` and friends) or fetched from a route (`remote`) are
 * left out, as ComfyUI's own editor treats them: any value may become valid on any instance.
 */
export interface Capabilities {
  /** class_type → input name → listed values (sorted). A class with no such combos maps to `{}`. */
  readonly classes: Readonly<Record<string, Readonly<Record<string, readonly ComboValue[]>>>>;
}

/** What a prompt needs: every class it uses and every combo value it sets. */
export interface Requirements {
  readonly classes: readonly string[];
  /** `[class_type, input, value]`, once each. */
  readonly combos: readonly (readonly [string, string, ComboValue])[];
}

/** One thing an instance lacks to run a prompt. */
export type Missing =
  | { readonly kind: "class"; readonly classType: string }
  | {
      readonly kind: "value";
      readonly classType: string;
      readonly input: string;
      readonly value: ComboValue;
    };

/**
 * The routing view of a raw `/object_info` reply (untrusted: malformed entries are skipped, as
 * they would be unusable on that instance anyway).
 */
export function capabilitiesOf(objectInfo: Readonly<Record<string, unknown>>): Capabilities {
  const classes: Record<string, Record<string, ComboValue[]>> = {};
  for (const [classType, info] of Object.entries(objectInfo)) {
    const combos: Record<string, ComboValue[]> = {};
    const input = (info as { input?: Record<string, unknown> } | null)?.input;
    for (const section of ["required", "optional"] as const) {
      const specs = input?.[section];
      if (specs === null || typeof specs !== "object") continue;
      for (const [name, spec] of Object.entries(specs as Record<string, unknown>)) {
        const values = comboValues(spec);
        if (values) combos[name] = [...values].sort(compareValues);
      }
    }
    classes[classType] = combos;
  }
  return { classes };
}

/**
 * The values a combo spec lists, in both spellings (`[[…], {…}]` and `["COMBO", { options }]`),
 * or `undefined` when the input is not a routable combo (not a combo, an upload, a remote list).
 */
function comboValues(spec: unknown): readonly ComboValue[] | undefined {
  if (!Array.isArray(spec)) return undefined;
  const [type, options] = spec as [unknown, Record<string, unknown> | undefined];
  const opts = options !== null && typeof options === "object" ? options : {};
  if (
    ["image_upload", "audio_upload", "video_upload", "file_upload"].some((k) => opts[k] === true) ||
    (opts["remote"] !== undefined && opts["remote"] !== null)
  )
    return undefined;
  const listed = Array.isArray(type) ? type : type === "COMBO" ? opts["options"] : undefined;
  const parsed = ComboValueSchema.array().safeParse(listed);
  return parsed.success ? parsed.data : undefined;
}

function compareValues(a: ComboValue, b: ComboValue): number {
  const x = `${typeof a}:${String(a)}`;
  const y = `${typeof b}:${String(b)}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * What an API-format prompt needs from an instance. Combo values are collected for every
 * literal (non-link) input, and checked only where the instance declares that input a combo.
 */
export function requirementsOf(prompt: Readonly<Record<string, unknown>>): Requirements {
  const classes = new Set<string>();
  const combos = new Map<string, readonly [string, string, ComboValue]>();
  for (const [id, node] of Object.entries(prompt)) {
    const classType = (node as { class_type?: unknown } | null)?.class_type;
    if (typeof classType !== "string")
      // PROMPT_INVALID (exit 1), as `comfyc validate` and ComfyUI judge such a node.
      throw new ComfycError(
        "PROMPT_INVALID",
        `Node "${id}" of the prompt has no class_type, so no instance can run it`,
        "Give every node a class_type (its node class, such as KSampler); `comfyc validate --url <server>` shows how ComfyUI answers this prompt.",
      );
    classes.add(classType);
    const inputs = (node as { inputs?: unknown }).inputs;
    if (inputs === null || typeof inputs !== "object") continue;
    for (const [input, value] of Object.entries(inputs as Record<string, unknown>)) {
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean")
        continue;
      combos.set(`${classType}\u0000${input}\u0000${typeof value}:${value}`, [
        classType,
        input,
        value,
      ]);
    }
  }
  return { classes: [...classes].sort(), combos: [...combos.values()] };
}

/** Everything `capabilities` lacks to run a prompt with `requirements` (empty: it can run it). */
export function missingFrom(requirements: Requirements, capabilities: Capabilities): Missing[] {
  const missing: Missing[] = [];
  for (const classType of requirements.classes)
    if (!Object.hasOwn(capabilities.classes, classType)) missing.push({ kind: "class", classType });
  for (const [classType, input, value] of requirements.combos) {
    const values = capabilities.classes[classType]?.[input];
    if (values && !values.includes(value)) missing.push({ kind: "value", classType, input, value });
  }
  return missing;
}

/**
 * A short stable id of a capability set (16 hex digits of its SHA-256): instances with the
 * same classes and combo values share it, and with it a queue lane.
 */
export function capabilityId(capabilities: Capabilities): string {
  const h = createHash("sha256");
  for (const classType of Object.keys(capabilities.classes).sort()) {
    h.update(`${classType}\u0000`);
    const combos = capabilities.classes[classType]!;
    for (const input of Object.keys(combos).sort())
      h.update(`${input}\u0001${JSON.stringify(combos[input])}\u0002`);
    h.update("\u0003");
  }
  return h.digest("hex").slice(0, 16);
}

/** One line per missing item, grouped: `class "X" is not installed`, `ckpt_name "y" is not listed`. */
export function describeMissing(missing: readonly Missing[], max = 5): string {
  const lines = missing
    .slice(0, max)
    .map((m) =>
      m.kind === "class"
        ? `node class "${m.classType}" is not installed`
        : `${m.classType}.${m.input} ${JSON.stringify(m.value)} is not among its values`,
    );
  if (missing.length > max) lines.push(`… and ${missing.length - max} more`);
  return lines.join("; ");
}

/**
 * No instance (or queue lane) can run the prompt. `missing` says, per candidate, what it lacks.
 */
export class NoCapableServerError extends ComfycError {
  constructor(
    readonly missing: readonly { readonly where: string; readonly missing: readonly Missing[] }[],
  ) {
    super(
      "NO_CAPABLE_SERVER",
      missing.length === 0
        ? "No ComfyUI instance is available to run the prompt"
        : `No ComfyUI instance can run the prompt:\n${missing.map((m) => `  ${m.where}: ${describeMissing(m.missing)}`).join("\n")}`,
      missing.length === 0
        ? "Start a worker (`comfyc worker --server <url>`) or add servers to the pool."
        : "Install the missing nodes or model files on an instance, or change the prompt's values.",
    );
  }
}
