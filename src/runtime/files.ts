import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, extname, isAbsolute, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { ComfycError, ioError, isComfycError } from "../errors.js";
import { FileRefSchema, type FileRef, type NodeOutput } from "../protocol/messages.js";
import type { RouteOptions, Routes } from "./routes.js";

/** What kind of file an output is. */
export type OutputKind = "image" | "animated" | "video" | "audio" | "latent" | "3d" | "file";

/** A file a node produced, with where it came from and what it is. */
export interface OutputFile extends FileRef {
  /** The node id that produced it. */
  readonly node: string;
  /** The key in the node's UI output (`images`, `audio`, `gifs`, …). */
  readonly key: string;
  readonly kind: OutputKind;
}

const VIDEO = /\.(mp4|webm|mov|mkv|avi|m4v)$/i;
const AUDIO = /\.(flac|mp3|wav|ogg|opus|m4a|aac)$/i;
const MODEL3D = /\.(glb|gltf|obj|fbx|stl|usdz|ply)$/i;

/** Every file reference in a node's output, classified. Unknown keys are scanned too. */
export function filesOf(node: string, output: NodeOutput): OutputFile[] {
  const files: OutputFile[] = [];
  const animated = Array.isArray(output["animated"]) ? output["animated"] : [];
  for (const [key, values] of Object.entries(output)) {
    if (key === "animated" || key === "text") continue;
    values.forEach((value, i) => {
      const parsed = FileRefSchema.safeParse(value);
      if (!parsed.success) return;
      const ref = parsed.data;
      files.push({
        ...ref,
        node,
        key,
        kind: kindOf(
          key,
          ref.filename,
          animated[i] === true || (animated.length === 1 && animated[0] === true),
        ),
      });
    });
  }
  return files;
}

function kindOf(key: string, filename: string, animated: boolean): OutputKind {
  if (key === "audio" || AUDIO.test(filename)) return "audio";
  if (key === "latents" || filename.endsWith(".latent")) return "latent";
  if (key === "3d" || MODEL3D.test(filename)) return "3d";
  if (VIDEO.test(filename)) return "video";
  if (key === "images" || key === "gifs")
    return animated || /\.gif$/i.test(filename) ? "animated" : "image";
  return "file";
}

/**
 * The local path for a server-supplied file under `dir`. Names and subfolders come from the
 * server and are untrusted: absolute paths, `..`, drive letters, NUL and anything that would
 * resolve outside `dir` throw `UNSAFE_PATH`. Backslashes (Windows servers) separate folders.
 */
export function safeOutputPath(dir: string, ref: Pick<FileRef, "filename" | "subfolder">): string {
  const root = resolve(dir);
  const parts = [...splitSegments(ref.subfolder ?? ""), ...splitSegments(ref.filename)];
  const name = parts[parts.length - 1];
  const bad =
    !name ||
    parts.some((p) => p === ".." || p === "." || p.includes("\0") || /^[a-zA-Z]:/.test(p)) ||
    isAbsolute(ref.filename) ||
    isAbsolute(ref.subfolder ?? "");
  const target = resolve(root, ...parts);
  if (bad || !target.startsWith(root + sep)) {
    throw new ComfycError(
      "UNSAFE_PATH",
      `Refusing to save server file ${JSON.stringify(ref.filename)} (subfolder ${JSON.stringify(ref.subfolder ?? "")}): it would be written outside ${root}`,
      "The server sent a file name with a path in it; this is either a bug or a hostile server.",
    );
  }
  return target;
}

function splitSegments(path: string): string[] {
  return path.split(/[\\/]+/).filter((p) => p !== "");
}

/** Reads a local file for upload; a typed `IO_ERROR` when it cannot. */
export async function readLocal(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw ioError(path, cause);
  }
}

/** Downloads a file into memory. */
export async function readFileRef(
  routes: Routes,
  ref: FileRef,
  options: RouteOptions = {},
): Promise<Buffer> {
  const body = await routes.view(ref, options);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Streams a file to `dir/<subfolder>/<filename>` through a temporary `.part` file, renamed
 * once complete. A name that would land outside `dir` throws `UNSAFE_PATH` before anything is
 * written.
 */
export async function saveFileRef(
  routes: Routes,
  ref: FileRef,
  dir: string,
  options: RouteOptions = {},
): Promise<string> {
  const target = safeOutputPath(dir, ref);
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.part-${process.pid}`;
  try {
    await pipeline(await routes.view(ref, options), createWriteStream(partial));
    await rename(partial, target);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  return target;
}

/**
 * Saves every file of `files` under `dir`; returns the written paths. A file whose
 * server-supplied name would escape `dir` is skipped, the others are still saved, and then one
 * `UNSAFE_PATH` error names every skipped file.
 */
export async function saveAll(
  routes: Routes,
  files: readonly FileRef[],
  dir: string,
  options: RouteOptions = {},
): Promise<string[]> {
  const paths: string[] = [];
  const unsafe: ComfycError[] = [];
  for (const file of files) {
    try {
      paths.push(await saveFileRef(routes, file, dir, options));
    } catch (e) {
      if (!isComfycError(e, "UNSAFE_PATH")) throw e;
      unsafe.push(e);
    }
  }
  if (unsafe.length > 0) {
    throw new ComfycError(
      "UNSAFE_PATH",
      `Saved ${paths.length} file(s) to ${dir}; refused ${unsafe.length} whose names would escape it:\n` +
        unsafe.map((e) => `  ${e.message.split("\n")[0]}`).join("\n"),
      "The server sent file names with paths in them; this is either a bug or a hostile server.",
    );
  }
  return paths;
}

/** A local file or bytes the builder marked for an upload input (`localFile`, `fileBytes`). */
export interface UploadMarker {
  readonly path?: string;
  readonly bytes?: Uint8Array;
  readonly name: string;
}

/** The upload marker a prompt input holds (`localFile()`/`fileBytes()`), or `undefined`. */
export const uploadMarkerOf = (value: unknown): UploadMarker | undefined =>
  (value as { __comfycUpload?: UploadMarker } | null)?.__comfycUpload;

const markerOf = uploadMarkerOf;

/**
 * The name an upload is stored under on a ComfyUI server: `comfyc-<first 24 hex digits of the
 * bytes' SHA-256><extension of name>`, lower-case, `.png` when the extension is missing or not
 * plain letters and digits. Same bytes, same name: a server that has the name has the bytes.
 */
export function uploadNameOf(sha256Hex: string, name: string): string {
  const ext = extname(name).toLowerCase();
  return `comfyc-${sha256Hex.slice(0, 24)}${/^\.[a-z0-9]{1,10}$/.test(ext) ? ext : ".png"}`;
}

/**
 * The prompt with every upload marker (builder `localFile()`/`fileBytes()`) replaced by what
 * `upload` returns for it, in a copy; the prompt itself when it has none.
 */
export async function replaceUploads(
  prompt: Record<string, unknown>,
  upload: (marker: UploadMarker) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  const hasUpload = Object.values(prompt).some((node) =>
    Object.values((node as { inputs?: Record<string, unknown> }).inputs ?? {}).some(
      (v) => markerOf(v) !== undefined,
    ),
  );
  if (!hasUpload) return prompt;
  const copy = structuredClone(prompt);
  for (const node of Object.values(copy) as { inputs?: Record<string, unknown> }[]) {
    for (const [key, value] of Object.entries(node.inputs ?? {})) {
      const marker = markerOf(value);
      if (marker) node.inputs![key] = await upload(marker);
    }
  }
  return copy;
}

/** A marker's bytes and the name they are stored under ({@link uploadNameOf}). */
export async function contentOf(
  marker: UploadMarker,
): Promise<{ bytes: Uint8Array; name: string }> {
  const bytes = marker.bytes ?? (await readLocal(marker.path!));
  return {
    bytes,
    name: uploadNameOf(createHash("sha256").update(bytes).digest("hex"), marker.name),
  };
}

/**
 * Uploads the local files a prompt refers to (builder `localFile()`/`fileBytes()` markers) under
 * content-hash names, once per client: a file the server already has (`HEAD /view`) is not sent
 * again. Returns the prompt with the stored names in place, or the prompt itself when it has
 * no markers.
 */
export class InputUploads {
  /** Content-hash name → stored name, for files this client uploaded or found. */
  readonly #known = new Map<string, string>();

  constructor(readonly routes: Routes) {}

  resolve(prompt: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return replaceUploads(prompt, (marker) => this.#once(marker, signal));
  }

  async #once(marker: UploadMarker, signal?: AbortSignal): Promise<string> {
    const { bytes, name } = await contentOf(marker);
    const known = this.#known.get(name);
    if (known) return known;
    const options = signal ? { signal } : {};
    let stored = name;
    if (!(await this.routes.exists({ filename: name, subfolder: "", type: "input" }, options)))
      stored = (await this.routes.uploadImageBytes(bytes, name, options)).name;
    this.#known.set(name, stored);
    return stored;
  }
}
