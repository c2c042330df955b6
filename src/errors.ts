import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
/**
 * Stable error codes. Tests and callers branch on `code`, never on message text; the CLI maps
 * each code to an exit code.
 */
export type ErrorCode =
  | "OBJECT_INFO_INVALID"
  | "UNKNOWN_NODE_CLASS"
  | "INVALID_GRAPH"
  | "PROMPT_INVALID"
  | "PARAMS_INVALID"
  | "WORKFLOW_INVALID"
  | "PROMPT_REJECTED"
  | "EXECUTION_FAILED"
  | "INTERRUPTED"
  | "CANCELLED"
  | "CANCEL_UNDELIVERED"
  | "JOB_LOST"
  | "TIMEOUT"
  | "SERVER_UNREACHABLE"
  | "SERVER_GONE"
  | "SERVER_ERROR"
  | "AUTH_FAILED"
  | "BAD_SERVER_REPLY"
  | "UNSAFE_PATH"
  | "NO_CAPABLE_SERVER"
  | "NOT_FOUND"
  | "JOB_DATA_INVALID"
  | "CODEGEN_DRIFT"
  | "IO_ERROR"
  | "USAGE"
  | "MISSING_PACKAGE"
  | "INTERNAL";

/**
 * The brand behind {@link isComfycError}: a registry symbol, so two copies of comfyc in one
 * process (a CLI and a workflow's own `node_modules`) recognise each other's errors, which
 * `instanceof` cannot.
 */
const BRAND: unique symbol = Symbol.for("comfyc.error") as never;

/**
 * Base class of every error comfyc throws: a stable `code`, a message that says what happened
 * and where, and a `hint` saying what to do about it (every comfyc error has one; a test checks
 * every construction site).
 *
 * @example
 * try { wf.compile(); } catch (e) { if (isComfycError(e) && e.code === "PROMPT_INVALID") … }
 */
export class ComfycError extends Error {
  /** @internal The cross-copy brand checked by {@link isComfycError}. */
  readonly [BRAND] = true;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(hint ? `${message}\n  → ${hint}` : message, options);
    this.name = new.target.name;
  }
}

/**
 * The `MISSING_PACKAGE` error (CLI exit 11): `feature` needs optional peer dependencies of
 * comfyc that are not installed. The hint gives the line that installs what is missing.
 */
export function missingPackageError(
  packages: readonly string[],
  feature: string,
  cause?: unknown,
): ComfycError {
  const one = packages.length === 1;
  return new ComfycError(
    "MISSING_PACKAGE",
    `${feature} needs ${one ? "the package" : "the packages"} ${packages.join(", ")}, which ${one ? "is" : "are"} not installed`,
    `Install ${one ? "it" : "them"} in this project: npm install --save-dev ${packages.join(" ")}` +
      " (optional peer dependencies of comfyc, left out of projects that only build and run" +
      ' workflows; README "Use comfyc in your project" has the line for the whole CLI).',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Whether the package `name` can be imported from comfyc's own files: a
 * `node_modules/<name>/package.json` in this folder or any folder above it, where Node's
 * resolution of a bare specifier looks (npm's layout and pnpm's alike: pnpm links peers next to
 * the package).
 */
export function isInstalled(name: string, from = fileURLToPath(import.meta.url)): boolean {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "node_modules", name, "package.json"))) return true;
    if (dirname(dir) === dir) return false;
  }
}

/**
 * Throws {@link missingPackageError} naming every package of `names` that is not installed.
 *
 * @param feature what needs them, for the message: `"comfyc serve"`.
 */
export function requirePackages(names: readonly string[], feature: string): void {
  const missing = [...new Set(names)].filter((name) => !isInstalled(name));
  if (missing.length) throw missingPackageError(missing, feature);
}

/**
 * Imports an optional peer dependency, turning "not installed" into {@link missingPackageError}.
 *
 * @example const { default: ExifReader } = await importOptional(() => import("exifreader"), "exifreader", "Reading images");
 */
export async function importOptional<T>(
  load: () => Promise<T>,
  name: string,
  feature: string,
): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    const code = (cause as { code?: unknown })?.code;
    if (code === "ERR_MODULE_NOT_FOUND" && String((cause as Error).message).includes(`'${name}'`))
      throw missingPackageError([name], feature, cause);
    throw cause;
  }
}

/** The `IO_ERROR` for a local file that could not be read. */
export function ioError(path: string, cause: unknown): ComfycError {
  return new ComfycError(
    "IO_ERROR",
    `Cannot read ${path}: ${(cause as Error)?.message ?? String(cause)}`,
    "Check the path and the file's permissions.",
    { cause },
  );
}

/**
 * An `INTERNAL` error wrapping something thrown that is not a comfyc error: a bug of ours, or
 * of code we called. The original stays as `cause`, unchanged.
 */
export function internalError(cause: unknown, where: string): ComfycError {
  if (isComfycError(cause)) return cause;
  const name = (cause as Error)?.name ?? "Error";
  return new ComfycError(
    "INTERNAL",
    `Unexpected ${name} in ${where}: ${(cause as Error)?.message ?? String(cause)}`,
    "This is a bug: please report it with the stack trace (comfyc --verbose prints it).",
    { cause },
  );
}

/**
 * True when `e` is any comfyc error (from this or another copy of the package), optionally
 * with the given code.
 */
export function isComfycError(e: unknown, code?: ErrorCode): e is ComfycError {
  return (
    typeof e === "object" &&
    e !== null &&
    (e as { [BRAND]?: unknown })[BRAND] === true &&
    (code === undefined || (e as { code?: unknown }).code === code)
  );
}

/** A JSON path such as `KSampler.input.required.seed[1].max`, built from zod-style path parts. */
export function formatJsonPath(parts: readonly PropertyKey[]): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else {
      const s = String(p);
      out += /^[A-Za-z_$][\w$]*$/.test(s) ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** Short, single-line rendering of an untrusted value for error messages. */
export function describeValue(value: unknown, max = 80): string {
  let s: string;
  if (typeof value === "bigint") s = `${value}n`;
  else if (value === undefined) s = "undefined";
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  s = s.replace(/\s+/g, " ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
