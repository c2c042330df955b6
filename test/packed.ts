import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers.js";

/**
 * comfyc as a user installs it: `npm pack` of this checkout installed into fresh `npm init -y`
 * projects in the system's temp folder.
 * Used by the README contract test and `bench/package-weight.ts`. npm reads its cache first
 * (`--prefer-offline`); packages not cached come from the registry.
 */

/**
 * Runs npm in `cwd`; its stdout and stderr together (npm's warnings are on stderr). Throws with
 * both when npm fails.
 */
export function npm(cwd: string, args: readonly string[]): { stdout: string; output: string } {
  const r = spawnSync("npm", [...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
  });
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm ${args.join(" ")} failed in ${cwd}:\n${output}`);
  return { stdout: r.stdout, output };
}

/**
 * `npm pack` of this checkout into a new temp folder; the tarball's path. The package's
 * `prepack` script (the build) runs only with `build: true`: `npm test` builds dist/ before the
 * tests, and rebuilding it here would rewrite files other tests are reading.
 */
export function packComfyc({ build = false }: { build?: boolean } = {}): string {
  if (!build && !existsSync(join(ROOT, "dist", "index.js")))
    throw new Error("dist/ is not built: run `npm run build` first (npm test does)");
  const dir = mkdtempSync(join(tmpdir(), "comfyc-pack-"));
  const args = [
    "pack",
    "--pack-destination",
    dir,
    "--json",
    ...(build ? [] : ["--ignore-scripts"]),
  ];
  const [{ filename }] = JSON.parse(npm(ROOT, args).stdout) as [{ filename: string }];
  return join(dir, filename);
}

/** A fresh project: `npm init -y` in a new temp folder. */
export function newProject(prefix = "comfyc-project-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  npm(dir, ["init", "-y"]);
  return dir;
}

/** `npm install` of `packages` (tarball paths or names) into `project`; npm's output. */
export function install(project: string, packages: readonly string[], dev = false): string {
  const flags = ["--prefer-offline", "--no-audit", ...(dev ? ["--save-dev"] : [])];
  return npm(project, ["install", ...flags, ...packages]).output;
}

/** Apparent size in bytes of every file under `dir` (symlinks counted as links, not followed). */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else total += lstatSync(path).size;
  }
  return total;
}

/** Writes `files` (relative path → text) into `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** Removes the temp folders a packed install made. */
export function removeAll(...dirs: readonly string[]): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
