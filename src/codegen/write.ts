import { parseJsonLossless, stringifyJson } from "../protocol/json.js";
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { compareCodeUnits } from "../schema/canonical-json.js";
import type { InputIR, NodeClassIR } from "../schema/ir.js";
import { GENERATED_MARKER } from "./emit/module.js";
import { partsOf, type GeneratedFile } from "./generate.js";

/** What {@link writeGenerated} did. */
export interface WriteResult {
  readonly written: readonly string[];
  readonly unchanged: readonly string[];
  readonly removed: readonly string[];
}

/**
 * Writes generated files into `outDir`: files whose content is unchanged are not touched, and
 * files comfyc generated earlier that are no longer produced (a pack that went away) are
 * deleted. Files without comfyc's header are never deleted. Each file is compared and written
 * as it comes, so `files` may be produced lazily (`generateFiles`) and never held whole.
 */
export async function writeGenerated(
  outDir: string,
  files: Iterable<GeneratedFile>,
): Promise<WriteResult> {
  await mkdir(outDir, { recursive: true });
  const existing = new Set(await existingNames(outDir));
  const written: string[] = [];
  const unchanged: string[] = [];
  const produced = new Set<string>();
  const writer = new PartsWriter();
  for (const file of files) {
    produced.add(file.path);
    const path = join(outDir, file.path);
    if (existing.has(file.path) && (await readFile(path, "utf8")) === file.content) {
      unchanged.push(file.path);
      continue;
    }
    // Written synchronously: fs/promises' writeFile goes to the thread pool in 512 KiB chunks
    // (a round trip each) and cost this thread more than the whole write; on a 1,686-class
    // schema (4.8 MB in 28 files) three to five times the CPU of writeFileSync.
    const parts = partsOf(file);
    if (parts) writer.write(path, parts);
    else writeFileSync(path, file.content);
    written.push(file.path);
  }
  const removed: string[] = [];
  for (const path of existing) {
    if (produced.has(path)) continue;
    if (isGenerated(await readFile(join(outDir, path), "utf8"))) {
      await rm(join(outDir, path));
      removed.push(path);
    }
  }
  return { written, unchanged, removed };
}

/**
 * Writes text given as parts to files, UTF-8 encoded through one buffer reused from file to
 * file: the same bytes `writeFileSync(path, parts.join(""))` writes, without making the joined
 * string and a fresh buffer of it for every file (on a big schema a fresh megabyte each, which
 * the machine must map and fault in).
 */
export class PartsWriter {
  #buffer: Buffer;

  /** `bytes`: the buffer's starting size; it grows to fit the longest part. */
  constructor(bytes = 1 << 20) {
    this.#buffer = Buffer.allocUnsafe(bytes);
  }

  /** Writes the parts, joined, to `path` (created or truncated), as `writeFileSync` would. */
  write(path: string, parts: Iterable<string>): void {
    const fd = openSync(path, "w");
    try {
      let used = 0;
      for (const part of parts) {
        // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 for 2).
        const most = part.length * 3;
        if (this.#buffer.length - used < most) {
          if (used > 0) writeAll(fd, this.#buffer, used);
          used = 0;
          if (most > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(most);
        }
        used += this.#buffer.write(part, used);
      }
      if (used > 0) writeAll(fd, this.#buffer, used);
    } finally {
      closeSync(fd);
    }
  }
}

/** `writeSync` until all `length` bytes are written (it may write fewer). */
function writeAll(fd: number, buffer: Buffer, length: number): void {
  for (let at = 0; at < length;) at += writeSync(fd, buffer, at, length - at);
}

/** The `.ts` and `.js` files of a folder, sorted; none when it does not exist. */
async function existingNames(outDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  return names.sort(compareCodeUnits).filter((n) => n.endsWith(".ts") || n.endsWith(".js"));
}

async function readExisting(outDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await existingNames(outDir)) {
    out.set(name, await readFile(join(outDir, name), "utf8"));
  }
  return out;
}

function isGenerated(content: string): boolean {
  return content.slice(0, 200).includes(GENERATED_MARKER);
}

/** One line of a drift report. */
export interface DriftEntry {
  readonly kind: "class-added" | "class-removed" | "class-changed" | "file";
  readonly subject: string;
  readonly details: readonly string[];
}

/** The result of `comfyc codegen --check`. */
export interface DriftReport {
  readonly upToDate: boolean;
  readonly entries: readonly DriftEntry[];
}

/**
 * Compares the files on disk with what the schema would generate. The classes on disk are read
 * back from the node-info JSON embedded in each generated factory, so the report names what
 * changed on the server: classes, inputs, outputs and combo values added, removed or changed.
 */
export async function checkGenerated(
  outDir: string,
  files: readonly GeneratedFile[],
  classes: readonly NodeClassIR[],
): Promise<DriftReport> {
  const existing = await readExisting(outDir);
  const entries: DriftEntry[] = [];
  const produced = new Set(files.map((f) => f.path));
  let filesDiffer = false;
  for (const file of files) {
    const old = existing.get(file.path);
    if (old === undefined) {
      entries.push({ kind: "file", subject: file.path, details: ["missing on disk"] });
      filesDiffer = true;
    } else if (old !== file.content) filesDiffer = true;
  }
  for (const [path, content] of existing) {
    if (!produced.has(path) && isGenerated(content)) {
      entries.push({
        kind: "file",
        subject: path,
        details: ["generated earlier but no longer produced"],
      });
      filesDiffer = true;
    }
  }
  if (!filesDiffer) return { upToDate: true, entries: [] };
  // Only a drift report reads the old classes back (with zod): writing files never loads it.
  const [{ safeParseNodeInfo }, { normalizeNode }] = await Promise.all([
    import("../protocol/object-info.js"),
    import("../schema/normalize-node.js"),
  ]);

  const before = new Map<string, Omit<NodeClassIR, "identifier">>();
  for (const content of existing.values()) {
    if (!isGenerated(content)) continue;
    for (const [classType, json] of embeddedSpecs(content)) {
      const parsed = safeParseNodeInfo(safeJson(json));
      if (parsed.success) {
        try {
          before.set(classType, normalizeNode(classType, parsed.data));
        } catch {
          // An unreadable old entry shows up as "added" below; the files differ either way.
        }
      }
    }
  }
  const after = new Map(classes.map((c) => [c.classType, c]));
  for (const [classType, node] of after) {
    const old = before.get(classType);
    if (!old)
      entries.push({ kind: "class-added", subject: classType, details: [`pack ${node.pack}`] });
    else {
      const details = diffClass(old, node);
      if (details.length) entries.push({ kind: "class-changed", subject: classType, details });
    }
  }
  for (const classType of before.keys()) {
    if (!after.has(classType))
      entries.push({ kind: "class-removed", subject: classType, details: [] });
  }
  if (!entries.some((e) => e.kind !== "file")) {
    entries.push({
      kind: "file",
      subject: "*",
      details: [
        "content differs with no schema change (documentation, options or comfyc version); rerun codegen",
      ],
    });
  }
  return { upToDate: false, entries };
}

function safeJson(text: string): unknown {
  try {
    return parseJsonLossless(text);
  } catch {
    return undefined;
  }
}

/**
 * `defineNode("<classType>", "<json>")` calls in a generated module: the two string literals of
 * each call, decoded. Reads what comfyc writes (and what prettier makes of it: either quote,
 * arguments on their own lines, a trailing comma); anything else is skipped.
 */
export function embeddedSpecs(content: string): Map<string, string> {
  const out = new Map<string, string>();
  const call = /\bdefineNode\(\s*/g;
  for (let m = call.exec(content); m; m = call.exec(content)) {
    const first = readStringLiteral(content, call.lastIndex);
    if (!first) continue;
    const comma = /\s*,\s*/y;
    comma.lastIndex = first.end;
    if (!comma.exec(content)) continue;
    const second = readStringLiteral(content, comma.lastIndex);
    if (!second) continue;
    const close = /\s*,?\s*\)/y;
    close.lastIndex = second.end;
    if (close.exec(content)) out.set(first.value, second.value);
  }
  return out;
}

const ESCAPES: Readonly<Record<string, string>> = {
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "0": "\0",
};

/** A JavaScript string literal at `start`, decoded, or undefined if there is none. */
function readStringLiteral(
  text: string,
  start: number,
): { value: string; end: number } | undefined {
  const quote = text[start];
  if (quote !== '"' && quote !== "'") return undefined;
  let value = "";
  let i = start + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c === "\n" || c === "\r") return undefined;
    if (c !== "\\") {
      value += c;
      i++;
      continue;
    }
    const e = text[i + 1];
    if (e === undefined) return undefined;
    if (e === "u") {
      const hex = /^[0-9a-fA-F]{4}/.exec(text.slice(i + 2, i + 6));
      if (!hex) return undefined;
      value += String.fromCharCode(parseInt(hex[0], 16));
      i += 6;
    } else if (e === "x") {
      const hex = /^[0-9a-fA-F]{2}/.exec(text.slice(i + 2, i + 4));
      if (!hex) return undefined;
      value += String.fromCharCode(parseInt(hex[0], 16));
      i += 4;
    } else if (e === "\r" || e === "\n") {
      // A line continuation adds nothing.
      i += e === "\r" && text[i + 2] === "\n" ? 3 : 2;
    } else {
      value += ESCAPES[e] ?? e;
      i += 2;
    }
  }
  return undefined;
}

/** Human-readable differences between two versions of a class. */
export function diffClass(
  before: Omit<NodeClassIR, "identifier">,
  after: Omit<NodeClassIR, "identifier">,
): string[] {
  const out: string[] = [];
  diffInputs(before.inputs, after.inputs, "", out);
  const outs = (n: typeof before) => n.outputs.map((o) => `${o.name}: ${o.type}`);
  const a = outs(before);
  const b = outs(after);
  if (a.join("|") !== b.join("|"))
    out.push(`outputs changed: [${a.join(", ")}] → [${b.join(", ")}]`);
  if (before.outputNode !== after.outputNode)
    out.push(`output node: ${before.outputNode} → ${after.outputNode}`);
  if (before.deprecated !== after.deprecated)
    out.push(`deprecated: ${before.deprecated} → ${after.deprecated}`);
  return out;
}

function diffInputs(
  before: readonly InputIR[],
  after: readonly InputIR[],
  prefix: string,
  out: string[],
): void {
  const old = new Map(before.map((i) => [i.name, i]));
  const now = new Map(after.map((i) => [i.name, i]));
  for (const [name, input] of now) {
    const prev = old.get(name);
    const label = `${prefix}${name}`;
    if (!prev) {
      out.push(
        `input added: ${label} (${describeInput(input)}${input.required ? ", required" : ""})`,
      );
      continue;
    }
    if (prev.kind !== input.kind || describeInput(prev) !== describeInput(input)) {
      out.push(`input ${label}: ${describeInput(prev)} → ${describeInput(input)}`);
    }
    if (prev.required !== input.required) {
      out.push(`input ${label}: ${prev.required ? "required → optional" : "optional → required"}`);
    }
    for (const key of ["min", "max", "default"] as const) {
      const x = (prev as unknown as Record<string, unknown>)[key];
      const y = (input as unknown as Record<string, unknown>)[key];
      if (stringifyJson(x) !== stringifyJson(y)) {
        out.push(
          `input ${label}: ${key} ${stringifyJson(x) ?? "none"} → ${stringifyJson(y) ?? "none"}`,
        );
      }
    }
    if (prev.kind === "combo" && input.kind === "combo") {
      const a = new Set(prev.options);
      const b = new Set(input.options);
      const added = input.options.filter((v) => !a.has(v));
      const removed = prev.options.filter((v) => !b.has(v));
      if (added.length) out.push(`input ${label}: combo values added: ${listValues(added)}`);
      if (removed.length) out.push(`input ${label}: combo values removed: ${listValues(removed)}`);
    }
    if (prev.kind === "dynamic_combo" && input.kind === "dynamic_combo") {
      for (const option of input.options) {
        const o = prev.options.find((p) => p.key === option.key);
        if (!o) out.push(`input ${label}: option added: ${JSON.stringify(option.key)}`);
        else diffInputs(o.inputs, option.inputs, `${label}.${option.key}.`, out);
      }
      for (const option of prev.options) {
        if (!input.options.some((p) => p.key === option.key)) {
          out.push(`input ${label}: option removed: ${JSON.stringify(option.key)}`);
        }
      }
    }
  }
  for (const name of old.keys()) if (!now.has(name)) out.push(`input removed: ${prefix}${name}`);
}

function describeInput(input: InputIR): string {
  switch (input.kind) {
    case "link":
      return input.type;
    case "matchtype":
      return `match(${input.allowedTypes.join(",")})`;
    case "combo":
      return "COMBO";
    case "autogrow":
      return `autogrow(${describeInput(input.template)} × ${input.names.length})`;
    case "dynamic_combo":
      return "dynamic combo";
    default:
      return input.kind.toUpperCase();
  }
}

function listValues(values: readonly unknown[]): string {
  const shown = values.slice(0, 8).map((v) => JSON.stringify(v));
  return values.length > 8 ? `${shown.join(", ")} and ${values.length - 8} more` : shown.join(", ");
}

/** The drift report as text for the terminal. */
export function formatDriftReport(report: DriftReport, outDir: string, source: string): string {
  if (report.upToDate) return `${outDir} is up to date with ${source}.`;
  const lines = [`${outDir} is out of date with ${source}:`];
  for (const e of report.entries) {
    const mark =
      e.kind === "class-added"
        ? "+"
        : e.kind === "class-removed"
          ? "-"
          : e.kind === "file"
            ? "!"
            : "~";
    const what = e.kind === "file" ? `file ${e.subject}` : `class ${e.subject}`;
    lines.push(`  ${mark} ${what}${e.details.length === 1 ? `: ${e.details[0]}` : ""}`);
    if (e.details.length > 1) for (const d of e.details) lines.push(`      ${d}`);
  }
  lines.push("Run `comfyc codegen` with the same source to update the files.");
  return lines.join("\n");
}
