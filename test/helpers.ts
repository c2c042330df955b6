import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestServer } from "comfyc/testing";

/** The repository root. */
export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

/**
 * `../shared/data`, the whole real corpus (object_info dumps and workflows). CI has it beside
 * the repository; a bare clone does not, and the sweeps over it are then skipped (see
 * `test/shared.setup.ts` for the one line that says so).
 */
export const SHARED_DATA = resolve(ROOT, "..", "shared", "data");

/** Whether `../shared/data` is there. */
export const HAS_SHARED_DATA = existsSync(join(SHARED_DATA, "object_info"));

/** A file vendored in `test/fixtures/` (small, provenance in `test/fixtures/README.md`). */
export function fixture(...path: string[]): string {
  return join(ROOT, "test", "fixtures", ...path);
}

/** `.json` files of a folder of `../shared/data`, sorted; none when the corpus is absent. */
export function sharedFiles(folder: string): string[] {
  const dir = join(SHARED_DATA, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => join(dir, f));
}

/** Paths of every real object_info dump in `../shared/data` (none when it is absent). */
export function objectInfoDumps(): string[] {
  return sharedFiles("object_info");
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

/** A throwaway self-signed certificate for 127.0.0.1 (PEM, valid one day), made by `openssl`. */
export function selfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = tempDir();
  const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert,
    ].concat(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]),
    { stdio: "ignore" },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/**
 * Our test server over https (and wss) with a fresh {@link selfSignedCert}, and that
 * certificate: the CA a client must be given (`tls: { ca }`) to trust it.
 */
export async function startTlsTestServer(): Promise<{ server: TestServer; ca: Buffer }> {
  const { startTestServer } = await import("comfyc/testing");
  const cert = selfSignedCert();
  return { server: await startTestServer({ tls: cert }), ca: cert.cert };
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
