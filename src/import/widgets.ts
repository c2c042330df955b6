import type { InputIR, NodeClassIR } from "../schema/ir.js";

/**
 * The editor's widgets of a node class and how `widgets_values` maps onto them
 * (`comfyui-workflow-format.md` §3, frontend v1.45 `litegraphService.ts`, `widgets.ts`,
 * `uploadImage.ts`, `uploadAudio.ts`, `dynamicWidgets.ts`).
 */

/** What a widget is for. Only `value` and `refresh` widgets reach the prompt. */
export type WidgetRole = "value" | "control" | "filter" | "refresh" | "upload" | "player";

/** One widget of a node, in `widgets_values` order. */
export interface WidgetSlot {
  /** The prompt key: the input name (`"<input>.<sub>"` inside a dynamic combo). */
  readonly key: string;
  readonly role: WidgetRole;
  /** The input a `value` widget edits. */
  readonly input?: InputIR;
}

/**
 * Core widget types the editor builds for inputs that are not INT/FLOAT/STRING/BOOLEAN/COMBO
 * (§3.1). They take a `widgets_values` slot and are sent under the input's name.
 */
const OTHER_WIDGET_TYPES = new Set([
  "MARKDOWN",
  "IMAGEUPLOAD",
  "COLOR",
  "BOUNDING_BOX",
  "CHART",
  "GALLERIA",
  "PAINTER",
  "TEXTAREA",
  "CURVE",
  "RANGE",
]);

/** Classes the editor gives an `audioUI` player widget (frontend `uploadAudio.ts`). */
const AUDIO_PLAYER_CLASSES = new Set([
  "LoadAudio",
  "SaveAudio",
  "PreviewAudio",
  "SaveAudioMP3",
  "SaveAudioOpus",
  "SaveAudioAdvanced",
]);

const options = (input: InputIR): Readonly<Record<string, unknown>> => input.config[1] ?? {};

/** True when the editor makes a widget for this input (§3.1): not `forceInput`, a widget type. */
export function isWidgetInput(input: InputIR): boolean {
  if (input.forceInput) return false;
  switch (input.kind) {
    case "int":
    case "float":
    case "string":
    case "boolean":
    case "combo":
    case "dynamic_combo":
      return true;
    case "link": {
      const widgetType = options(input)["widgetType"];
      return OTHER_WIDGET_TYPES.has(typeof widgetType === "string" ? widgetType : input.type);
    }
    default:
      return false;
  }
}

/** The widgets one input expands to, after the value (control, filter, refresh; §3.3). */
function extrasAfter(input: InputIR): WidgetSlot[] {
  const o = options(input);
  const control = o["control_after_generate"];
  const out: WidgetSlot[] = [];
  if (input.kind === "int") {
    const seedLike =
      control === undefined && (input.name === "seed" || input.name === "noise_seed");
    if (control || seedLike) out.push({ key: "control_after_generate", role: "control" });
  } else if (input.kind === "float") {
    // useFloatWidget adds a control widget only when the spec asks (no seed-name rule).
    if (control) out.push({ key: "control_after_generate", role: "control" });
  } else if (input.kind === "combo") {
    const remote = o["remote"] as { refresh_button?: unknown } | undefined;
    if (remote && typeof remote === "object" && remote.refresh_button)
      out.push({ key: "refresh", role: "refresh" });
    if (control) {
      out.push({ key: "control_after_generate", role: "control" });
      out.push({ key: "control_filter_list", role: "filter" });
    }
  }
  return out;
}

/**
 * The widgets of `inputs` in `widgets_values` order, with dynamic-combo sub-widgets expanded for
 * the selected option. `selected(key)` returns the selector's value once it is known, which is
 * why callers walk the list lazily with {@link mapWidgetValues}.
 */
function* widgetSlots(
  inputs: readonly InputIR[],
  prefix: string,
  selected: (key: string) => unknown,
): Generator<WidgetSlot> {
  for (const input of inputs) {
    if (!isWidgetInput(input)) continue;
    const key = prefix + input.name;
    yield { key, role: "value", input };
    yield* extrasAfter(input);
    if (input.kind === "dynamic_combo") {
      const choice = selected(key);
      const option = input.options.find((o) => o.key === choice);
      if (option) yield* widgetSlots(option.inputs, `${key}.`, selected);
    }
  }
}

const staticSlots = new WeakMap<NodeClassIR, readonly WidgetSlot[]>();

/**
 * Every widget of a class, lazily, so a dynamic combo's expansion sees its selected value. The
 * list of a class without dynamic combos never changes, so it is built once per class.
 */
function allSlots(cls: NodeClassIR, selected: (key: string) => unknown): Iterable<WidgetSlot> {
  const cached = staticSlots.get(cls);
  if (cached) return cached;
  if (cls.inputs.some((i) => i.kind === "dynamic_combo")) return chain(cls, selected);
  const slots = [...chain(cls, selected)];
  staticSlots.set(cls, slots);
  return slots;
}

function* chain(cls: NodeClassIR, selected: (key: string) => unknown): Generator<WidgetSlot> {
  yield* widgetSlots(cls.inputs, "", selected);
  yield* trailingSlots(cls);
}

/** Buttons and players the editor appends after the definition's inputs (§3.2, §3.3). */
function trailingSlots(cls: NodeClassIR): WidgetSlot[] {
  const out: WidgetSlot[] = [];
  if (AUDIO_PLAYER_CLASSES.has(cls.classType)) out.push({ key: "audioUI", role: "player" });
  const uploads = cls.inputs.some((input) => {
    if (input.kind !== "combo" || input.forceInput) return false;
    const o = options(input);
    return (
      o["image_upload"] === true ||
      o["video_upload"] === true ||
      o["animated_image_upload"] === true ||
      o["audio_upload"] === true
    );
  });
  if (uploads) out.push({ key: "upload", role: "upload" });
  return out;
}

/** A definition's default for a widget whose value the file does not have (§3.4). */
export function widgetDefault(input: InputIR): unknown {
  const d = options(input)["default"];
  switch (input.kind) {
    case "int":
    case "float":
      return typeof d === "number" || typeof d === "bigint" ? d : 0;
    case "string":
      return typeof d === "string" ? d : "";
    case "boolean":
      return typeof d === "boolean" ? d : false;
    case "combo":
      return d ? d : input.options[0];
    case "dynamic_combo":
      return d ? d : input.options[0]?.key;
    default:
      return d;
  }
}

/** The result of {@link mapWidgetValues}. */
export interface MappedWidgets {
  /** Prompt values of the node's widgets by key, in widget order (value and refresh widgets). */
  readonly values: Map<string, unknown>;
  /** The widgets, in order, as the stored values were laid onto them. */
  readonly slots: readonly WidgetSlot[];
  /** Keys of widgets that got the definition's default because the file has no value. */
  readonly defaulted: readonly string[];
  /** Stored values beyond the last widget that carry data (not `""`, `null` or a button). */
  readonly surplus: readonly unknown[];
  /** Set when old `forceInput` values were dropped (pre-v1.16 layout, §3.4). */
  readonly droppedLegacyForceInputs: boolean;
  /**
   * The control widgets (`control_after_generate`, and `control_filter_list` of combos) by the
   * key of the value widget they drive, with the stored mode or the editor's default.
   */
  readonly controls: Map<string, WidgetControl>;
}

/** A value widget's control: its mode and, for combos, the filter of the option list. */
export interface WidgetControl {
  readonly input: InputIR;
  mode: unknown;
  filter: unknown;
}

/**
 * The mode a control widget starts with (frontend `useIntWidget`, `useFloatWidget`,
 * `useComboWidget`): the spec's mode when it names one, else `randomize` for INT and single
 * combos, `fixed` for FLOAT and multi-select combos.
 */
export function defaultControlMode(input: InputIR): string {
  const flag = options(input)["control_after_generate"];
  if (typeof flag === "string") return flag;
  if (input.kind === "float" || (input.kind === "combo" && input.multiselect)) return "fixed";
  return "randomize";
}

/** UI-only keys of object-form `widgets_values` (VideoHelperSuite previews, §3.7). */
const UI_ONLY_KEYS = new Set(["videopreview", "preview"]);

/**
 * Lays stored `widgets_values` onto a class's widgets the way the editor does on load:
 * positionally for arrays (defaults for missing values, surplus ignored), by name for the
 * object form; then returns what the prompt gets. Legacy fixes applied on load: the
 * `sample_` prefix of KSampler sampler names, and values of pre-v1.16 `forceInput` inputs
 * dropped when the array has exactly that older layout (§3.4).
 */
export function mapWidgetValues(
  cls: NodeClassIR,
  stored: readonly unknown[] | Readonly<Record<string, unknown>> | undefined,
): MappedWidgets {
  const values = new Map<string, unknown>();
  const controls = new Map<string, WidgetControl>();
  const slots: WidgetSlot[] = [];
  const defaulted: string[] = [];
  const selected = (key: string) => values.get(key);
  let surplus: unknown[] = [];
  let dropped = false;
  let driven: WidgetSlot | undefined;
  /** Records a control or filter slot against the value widget before it. */
  const control = (slot: WidgetSlot, has: boolean, value: unknown) => {
    if (slot.role === "value") driven = slot;
    if ((slot.role !== "control" && slot.role !== "filter") || !driven?.input) return;
    let entry = controls.get(driven.key);
    if (!entry) {
      entry = { input: driven.input, mode: defaultControlMode(driven.input), filter: "" };
      controls.set(driven.key, entry);
    }
    if (!has) return;
    if (slot.role === "filter") entry.filter = value;
    else entry.mode = fixControlMode(cls, value);
  };

  if (stored !== undefined && !Array.isArray(stored)) {
    const byName = stored as Readonly<Record<string, unknown>>;
    const known = new Set<string>();
    for (const slot of allSlots(cls, selected)) {
      slots.push(slot);
      known.add(slot.key);
      control(slot, slot.key in byName, byName[slot.key]);
      if (slot.role !== "value" && slot.role !== "refresh") continue;
      if (slot.key in byName) values.set(slot.key, fixValue(cls, slot, byName[slot.key]));
      else if (slot.role === "refresh") values.set(slot.key, "refresh");
      else if (slot.input) {
        values.set(slot.key, widgetDefault(slot.input));
        defaulted.push(slot.key);
      }
    }
    // Pack widgets the definition does not declare (VHS format options) are sent by the editor.
    for (const [key, value] of Object.entries(byName)) {
      if (!known.has(key) && !UI_ONLY_KEYS.has(key) && value !== undefined) values.set(key, value);
    }
    return { values, slots, defaulted, surplus, droppedLegacyForceInputs: false, controls };
  }

  let list = (stored ?? []) as readonly unknown[];
  const legacy = cls.inputs.some((i) => i.forceInput) ? legacyForceInputPositions(cls) : undefined;
  if (legacy && list.length === legacy.length) {
    list = list.filter((_, i) => !legacy.forced.has(i));
    dropped = true;
  }
  let k = 0;
  for (const slot of allSlots(cls, selected)) {
    slots.push(slot);
    const has = k < list.length;
    const value = has ? list[k] : undefined;
    k++;
    control(slot, has, value);
    if (slot.role === "refresh") values.set(slot.key, "refresh");
    if (slot.role !== "value") continue;
    // The editor replaces only a null combo value (with the first option) on load.
    if (has && !(value === null && slot.input?.kind === "combo")) {
      values.set(slot.key, fixValue(cls, slot, value));
    } else if (slot.input) {
      values.set(slot.key, widgetDefault(slot.input));
      if (!has) defaulted.push(slot.key);
    }
  }
  if (k < list.length) {
    surplus = list
      .slice(k)
      .filter((v) => v !== null && v !== "" && v !== "image" && v !== "refresh");
  }
  return { values, slots, defaulted, surplus, droppedLegacyForceInputs: dropped, controls };
}

/**
 * The editor's load-time fix of old control values (frontend `app.ts`): for KSampler,
 * KSamplerAdvanced and PrimitiveNode, `true` means `randomize` and `false` means `fixed`.
 */
export function fixControlMode(cls: NodeClassIR | "PrimitiveNode", value: unknown): unknown {
  const type = cls === "PrimitiveNode" ? cls : cls.classType;
  if (
    typeof value === "boolean" &&
    (type === "KSampler" || type === "KSamplerAdvanced" || type === "PrimitiveNode")
  )
    return value ? "randomize" : "fixed";
  return value;
}

/** Value fixes the editor applies on load (§3.4 "Legacy value fixes"). */
function fixValue(cls: NodeClassIR, slot: WidgetSlot, value: unknown): unknown {
  if (
    slot.key === "sampler_name" &&
    typeof value === "string" &&
    value.startsWith("sample_") &&
    (cls.classType === "KSampler" || cls.classType === "KSamplerAdvanced")
  ) {
    return value.slice("sample_".length);
  }
  return value;
}

/**
 * The pre-v1.16 layout in which `forceInput` inputs of widget types were widgets too: its length
 * (two entries per input with a truthy `control_after_generate`) and the positions of the
 * forced inputs' entries. Undefined when the class has no such input.
 */
function legacyForceInputPositions(
  cls: NodeClassIR,
): { length: number; forced: Set<number> } | undefined {
  let length = 0;
  const forced = new Set<number>();
  let any = false;
  for (const input of cls.inputs) {
    const widgetType =
      input.kind === "int" ||
      input.kind === "float" ||
      input.kind === "string" ||
      input.kind === "boolean" ||
      input.kind === "combo";
    if (!widgetType) {
      if (isWidgetInput(input)) length++;
      continue;
    }
    const width = options(input)["control_after_generate"] ? 2 : 1;
    if (input.forceInput) {
      any = true;
      for (let i = 0; i < width; i++) forced.add(length + i);
    }
    length += width;
  }
  return any ? { length, forced } : undefined;
}

/**
 * The editor's live input sockets of a class (§2 "Socket order"): every non-widget input in
 * definition order, then every widget input in definition order. Bypass matching indexes this
 * list (§4.5).
 */
export function liveSocketNames(cls: NodeClassIR): { name: string; type: string }[] {
  const sockets: { name: string; type: string }[] = [];
  const widgets: { name: string; type: string }[] = [];
  for (const input of cls.inputs) {
    if (input.kind === "dynamic_combo") {
      widgets.push({ name: input.name, type: "COMFY_DYNAMICCOMBO_V3" });
      continue;
    }
    const entry = { name: input.name, type: socketType(input) };
    (isWidgetInput(input) ? widgets : sockets).push(entry);
  }
  return [...sockets, ...widgets];
}

/** The socket type the editor gives an input: `"COMBO"` for combos, else the declared type. */
export function socketType(input: InputIR): string {
  switch (input.kind) {
    case "int":
      return "INT";
    case "float":
      return "FLOAT";
    case "string":
      return "STRING";
    case "boolean":
      return "BOOLEAN";
    case "combo":
      return "COMBO";
    case "link":
      return input.type;
    case "matchtype":
      return input.allowedTypes.join(",") || "*";
    default:
      return "*";
  }
}
