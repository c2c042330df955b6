import { isAbsolute, resolve, sep } from "node:path";
import { ComfycError } from "../errors.js";
import { FileRefSchema, type FileRef, type NodeOutput } from "../protocol/messages.js";

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
