import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, extname, join, normalize, relative, resolve, sep } from "node:path";

/** The three folder types `/view` and `/upload` accept (protocol §10). */
export type FolderType = "input" | "output" | "temp";
export const FOLDER_TYPES: readonly FolderType[] = ["input", "output", "temp"];

/** The server's input, output and temp folders. */
export class Folders {
  constructor(readonly root: string) {
    for (const t of FOLDER_TYPES) mkdirSync(this.dir(t), { recursive: true });
  }

  dir(type: FolderType): string {
    return join(this.root, type);
  }

  /** `dir/sub` if it stays inside `dir`, else undefined. */
  within(type: FolderType, subfolder: string): string | undefined {
    const base = resolve(this.dir(type));
    const full = resolve(base, normalize(subfolder || "."));
    return full === base || full.startsWith(base + sep) ? full : undefined;
  }

  /** Files directly inside the input folder, sorted: LoadImage's combo list. */
  inputFiles(): string[] {
    return readdirSync(this.dir("input"))
      .filter((f) => statSync(join(this.dir("input"), f)).isFile())
      .sort();
  }

  /**
   * Resolves a file reference as ComfyUI's LoadImage does: `"name.png [output]"` picks the
   * folder, `"sub/name.png"` a subfolder; undefined when it escapes or does not exist.
   */
  annotatedPath(value: string): string | undefined {
    let type: FolderType = "input";
    let name = value;
    const m = /^(.*) \[(input|output|temp)\]$/.exec(value);
    if (m) {
      name = m[1]!;
      type = m[2] as FolderType;
    }
    const dir = this.within(type, dirname(name));
    if (!dir) return undefined;
    const path = join(dir, basename(name));
    return existsSync(path) && statSync(path).isFile() ? path : undefined;
  }

  /** Wipes the temp folder, as the server does at start-up and shutdown. */
  clearTemp(): void {
    rmSync(this.dir("temp"), { recursive: true, force: true });
    mkdirSync(this.dir("temp"), { recursive: true });
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Server-side substitutions in a filename prefix (§10); `%date:…%` is left as is. */
export function substitutePrefix(
  prefix: string,
  width: number,
  height: number,
  now = new Date(),
): string {
  return prefix
    .replaceAll("%width%", String(width))
    .replaceAll("%height%", String(height))
    .replaceAll("%year%", String(now.getFullYear()))
    .replaceAll("%month%", pad(now.getMonth() + 1))
    .replaceAll("%day%", pad(now.getDate()))
    .replaceAll("%hour%", pad(now.getHours()))
    .replaceAll("%minute%", pad(now.getMinutes()))
    .replaceAll("%second%", pad(now.getSeconds()));
}

/** Where a save node writes: folder, file-name stem, first counter and reported subfolder. */
export interface SavePath {
  readonly folder: string;
  readonly filename: string;
  readonly counter: number;
  readonly subfolder: string;
}

/**
 * ComfyUI's `get_save_image_path`: a `/` in the prefix makes subfolders; the counter is one
 * more than the highest `<name>_<digits>_` already there. Throws when the prefix escapes the
 * folder (the prompt then fails with an execution error); the message names the folder and the
 * output folder, and their common path unless `commonpathInError` is false (0.33.0 dropped it).
 */
export function savePath(
  base: string,
  prefix: string,
  width: number,
  height: number,
  options: { commonpathInError?: boolean } = {},
): SavePath {
  const substituted = substitutePrefix(prefix, width, height);
  const subfolder = dirname(substituted) === "." ? "" : dirname(substituted);
  const filename = basename(substituted);
  const root = resolve(base);
  const folder = resolve(root, subfolder);
  if (folder !== root && !folder.startsWith(root + sep)) {
    // Python's os.path.commonpath of the two: their longest shared run of path segments.
    const a = root.split(sep);
    const b = folder.split(sep);
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    const common = a.slice(0, n).join(sep) || sep;
    throw new Error(
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${folder}\n         output_dir: ${root}` +
        (options.commonpathInError === false ? "" : `\n         commonpath: ${common}`),
    );
  }
  mkdirSync(folder, { recursive: true });
  let max = 0;
  const pattern = new RegExp(`^${filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}_(\\d+)_`);
  for (const f of readdirSync(folder)) {
    const m = pattern.exec(f);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return { folder, filename, counter: max + 1, subfolder: relative(root, folder) };
}

/**
 * `<name>_<counter:05d>_<ext>`, as the image, video and (before 0.25.0) audio savers name files;
 * `<name>_<counter:05d><ext>` without the trailing underscore (`underscore: false`), as audio
 * from 0.25.0 and SaveText do.
 */
export function counterName(
  filename: string,
  counter: number,
  ext: string,
  underscore = true,
): string {
  return `${filename}_${String(counter).padStart(5, "0")}${underscore ? "_" : ""}${ext}`;
}

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".flac": "audio/flac",
  ".mp3": "audio/mpeg",
  ".opus": "audio/ogg",
  ".wav": "audio/x-wav",
  ".json": "application/json",
  ".txt": "text/plain",
  ".glb": "model/gltf-binary",
};

/** Content type guessed from the extension; HTML, JS and CSS are served as octet-stream. */
export function contentTypeOf(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Where an upload lands without overwrite: the same name when the bytes are identical (nothing
 * is written), else the first free `name (n).ext`.
 */
export function uploadTarget(
  dir: string,
  name: string,
  bytes: Buffer,
  overwrite: boolean,
): { path: string; name: string; write: boolean } {
  let candidate = name;
  if (!overwrite) {
    const ext = extname(name);
    const stem = name.slice(0, name.length - ext.length);
    for (let i = 1; existsSync(join(dir, candidate)); i++) {
      if (readFileSync(join(dir, candidate)).equals(bytes))
        return { path: join(dir, candidate), name: candidate, write: false };
      candidate = `${stem} (${i})${ext}`;
    }
  }
  return { path: join(dir, candidate), name: candidate, write: true };
}
