import { parseJsonLossless } from "../protocol/json.js";
import { importOptional } from "../errors.js";
import { byteSource, type ByteSource } from "./byte-source.js";
import { gatherPngChunks, gatherWebpChunks, MAX_WORKFLOW_JSON_BYTES } from "./container-chunks.js";
import { invalidWorkflow, WorkflowImportError, type ImportProblem } from "./errors.js";
import { isUiDocumentShape } from "./ui-graph.js";

/** What the image metadata readers (optional peer dependencies) are needed for. */
const READING_IMAGES = "Reading workflows from images";

/**
 * Reads a workflow from any file the editor or ComfyUI writes, deciding the format from the
 * content, never the file name (`comfyui-workflow-format.md` §7): API-format prompts, UI
 * documents (schema 0.4 and 1), and the metadata ComfyUI's savers embed in PNG (`tEXt`, `iTXt`
 * incl. compressed, APNG `comf`), WebP (EXIF IFD0), FLAC, MP3, Ogg/Opus, MP4 and WebM.
 * Containers are parsed with ExifReader, png-chunks-extract and music-metadata, each loaded
 * only when a file of its kind arrives. Pure: bytes (or a Blob) in, data out. A file is never
 * read whole: PNG and WebP are walked chunk header by chunk header, keeping only the metadata
 * chunks; audio and video are read by music-metadata, which skips the media data.
 */

/** Containers a workflow can arrive in. */
export type WorkflowContainer =
  "json" | "png" | "apng" | "webp" | "flac" | "mp3" | "ogg" | "mp4" | "webm";

/** A workflow read from a file: the UI document or the API prompt, and where it came from. */
export type WorkflowSource =
  | {
      readonly format: "ui";
      /** `"0.4"` or `"1"` (§1.1, §1.2). */
      readonly version: "0.4" | "1";
      readonly workflow: Record<string, unknown>;
      readonly container: WorkflowContainer;
      /** The API prompt stored beside the workflow, when the file has one. */
      readonly prompt?: Record<string, unknown>;
      /**
       * Problems of the file that did not stop the reading (`truncated_file`); always set by
       * {@link readWorkflowSource}.
       */
      readonly warnings?: readonly ImportProblem[];
    }
  | {
      readonly format: "api";
      readonly prompt: Record<string, unknown>;
      readonly container: WorkflowContainer;
      /**
       * When the file is a saved `POST /prompt` body: its other fields (`partial_execution_targets`,
       * `extra_data`, `client_id`, `front`, …) as they were, without `prompt`.
       */
      readonly body?: Readonly<Record<string, unknown>>;
      /**
       * Problems of the file that did not stop the reading (`truncated_file`); always set by
       * {@link readWorkflowSource}.
       */
      readonly warnings?: readonly ImportProblem[];
    };

export { MAX_WORKFLOW_JSON_BYTES };

/**
 * How a JSON object is recognised as an API prompt:
 * - `"editor"` (the default): the editor's own test (`isApiPrompt`): at least one node, and
 *   every node has a string `class_type` and an object `inputs`. For converting and importing,
 *   which need whole nodes.
 * - `"server"`: any JSON object whose values are all JSON objects, `{}` included, as
 *   `POST /prompt` takes it (ComfyUI's `server.py` `post_prompt` hands any such `prompt` to
 *   `execution.validate_prompt`, which then answers `prompt_no_outputs`, a missing
 *   `class_type`, …). For validating and running, where the validator or the server judges it.
 *
 * Either way a JSON array, a scalar, an `/object_info` dump or an object with a value that is not
 * an object is not a prompt (`not_a_workflow`), and an editor workflow is read as one.
 */
export type ApiPromptDetection = "editor" | "server";

/** Options of {@link readWorkflowSource}. */
export interface ReadWorkflowOptions {
  /** How a JSON object is recognised as an API prompt (default `"editor"`). */
  readonly apiPrompt?: ApiPromptDetection;
  /**
   * Parse a JSON file with `floats` (`parseJsonLossless`): which integral numbers it wrote as
   * floats (`0.0`) is kept for a validator to judge as ComfyUI does (`writtenAsFloat`). JSON
   * files only; off by default, as it costs a marker per such number.
   */
  readonly floats?: boolean;
}

/**
 * Detects the format of a file and returns the workflow in it. Priority as in the editor: a
 * media file's `workflow` is used when it parses as a UI document, else its `prompt`.
 *
 * A PNG or WebP cut short is read as far as it goes, as the editor does (`pnginfo.ts` reads
 * the chunks it can): the metadata chunks that are complete are used and the result carries a
 * `truncated_file` warning; only when no complete chunk holds a workflow or prompt is it refused.
 *
 * Memory: a PNG or WebP costs its metadata chunks plus a 64 KiB window, whatever its size (a
 * still PNG whose text chunks precede the image data is read no further than its first `IDAT`);
 * audio and video are read by music-metadata from a Blob in the slices it asks for.
 *
 * @param input The file's bytes, or a `Blob` over it (`fs.openAsBlob(path)`) to read only the
 *   parts needed.
 * @param name Used in messages only (the format is never taken from it).
 * @param options `apiPrompt: "server"` takes any JSON object of objects as an API prompt
 *   ({@link ApiPromptDetection}); JSON files only, media metadata always uses the editor's test.
 * @throws {WorkflowImportError} `WORKFLOW_INVALID`: truncated or malformed JSON, JSON of
 *   neither format, a media file without ComfyUI metadata (`no_metadata`) or cut short before
 *   any (`unreadable_media`), a document larger than {@link MAX_WORKFLOW_JSON_BYTES}.
 */
export async function readWorkflowSource(
  input: Uint8Array | Blob,
  name = "input",
  options: ReadWorkflowOptions = {},
): Promise<WorkflowSource> {
  const source = byteSource(input);
  const container = sniffContainer(await source.read(0, 16));
  if (container === "json") {
    checkJsonSize(source.size, name);
    const bytes = input instanceof Uint8Array ? input : await source.read(0, source.size);
    const raw = parseJsonText(bytes, name, options.floats === true);
    return { ...classifyJson(raw, name, "json", options.apiPrompt), warnings: [] };
  }
  const found = await extractMetadata(input, source, container, name);
  const warnings: ImportProblem[] = found.truncation
    ? [
        {
          kind: "truncated_file",
          message: `${name} (${found.container.toUpperCase()}) is cut short: ${found.truncation}; the metadata before the cut was read`,
        },
      ]
    : [];
  return { ...fromMetadata(found.texts, found.container, name), warnings };
}

/** The container kind from the first bytes: magic numbers, else JSON text. */
export function sniffContainer(bytes: Uint8Array): Exclude<WorkflowContainer, "apng"> {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0x89 && ascii(1, 4) === "PNG") return "png";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  if (ascii(0, 4) === "fLaC") return "flac";
  if (ascii(0, 4) === "OggS") return "ogg";
  if (ascii(0, 3) === "ID3" || (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0))
    return "mp3";
  if (ascii(4, 8) === "ftyp") return "mp4";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3)
    return "webm";
  return "json";
}

function checkJsonSize(size: number, name: string): void {
  if (size > MAX_WORKFLOW_JSON_BYTES) {
    throw invalidWorkflow(
      "too_large",
      `${name} is ${(size / 1024 / 1024).toFixed(1)} MiB, more than the ${MAX_WORKFLOW_JSON_BYTES / 1024 / 1024} MiB a workflow document may have`,
      "Pass the workflow JSON itself (editor workflows are well under 1 MiB), or an image or video ComfyUI saved.",
    );
  }
}

function parseJsonText(bytes: Uint8Array, name: string, floats: boolean): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "");
  } catch {
    throw invalidWorkflow(
      "not_a_workflow",
      `${name} is neither JSON text nor an image, audio or video file with ComfyUI metadata`,
      "Pass a workflow .json (UI or API format) or a PNG, WebP, FLAC, MP3, Opus, MP4 or WebM file that ComfyUI saved.",
    );
  }
  if (!/^\s*[{[]/.test(text)) {
    // JSON that is not an object (a number, null): classifyJson says what it is.
    const scalar = tryParse(text);
    if (scalar !== undefined) return scalar;
    throw invalidWorkflow(
      "not_a_workflow",
      `${name} is neither JSON nor an image, audio or video file with ComfyUI metadata (it starts with ${JSON.stringify(text.slice(0, 16))})`,
      "Pass a workflow .json (UI or API format) or a file that ComfyUI saved with its metadata.",
    );
  }
  try {
    return parseJsonLossless(text, { floats });
  } catch (cause) {
    throw invalidWorkflow(
      "invalid_json",
      `${name} is not valid JSON (${(cause as Error).message}); the file may be truncated`,
      "Export the workflow again from the editor.",
      { cause },
    );
  }
}

/**
 * Classifies parsed JSON as a UI document or an API prompt (also inside a `/prompt` body).
 *
 * @param detection how an API prompt is recognised ({@link ApiPromptDetection}).
 */
export function classifyJson(
  raw: unknown,
  name: string,
  container: WorkflowContainer,
  detection: ApiPromptDetection = "editor",
): WorkflowSource {
  if (isUiDocumentShape(raw)) return uiSource(raw, container);
  if (isPlainObject(raw)) {
    const obj = raw;
    // A saved POST /prompt body: the editor's workflow copy wins over the prompt, as on load.
    const extra = (obj["extra_data"] as { extra_pnginfo?: { workflow?: unknown } } | undefined)
      ?.extra_pnginfo?.workflow;
    if (isUiDocumentShape(extra)) {
      return {
        ...uiSource(extra, container),
        ...(isApiPrompt(obj["prompt"]) ? { prompt: obj["prompt"] } : {}),
      };
    }
    if (isApiPrompt(obj["prompt"]) && !("class_type" in obj))
      return { format: "api", prompt: obj["prompt"], container, body: bodyFields(obj) };
    if (isApiPrompt(obj)) return { format: "api", prompt: obj, container };
    if (detection === "server") {
      if (isPromptBody(obj) && isServerPrompt(obj["prompt"]))
        return { format: "api", prompt: obj["prompt"], container, body: bodyFields(obj) };
      if (isServerPrompt(obj) && !isObjectInfoShape(obj))
        return { format: "api", prompt: obj, container };
    }
  }
  throw invalidWorkflow(
    "not_a_workflow",
    `${name} is JSON but not ${detection === "server" ? "an API prompt or a ComfyUI workflow" : "a ComfyUI workflow"}: ${describeShape(raw)}`,
    detection === "server"
      ? "Pass an API-format prompt (a JSON object of nodes, as POST /prompt takes it), a POST /prompt body, or an editor workflow (File → Export)."
      : "Pass an editor workflow (File → Export) or an API-format prompt (Export (API)).",
  );
}

function isPlainObject(raw: unknown): raw is Record<string, unknown> {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw);
}

/**
 * What `POST /prompt` hands to the validator: a JSON object whose values are all JSON objects
 * (ComfyUI's `server.py` `post_prompt` and `execution.validate_prompt`, which read
 * `prompt[x]['class_type']` and `prompt[x]['inputs']` of each value). `{}` is one: the server
 * answers `prompt_no_outputs`.
 */
function isServerPrompt(raw: unknown): raw is Record<string, unknown> {
  return isPlainObject(raw) && Object.values(raw).every(isPlainObject);
}

/** The keys of a `POST /prompt` body (`server.py` `post_prompt`). */
const PROMPT_BODY_KEYS: ReadonlySet<string> = new Set([
  "prompt",
  "client_id",
  "prompt_id",
  "extra_data",
  "number",
  "front",
  "partial_execution_targets",
]);

/** A `POST /prompt` body without its `prompt`. */
function bodyFields(obj: Record<string, unknown>): Record<string, unknown> {
  const { prompt: _prompt, ...rest } = obj;
  return rest;
}

/** A saved `POST /prompt` body: only a body's keys, and a `prompt` that is not itself a node. */
function isPromptBody(obj: Record<string, unknown>): boolean {
  const prompt = obj["prompt"];
  return (
    isPlainObject(prompt) &&
    !("class_type" in prompt) &&
    !("inputs" in prompt) &&
    Object.keys(obj).every((k) => PROMPT_BODY_KEYS.has(k))
  );
}

/** An `/object_info` dump: node definitions (`input` and `output`), none a node of a prompt. */
function isObjectInfoShape(obj: Record<string, unknown>): boolean {
  const values = Object.values(obj);
  return (
    values.length > 0 &&
    values.every((v) => isPlainObject(v) && "input" in v && "output" in v && !("class_type" in v))
  );
}

function uiSource(raw: Record<string, unknown>, container: WorkflowContainer): WorkflowSource {
  return { format: "ui", version: raw["version"] === 1 ? "1" : "0.4", workflow: raw, container };
}

/** The editor's test for an API prompt: every value has a string `class_type` and object `inputs`. */
export function isApiPrompt(raw: unknown): raw is Record<string, unknown> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return false;
  const values = Object.values(raw);
  return (
    values.length > 0 &&
    values.every(
      (v) =>
        v !== null &&
        typeof v === "object" &&
        typeof (v as { class_type?: unknown }).class_type === "string" &&
        typeof (v as { inputs?: unknown }).inputs === "object" &&
        (v as { inputs?: unknown }).inputs !== null,
    )
  );
}

function describeShape(raw: unknown): string {
  if (Array.isArray(raw))
    return `an array${raw.length === 0 ? " ([])" : ""}, not an object of nodes`;
  if (raw === null || typeof raw !== "object") return `a ${raw === null ? "null" : typeof raw}`;
  const keys = Object.keys(raw);
  if (keys.length === 0) return "an empty object ({}): a prompt with no nodes";
  const obj = raw as Record<string, unknown>;
  if (isObjectInfoShape(obj))
    return "it looks like an object_info (node definitions), not a workflow";
  if (isPromptBody(obj))
    return `a POST /prompt body whose prompt is ${describeShape(obj["prompt"])}`;
  const notNode = keys.find((k) => !isPlainObject(obj[k]));
  if (notNode !== undefined)
    return `the value of ${JSON.stringify(notNode)} is ${describeValue(obj[notNode])}, not a node (an object with class_type and inputs)`;
  // Every value is an object, yet the whole is no prompt: some node lacks class_type or inputs.
  const incomplete = keys.find((k) => !isApiPrompt({ [k]: obj[k] })) ?? keys[0]!;
  const node = obj[incomplete] as Record<string, unknown>;
  const missing = typeof node["class_type"] !== "string" ? "string class_type" : "inputs object";
  return `node ${JSON.stringify(incomplete)} has no ${missing}, so it cannot be converted (\`comfyc validate\` reports what ComfyUI answers for it)`;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return `a ${typeof value}`;
}

/** Metadata texts found in a container, by lower-cased key (`workflow`, `prompt`). */
interface FoundMetadata {
  readonly texts: Map<string, string>;
  readonly container: WorkflowContainer;
  /** Where the file is cut short, when it is (PNG and WebP). */
  readonly truncation?: string;
}

async function extractMetadata(
  input: Uint8Array | Blob,
  source: ByteSource,
  container: Exclude<WorkflowContainer, "json" | "apng">,
  name: string,
): Promise<FoundMetadata> {
  try {
    switch (container) {
      case "png": {
        const gathered = await gatherPngChunks(source, name, async (png) =>
          (await pngMetadata(png, false)).texts.has("workflow"),
        );
        return withTruncation(
          await pngMetadata(gathered.bytes, gathered.animated),
          gathered.truncation,
        );
      }
      case "webp": {
        const gathered = await gatherWebpChunks(source, name);
        return withTruncation(
          { texts: await webpMetadata(gathered.bytes), container },
          gathered.truncation,
        );
      }
      default:
        return { texts: await mediaMetadata(input), container };
    }
  } catch (cause) {
    if (cause instanceof WorkflowImportError) throw cause;
    throw invalidWorkflow(
      "unreadable_media",
      `${name} looks like a ${container.toUpperCase()} file but cannot be read: ${(cause as Error)?.message ?? String(cause)}`,
      "The file may be truncated or damaged; export the workflow from the editor instead.",
      { cause },
    );
  }
}

/**
 * A file cut short is an error only when nothing usable came before the cut (the message then
 * says where it is cut); otherwise its metadata is used and the cut becomes a warning.
 */
function withTruncation(found: FoundMetadata, truncation: string | undefined): FoundMetadata {
  if (truncation === undefined) return found;
  if (!found.texts.has("workflow") && !found.texts.has("prompt")) throw new Error(truncation);
  return { ...found, truncation };
}

/**
 * PNG: `tEXt`, `iTXt` (compressed too) and `zTXt` via ExifReader; APNG `comf` chunks. `bytes`
 * is the small PNG of metadata chunks that {@link gatherPngChunks} re-framed (text chunks over
 * 32 MiB were refused there, before anything decodes or inflates them).
 */
async function pngMetadata(bytes: Uint8Array, animated: boolean): Promise<FoundMetadata> {
  const texts = new Map<string, string>();
  const { default: extractChunks } = await importOptional(
    () => import("png-chunks-extract"),
    "png-chunks-extract",
    READING_IMAGES,
  );
  const chunks = extractChunks(bytes);
  const { default: ExifReader } = await importOptional(
    () => import("exifreader"),
    "exifreader",
    READING_IMAGES,
  );
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const tags = await ExifReader.load(buffer as ArrayBuffer, {
    async: true,
    expanded: true,
    includeUnknown: false,
  });
  for (const [key, tag] of Object.entries(tags.pngText ?? {})) {
    if (typeof tag?.value === "string") addText(texts, key, tag.value);
  }
  const container: WorkflowContainer = animated ? "apng" : "png";
  const { decode } = await importOptional(
    () => import("png-chunk-text"),
    "png-chunk-text",
    READING_IMAGES,
  );
  for (const chunk of chunks) {
    // SaveAnimatedPNG writes its metadata into private `comf` chunks laid out like tEXt.
    if (chunk.name === "comf") {
      const { keyword, text } = decode(chunk.data);
      addText(texts, keyword, utf8(text));
    }
  }
  return { texts, container };
}

/** png-chunk-text decodes Latin-1; the editor reads the bytes as UTF-8. */
function utf8(latin1: string): string {
  return Buffer.from(latin1, "latin1").toString("utf8");
}

/** WebP: EXIF IFD0 ASCII tags, each `"<key>:<json>"` split at the first colon (§7.1). */
async function webpMetadata(bytes: Uint8Array): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const { default: ExifReader } = await importOptional(
    () => import("exifreader"),
    "exifreader",
    READING_IMAGES,
  );
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const tags = await ExifReader.load(buffer as ArrayBuffer, { async: true, expanded: true });
  for (const tag of Object.values(tags.exif ?? {})) {
    const value = (tag as { value?: unknown })?.value;
    const text = Array.isArray(value)
      ? value.join("")
      : typeof value === "string"
        ? value
        : undefined;
    if (!text) continue;
    const colon = text.indexOf(":");
    if (colon > 0) addText(texts, text.slice(0, colon), text.slice(colon + 1));
  }
  return texts;
}

/**
 * Audio and video containers: every native tag named `prompt` or `workflow`, any spelling.
 * From a Blob, music-metadata reads the slices it needs and skips the media data.
 */
async function mediaMetadata(input: Uint8Array | Blob): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const { parseBlob, parseBuffer } = await importOptional(
    () => import("music-metadata"),
    "music-metadata",
    "Reading workflows from audio and video files",
  );
  const options = { skipCovers: true, duration: false };
  const metadata =
    input instanceof Uint8Array
      ? await parseBuffer(input, undefined, options)
      : await parseBlob(input, options);
  for (const tags of Object.values(metadata.native)) {
    for (const tag of tags) {
      const key = tag.id.replace(/^.*:/, "");
      const value = tag.value as unknown;
      const text =
        typeof value === "string"
          ? value
          : value &&
              typeof value === "object" &&
              typeof (value as { text?: unknown }).text === "string"
            ? (value as { text: string }).text
            : undefined;
      if (text === undefined) continue;
      // music-metadata names MP4 `mdta` items (how FFmpeg stores arbitrary keys) by their
      // index in the `keys` atom, not by name; such JSON values are recognised by content.
      if (/^[\x00-\x1f]+$/.test(key) || /^[\x00-\x1f]/.test(tag.id)) {
        if (text.trimStart().startsWith("{")) addText(texts, `#${texts.size}`, text, true);
      } else addText(texts, key, text);
    }
  }
  return texts;
}

function addText(texts: Map<string, string>, key: string, text: string, unnamed = false): void {
  const k = unnamed ? key : key.toLowerCase();
  if ((unnamed || k === "workflow" || k === "prompt") && !texts.has(k)) texts.set(k, text);
}

function fromMetadata(
  texts: Map<string, string>,
  container: WorkflowContainer,
  name: string,
): WorkflowSource {
  for (const [key, text] of texts) {
    if (text.length <= MAX_WORKFLOW_JSON_BYTES) continue;
    throw invalidWorkflow(
      "too_large",
      `${name} (${container.toUpperCase()}) has ${key.startsWith("#") ? "a" : `its ${key}`} metadata text of ${(text.length / 1024 / 1024).toFixed(1)} MiB, more than the ${MAX_WORKFLOW_JSON_BYTES / 1024 / 1024} MiB a workflow document may have`,
      "ComfyUI's own workflows are well under 1 MiB; check where the file came from, or use the workflow JSON.",
    );
  }
  const unnamed = [...texts].filter(([k]) => k.startsWith("#")).map(([, v]) => v);
  const workflowText = texts.get("workflow") ?? unnamed.find((t) => isUiDocumentShape(tryParse(t)));
  const promptText = texts.get("prompt") ?? unnamed.find((t) => isApiPrompt(tryParse(t)));
  let prompt: Record<string, unknown> | undefined;
  if (promptText !== undefined) {
    try {
      const parsed = parseJsonLossless(nanToNull(promptText));
      if (isApiPrompt(parsed)) prompt = parsed;
    } catch {
      // A broken prompt copy does not matter when the workflow is there; checked below.
    }
  }
  if (workflowText !== undefined) {
    try {
      const parsed = parseJsonLossless(workflowText);
      if (isUiDocumentShape(parsed))
        return { ...uiSource(parsed, container), ...(prompt ? { prompt } : {}) };
    } catch {
      // Fall back to the prompt, as the editor does.
    }
  }
  if (prompt) return { format: "api", prompt, container };
  const found = [...texts.keys()].filter((k) => !k.startsWith("#"));
  throw invalidWorkflow(
    "no_metadata",
    found.length
      ? `${name} (${container.toUpperCase()}) has ${found.join(" and ")} metadata, but neither is a usable workflow or prompt`
      : `${name} (${container.toUpperCase()}) carries no ComfyUI workflow or prompt metadata`,
    "ComfyUI embeds metadata unless started with --disable-metadata; use an output file saved with metadata, or the workflow JSON.",
  );
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(nanToNull(text));
  } catch {
    return undefined;
  }
}

/**
 * Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity` (IS_CHANGED results stored in
 * the prompt copy, §7.1); strict JSON rejects them. Outside strings they become `null`.
 */
export function nanToNull(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  return text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : "null"));
}
