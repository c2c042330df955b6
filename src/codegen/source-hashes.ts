import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

/**
 * Remembers, per output folder, the sha256 of the object_info text it was last generated from
 * (the bytes as read from the file or the server) and the schema hash that text has, so an
 * unchanged re-run of `comfyc codegen` hashes the text and compares, without parsing the JSON
 * or canonicalizing it. The record lives in `node_modules/.cache/comfyc/` under the working
 * directory (the usual place for tools' caches, ignored by git); without a `node_modules`
 * folder nothing is remembered and re-runs take the slower path (parse and canonical hash).
 * The record is only a shortcut: a missing, unreadable or malformed one is ignored, and the
 * generated files are still checked against their own recorded hashes.
 */

/**
 * sha256 hex of an object_info exactly as read: its bytes, or its text (hashed as UTF-8, which
 * gives the bytes' hash for UTF-8 without a byte order mark).
 */
export function sourceTextHash(source: string | Uint8Array): string {
  return createHash("sha256").update(source).digest("hex");
}

const LINE = /^([0-9a-f]{64}) ([0-9a-f]{64})\n$/;

/** The cache file of one output folder. */
function recordPath(outDir: string, cwd: string): string {
  const folder = createHash("sha256").update(resolve(cwd, outDir)).digest("hex").slice(0, 32);
  return join(cwd, "node_modules", ".cache", "comfyc", `codegen-${folder}.txt`);
}

/**
 * The schema hash remembered for `outDir` when it was last generated (or found up to date) from
 * an object_info whose text hashed to `textHash`; undefined when nothing matching is remembered.
 */
export async function rememberedSchemaHash(
  outDir: string,
  textHash: string,
  cwd: string = process.cwd(),
): Promise<string | undefined> {
  let line: string;
  try {
    line = await readFile(recordPath(outDir, cwd), "utf8");
  } catch {
    return undefined;
  }
  const m = LINE.exec(line);
  return m && m[1] === textHash ? m[2] : undefined;
}

/**
 * Remembers that `outDir` now matches the object_info whose text hashed to `textHash` and whose
 * schema hash is `schemaHash`. Best effort: a folder that cannot be written is left alone.
 */
export async function rememberSchemaHash(
  outDir: string,
  textHash: string,
  schemaHash: string,
  cwd: string = process.cwd(),
): Promise<void> {
  const path = recordPath(outDir, cwd);
  try {
    // Only where a project keeps its packages; never creates node_modules itself.
    if (!(await stat(join(cwd, "node_modules"))).isDirectory()) return;
    await mkdir(join(cwd, "node_modules", ".cache", "comfyc"), { recursive: true });
    // Written aside and renamed, so a concurrent run never reads half a line.
    const temp = `${path}.${process.pid}`;
    await writeFile(temp, `${textHash} ${schemaHash}\n`);
    await rename(temp, path);
  } catch {
    // A cache that cannot be written only costs the next re-run its shortcut.
  }
}
