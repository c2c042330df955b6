import type { ApiPrompt } from "../builder/types.js";
import type { NodeSchema } from "../schema/ir.js";
import type { ImportProblem } from "./errors.js";

/**
 * What the editor changes in a prompt at queue time (`comfyui-workflow-format.md` §3.9), each an
 * explicit option: off by default, so a conversion is reproducible; where the editor would
 * have changed a value, a warning says so.
 */
export interface QueueTimeOptions {
  /**
   * Process text of inputs declared `dynamicPrompts: true` as the editor does: strip `//` and
   * `/* … *\/` comments, pick one option of each `{a|b|c}` (nested allowed) with `random`
   * (default `Math.random`), unescape `\{`, `\}`, `\|`.
   */
  readonly dynamicPrompts?: boolean | { readonly random: () => number };
  /**
   * Replace `%date:FORMAT%` (with `now`, default the current time) and `%Title.widget%` in the
   * `filename_prefix` of the editor's save nodes; other `%…%` are the server's.
   */
  readonly filenamePlaceholders?: boolean | { readonly now: Date };
}

/** Save nodes whose `filename_prefix` the editor runs through placeholder replacement. */
const SAVE_NODES = new Set([
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

/** Applies (or warns about) queue-time behaviour on a converted prompt, in place. */
export function applyQueueTimeBehaviour(
  prompt: ApiPrompt,
  schema: NodeSchema,
  options: QueueTimeOptions,
  warnings: ImportProblem[],
  title: (nodeId: string) => string | undefined,
): void {
  const where = (nodeId: string) => {
    const t = title(nodeId);
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
    for (const input of cls.inputs) {
      const value = node.inputs[input.name];
      if (typeof value !== "string") continue;
      if (input.kind === "string" && input.config[1]?.["dynamicPrompts"] === true) {
        const processed = processDynamicPrompt(value, random);
        if (processed === value) continue;
        if (options.dynamicPrompts) {
          node.inputs[input.name] = processed;
          warnings.push({
            ...where(nodeId),
            kind: "dynamic_prompt_applied",
            message: `dynamic prompt in "${input.name}" processed (option dynamicPrompts): ${JSON.stringify(processed).slice(0, 80)}`,
          });
        } else {
          warnings.push({
            ...where(nodeId),
            kind: "dynamic_prompt_not_applied",
            message: `"${input.name}" has {a|b} choices or comments the editor would process at queue time; sent unprocessed (pass dynamicPrompts to process them)`,
          });
        }
      }
      if (
        input.name === "filename_prefix" &&
        SAVE_NODES.has(node.class_type) &&
        /%[^%]+%/.test(value)
      ) {
        const replaced = replacePlaceholders(value, now, prompt);
        if (replaced === value) continue;
        if (options.filenamePlaceholders) {
          node.inputs[input.name] = replaced;
          warnings.push({
            ...where(nodeId),
            kind: "placeholders_applied",
            message: `filename_prefix ${JSON.stringify(value)} became ${JSON.stringify(replaced)} (option filenamePlaceholders)`,
          });
        } else {
          warnings.push({
            ...where(nodeId),
            kind: "placeholders_not_applied",
            message: `filename_prefix ${JSON.stringify(value)} has placeholders the editor replaces at queue time; sent as is (pass filenamePlaceholders to replace them)`,
          });
        }
      }
    }
  }
}

/** The editor's dynamic-prompt processing of one text (frontend `dynamicPrompts.ts`). */
export function processDynamicPrompt(text: string, random: () => number): string {
  const stripped = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*/g, "");
  const pick = (s: string): string => {
    let out = "";
    let i = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === "\\" && i + 1 < s.length) {
        out += s.slice(i, i + 2);
        i += 2;
      } else if (ch === "{") {
        let depth = 1;
        let j = i + 1;
        const parts: string[] = [];
        let start = j;
        for (; j < s.length && depth > 0; j++) {
          const c = s[j]!;
          if (c === "\\") j++;
          else if (c === "{") depth++;
          else if (c === "}") {
            depth--;
            if (depth === 0) parts.push(s.slice(start, j));
          } else if (c === "|" && depth === 1) {
            parts.push(s.slice(start, j));
            start = j + 1;
          }
        }
        if (depth > 0) {
          out += s.slice(i);
          break;
        }
        const choice = parts[Math.floor(random() * parts.length)] ?? "";
        out += pick(choice);
        i = j;
      } else {
        out += ch;
        i++;
      }
    }
    return out;
  };
  return pick(stripped).replace(/\\([{}|])/g, "$1");
}

/** `%date:FORMAT%` and `%Title.widget%` as the editor replaces them (§3.9 item 3). */
export function replacePlaceholders(value: string, now: Date, prompt: ApiPrompt): string {
  return value.replace(/%([^%]+)%/g, (match, body: string) => {
    if (body.startsWith("date:")) return formatDate(body.slice(5), now);
    const dot = body.indexOf(".");
    if (dot <= 0) return match;
    const nodeName = body.slice(0, dot);
    const widget = body.slice(dot + 1);
    const node = Object.values(prompt).find((n) => n._meta?.title === nodeName);
    const v = node?.inputs[widget];
    if (v === undefined || (typeof v === "object" && v !== null)) return match;
    return String(v).replace(/[/?<>\\:*|"\x00-\x1f]/g, "_");
  });
}

function formatDate(format: string, d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const tokens: Record<string, string> = {
    yyyy: String(d.getFullYear()),
    yy: String(d.getFullYear()).slice(-2),
    MM: pad(d.getMonth() + 1),
    M: String(d.getMonth() + 1),
    dd: pad(d.getDate()),
    d: String(d.getDate()),
    hh: pad(d.getHours()),
    h: String(d.getHours()),
    mm: pad(d.getMinutes()),
    m: String(d.getMinutes()),
    ss: pad(d.getSeconds()),
    s: String(d.getSeconds()),
  };
  return format.replace(/yyyy|yy|MM|M|dd|d|hh|h|mm|m|ss|s/g, (t) => tokens[t]!);
}
