import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

/** `../shared/data`, where CI keeps the real dumps and workflows. */
export const SHARED_DATA = resolve(ROOT, "..", "shared", "data");

/** Paths of every real object_info dump. */
export function objectInfoDumps(): string[] {
  const dir = join(SHARED_DATA, "object_info");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => join(dir, f));
}

/** Parsed JSON of a file. */
export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** The bundled schema the repo's generated/ comes from. */
export const BUNDLED_SCHEMA = join(ROOT, "data", "object_info.json");

/** A fresh temporary directory. */
export function tempDir(prefix = "comfyc-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Runs `tsc --noEmit --strict` over `dirs`, with `comfyc` mapped to the sources, and returns
 * its diagnostics (empty when the code type-checks).
 */
export async function typecheckDirs(dirs: readonly string[]): Promise<string> {
  const project = tempDir("comfyc-tsc-");
  const config = {
    compilerOptions: {
      target: "ES2023",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
      baseUrl: ROOT,
      paths: { comfyc: ["src/index.ts"] },
    },
    include: dirs.map((d) => join(d, "**", "*.ts")),
  };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(config));
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [
        join(ROOT, "node_modules", "typescript", "bin", "tsc"),
        "-p",
        join(project, "tsconfig.json"),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
      (_error, stdout, stderr) => resolvePromise(`${stdout}${stderr}`.trim()),
    );
  });
}
