import { accessSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ComfycError } from "../errors.js";

/**
 * Folders and files the CLI writes: created up front and checked before any work is done, so
 * `run --out` never finishes a job and then fails to save it. Failures are `IO_ERROR` (exit 3)
 * naming the flag and the path.
 */

/** The `IO_ERROR` for a path the CLI cannot create or write. */
export function writeError(
  flag: string,
  path: string,
  cause: unknown,
  kind: "folder" | "file" = "folder",
): ComfycError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const why =
    code === "ENOTDIR" || code === "EEXIST"
      ? "a file is in the way of that folder"
      : code === "EACCES" || code === "EPERM"
        ? "permission denied"
        : code === "EROFS"
          ? "the file system is read-only"
          : code === "ENOENT"
            ? "it cannot be created there"
            : code === "EISDIR"
              ? "it is a folder"
              : ((cause as Error)?.message ?? String(cause));
  return new ComfycError(
    "IO_ERROR",
    `${flag} ${path}: cannot write there (${why})`,
    `Choose a ${kind} you can write to, for example ${flag} ${kind === "folder" ? "./out" : "./out/prompt.json"}.`,
    { cause },
  );
}

/**
 * `mkdir -p` that fails instead of looping: Node's `mkdir(…, { recursive: true })` spins
 * forever at full CPU under `/proc` (each level answers ENOENT, then EEXIST), so the missing
 * levels are created one by one from the nearest existing ancestor.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  while (!existsSync(current)) {
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  if (existsSync(current) && !statSync(current).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {
      code: "ENOTDIR",
    });
  }
  for (const level of missing.reverse()) mkdirSync(level);
}

/**
 * Creates `dir` (and its parents) if needed and checks that it can be written to.
 *
 * @throws ComfycError `IO_ERROR` naming `flag` and `dir`.
 */
export function ensureWritableDir(dir: string, flag: string): void {
  try {
    makeDirectory(dir);
    accessSync(dir, constants.W_OK);
  } catch (cause) {
    throw writeError(flag, dir, cause);
  }
}

/**
 * Writes `text` to `path`, creating its folder first.
 *
 * @throws ComfycError `IO_ERROR` naming `flag` and `path`.
 */
export function writeOutputFile(path: string, text: string, flag: string): void {
  try {
    makeDirectory(dirname(resolve(path)));
    writeFileSync(path, text);
  } catch (cause) {
    throw writeError(flag, path, cause, "file");
  }
}
