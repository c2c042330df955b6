import type { ApiPrompt } from "../builder/types.js";
import type { NodeSchema } from "../schema/ir.js";
import type { ImportProblem } from "./errors.js";
import type { WidgetControl } from "./widgets.js";

/**
 * What the editor changes at queue time (`comfyui-workflow-format.md` §3.9, §4.1), each an
 * explicit option, off by default so a conversion is reproducible. Where the editor would have
 * changed a value that was left alone, a warning says so; every change an option makes is
 * named in a warning too.
 */
export interface QueueTimeOptions {
  /**
   * Process text of inputs declared `dynamicPrompts: true` as the editor does
   * (frontend `processDynamicPrompt`): strip `//` and `/* … *\/` comments, pick one option of each
   * `{a|b|c}` (nested allowed) with `random` (default `Math.random`), unescape `\{`, `\}`, `\|`.
   */
  readonly dynamicPrompts?: boolean | { readonly random: () => number };
  /**
   * Replace `%date:FORMAT%` (with `now`, default the current time) and `%Node.widget%` in the
   * `filename_prefix` of the editor's save nodes, and in the value of a `PrimitiveNode` whose
   * property `Run widget replace on values` is set (frontend `applyTextReplacements`); other
   * `%…%` are the server's.
   */
  readonly filenamePlaceholders?: boolean | { readonly now: Date };
  /**
   * Apply each widget's `control_after_generate` mode once (`increment`, `decrement`,
   * `randomize`, `increment-wrap`; `fixed` only clamps), as the editor does before building the
   * prompt with the setting `Comfy.WidgetControlMode` = `before` (frontend `widgets.ts`
   * `applyWidgetControl`). With the default setting (`after`) the editor sends the stored value
   * and changes it afterwards, so this gives the value of the *next* run. `random` (default
   * `Math.random`) drives `randomize`; the editor visits nodes in graph order, a subgraph's
   * nodes before its instance, once per instance.
   */
  readonly controlModes?: boolean | { readonly random: () => number };
}

/** Save nodes whose `filename_prefix` the editor runs through placeholder replacement. */
export const SAVE_NODES: ReadonlySet<string> = new Set([
  "SaveImage",
  "SaveVideo",
  "SaveAnimatedWEBP",
  "SaveWEBM",
  "SaveAudio",
  "SaveGLB",
  "SaveAnimatedPNG",
  "CLIPSave",
  "VAESave",
  "ModelSave",
  "LoraSave",
  "SaveLatent",
]);

/**
 * Finds the widget a `%Node.widget%` placeholder names: the value, or `undefined` when no node
 * or no such widget exists (the placeholder then stays as written).
 */
export type WidgetLookup = (node: string, widget: string) => { value: unknown } | undefined;

/** What {@link applyQueueTimeBehaviour} needs to know about the converted graph. */
export interface QueueTimeContext {
  readonly title: (nodeId: string) => string | undefined;
  readonly lookup: WidgetLookup;
  /** `nodeId` → input names whose value came from a subgraph's promoted input, not a widget. */
  readonly rawValues: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Applies (or warns about) the per-widget serialisation the editor does while building the
 * prompt: dynamic prompts and save-node placeholders, on the converted prompt, in place, in
 * prompt order (the editor's order, which decides the random choices).
 */
export function applyQueueTimeBehaviour(
  prompt: ApiPrompt,
  schema: NodeSchema,
  options: QueueTimeOptions,
  warnings: ImportProblem[],
  context: QueueTimeContext,
): void {
  const where = (nodeId: string) => {
    const t = context.title(nodeId);
    return { nodeId, classType: prompt[nodeId]!.class_type, ...(t ? { title: t } : {}) };
  };
  const random =
    typeof options.dynamicPrompts === "object" ? options.dynamicPrompts.random : Math.random;
  const now =
    typeof options.filenamePlaceholders === "object"
      ? options.filenamePlaceholders.now
      : new Date();
  for (const [nodeId, node] of Object.entries(prompt)) {
    const cls = schema.classes.get(node.class_type);
    if (!cls) continue;
    const raw = context.rawValues.get(nodeId);
    for (const input of cls.inputs) {
      const value = node.inputs[input.name];
      // A promoted subgraph input's value is sent as the instance holds it, unserialised (§5.8).
      if (typeof value !== "string" || raw?.has(input.name)) continue;
      if (input.kind === "string" && input.config[1]?.["dynamicPrompts"] === true) {
        if (options.dynamicPrompts) {
          const processed = processDynamicPrompt(value, random);
          if (processed === value) continue;
          node.inputs[input.name] = processed;
          warnings.push({
            ...where(nodeId),
            kind: "dynamic_prompt_applied",
            message: `dynamic prompt in "${input.name}" processed (option dynamicPrompts): ${JSON.stringify(processed).slice(0, 80)}`,
          });
        } else if (/[{}]|\/\/|\/\*/.test(value)) {
          warnings.push({
            ...where(nodeId),
            kind: "dynamic_prompt_not_applied",
            message: `"${input.name}" has {a|b} choices or comments the editor would process at queue time; sent unprocessed (pass dynamicPrompts to process them)`,
          });
        }
      }
      if (input.name === "filename_prefix" && SAVE_NODES.has(node.class_type)) {
        const replaced = placeholders(value, now, context.lookup, options, warnings, {
          ...where(nodeId),
          input: "filename_prefix",
        });
        if (replaced !== undefined) node.inputs[input.name] = replaced;
      }
    }
  }
}

/**
 * Replaces placeholders in one value when the option is on (warning with the result), or warns
 * that the editor would have. Returns the new value, or undefined when nothing changes.
 */
export function placeholders(
  value: string,
  now: Date,
  lookup: WidgetLookup,
  options: QueueTimeOptions,
  warnings: ImportProblem[],
  at: Omit<ImportProblem, "kind" | "message"> & { readonly input: string },
): string | undefined {
  if (!/%[^%]+%/.test(value)) return undefined;
  const replaced = replacePlaceholders(value, now, lookup);
  if (replaced === value) return undefined;
  const { input, ...location } = at;
  if (options.filenamePlaceholders) {
    warnings.push({
      ...location,
      kind: "placeholders_applied",
      message: `${input} ${JSON.stringify(value)} became ${JSON.stringify(replaced)} (option filenamePlaceholders)`,
    });
    return replaced;
  }
  warnings.push({
    ...location,
    kind: "placeholders_not_applied",
    message: `${input} ${JSON.stringify(value)} has placeholders the editor replaces at queue time; sent as is (pass filenamePlaceholders to replace them)`,
  });
  return undefined;
}

/**
 * The editor's dynamic-prompt processing of one text (frontend `processDynamicPrompt`):
 * comments stripped, then each `{…|…}` group replaced by one option picked with `random`, the
 * pick processed again; escapes `\{`, `\}`, `\|` become literal last. An unclosed `{` opens a
 * group that runs to the end of the text, and a trailing `\` becomes `\undefined`, both as in
 * the editor.
 */
export function processDynamicPrompt(input: string, random: () => number): string {
  const text = input.replace(/\/\*[\s\S]*?\*\/|\/\/.*/g, "");
  let i = 0;
  let result = "";
  const escape = () => `\\${text[i++]}`;
  const group = (): string => {
    const choices: string[] = [];
    let choice = "";
    let depth = 0;
    while (i < text.length) {
      const ch = text[i++]!;
      if (ch === "\\") {
        choice += escape();
        continue;
      }
      if (ch === "{") depth++;
      else if (ch === "}") {
        if (!depth) break;
        depth--;
      } else if (ch === "|" && !depth) {
        choices.push(choice);
        choice = "";
        continue;
      }
      choice += ch;
    }
    choices.push(choice);
    return processDynamicPrompt(choices[Math.floor(random() * choices.length)]!, random);
  };
  while (i < text.length) {
    const ch = text[i++]!;
    if (ch === "\\") result += escape();
    else if (ch === "{") result += group();
    else result += ch;
  }
  return result.replace(/\\([{}|])/g, "$1");
}

/**
 * `%date:FORMAT%` and `%Node.widget%` as the editor replaces them (frontend
 * `applyTextReplacements`): the text between `%` is split at dots; exactly two parts name a
 * node (by `Node name for S&R`, else by title) and one of its widgets, whose value has
 * `/ ? < > \ : * | "` and control characters replaced by `_`; otherwise a `date:` body is
 * formatted with `now`. Anything else (`%width%`, `%year%`, …) is left for the server.
 */
export function replacePlaceholders(value: string, now: Date, lookup: WidgetLookup): string {
  return value.replace(/%([^%]+)%/g, (match, body: string) => {
    const parts = body.split(".");
    if (parts.length !== 2) {
      return parts[0]!.startsWith("date:") ? formatDate(parts[0]!.slice(5), now) : match;
    }
    const found = lookup(parts[0]!, parts[1]!);
    if (!found) return match;
    // The editor writes `(widget.value ?? "") + ""`.
    return String(found.value ?? "").replace(/[/?<>\\:*|"\x00-\x1f\x7f]/g, "_");
  });
}

const DATE_TOKENS = /dd?|MM?|hh?|mm?|ss?|yyy?y?/g;

/** The editor's `formatDate`: `yyyy`, `yy`, and `d M h m s` with one or two letters. */
export function formatDate(format: string, d: Date): string {
  const parts: Record<string, number> = {
    d: d.getDate(),
    M: d.getMonth() + 1,
    h: d.getHours(),
    m: d.getMinutes(),
    s: d.getSeconds(),
  };
  return format.replace(DATE_TOKENS, (token) => {
    if (token === "yy") return String(d.getFullYear()).slice(2);
    if (token === "yyyy") return String(d.getFullYear());
    const part = parts[token[0]!];
    return part === undefined ? token : String(part).padStart(token.length, "0");
  });
}

/** The widest range the editor's number controls work in (`widgets.ts`: ±2^50). */
const CONTROL_LIMIT = 1125899906842624;

/**
 * One control widget's effect on the value it drives (frontend `applyWidgetControl`): combos
 * move through the (filtered) option list; numbers move by the input's step or take a random
 * multiple of it, and are then clamped to the input's range capped at ±2^50, and rounded as the
 * widget rounds. Returns the new value (the same value when nothing changes).
 */
export function applyControl(
  control: WidgetControl,
  value: unknown,
  random: () => number,
): unknown {
  const { input, mode } = control;
  if (input.kind === "combo") {
    if (mode === "fixed") return value;
    return applyComboControl(input.options, control.filter, value, mode, random);
  }
  if (input.kind !== "int" && input.kind !== "float") return value;
  if (typeof value !== "number" && typeof value !== "bigint") return value;
  const step = input.step ?? (input.kind === "int" ? 1 : 0.5);
  const widgetMin = input.min === undefined ? 0 : Number(input.min);
  const widgetMax = input.max === undefined ? 2048 : Number(input.max);
  const max = Math.min(CONTROL_LIMIT, widgetMax);
  const min = Math.max(-CONTROL_LIMIT, widgetMin);
  let v = Number(value);
  switch (mode) {
    case "increment":
      v += step;
      break;
    case "decrement":
      v -= step;
      break;
    case "randomize":
      v = Math.floor(random() * ((max - min) / step)) * step + min;
      break;
  }
  if (v < min) v = min;
  if (v > max) v = max;
  // The widget's change callback rounds (useIntWidget / useFloatWidget onValueChange).
  if (input.kind === "int") {
    const s = step || 1;
    v = s === 1 ? Math.round(v) : Math.round((v - (widgetMin % s)) / s) * s + (widgetMin % s);
  } else {
    const precision = Math.max(0, -Math.floor(Math.log10(step)));
    const round = precision && !input.round ? Math.pow(10, -precision) : input.round;
    if (round) {
      v = Math.min(
        widgetMax,
        Math.max(widgetMin, Number((Math.round(v / round) * round).toFixed(precision))),
      );
    }
  }
  return typeof value === "bigint" && Number.isSafeInteger(v) && v === Number(value) ? value : v;
}

function applyComboControl(
  options: readonly unknown[],
  filter: unknown,
  value: unknown,
  mode: unknown,
  random: () => number,
): unknown {
  let values = options;
  if (typeof filter === "string" && filter) {
    let check: ((item: string) => boolean) | undefined;
    if (filter.startsWith("/") && filter.endsWith("/")) {
      try {
        const regex = new RegExp(filter.slice(1, -1));
        check = (item) => regex.test(item);
      } catch {
        // An invalid expression falls back to a substring match, as in the editor.
      }
    }
    const lower = filter.toLocaleLowerCase();
    check ??= (item) => item.toLocaleLowerCase().includes(lower);
    values = values.filter((item) => check(String(item)));
  }
  let index = values.indexOf(value);
  const length = values.length;
  switch (mode) {
    case "increment":
      index += 1;
      break;
    case "increment-wrap":
      index += 1;
      if (index >= length) index = 0;
      break;
    case "decrement":
      index -= 1;
      break;
    case "randomize":
      index = Math.floor(random() * length);
      break;
  }
  index = Math.min(length - 1, Math.max(0, index));
  return index >= 0 ? values[index] : value;
}

/** Modes a control widget offers; anything else leaves the value as it is. */
export function isControlMode(mode: unknown): mode is string {
  return (
    mode === "fixed" ||
    mode === "increment" ||
    mode === "decrement" ||
    mode === "randomize" ||
    mode === "increment-wrap"
  );
}

/**
 * A seeded random source for `controlModes` and `dynamicPrompts` (mulberry32: 32-bit state,
 * uniform in [0, 1)). The same generator the editor harness (`../shared/comfyui-editor`) puts
 * in place of `Math.random`, so seed 12345 reproduces the choices it recorded.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
