import { statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isWorkflow, type AnyWorkflow } from "../builder/define-workflow.js";
import { ComfycError, importOptional, isComfycError } from "../errors.js";
import { didYouMean } from "./options.js";

/** Extensions of the workflow modules `compile` and `run` import. */
const MODULE_EXTENSIONS = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/i;

/**
 * Imports a workflow file (TypeScript or JavaScript) and returns its default export.
 *
 * @throws ComfycError `IO_ERROR` for a missing file or a folder, `USAGE` for a prompt `.json`
 *   or another kind of file, `WORKFLOW_INVALID` when importing fails (with a hint for the usual
 *   causes: generated code not there yet, packages not installed, a CommonJS project) or the
 *   file has no workflow as its default export.
 */
export async function loadWorkflowModule(file: string): Promise<AnyWorkflow> {
  const path = resolve(file);
  checkWorkflowPath(file, path);
  let mod: { default?: unknown };
  try {
    // Registered once for the process, so the file's `import "comfyc"` resolves to the very
    // modules this CLI runs (one Workflow class, one error hierarchy).
    if (/\.[cm]?tsx?$/i.test(path)) await registerTypeScript();
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (cause) {
    if (isComfycError(cause)) throw cause;
    // The user's own error (a TypeError in the module's top level, say) stays the cause.
    throw new ComfycError(
      "WORKFLOW_INVALID",
      `Cannot load ${file}: ${(cause as Error)?.name ?? "Error"}: ${(cause as Error)?.message ?? String(cause)}`,
      importHint(file, cause),
      { cause },
    );
  }
  // tsx may wrap a CommonJS-looking module's exports one level deeper.
  const exported = isWorkflow(mod.default)
    ? mod.default
    : (mod.default as { default?: unknown } | undefined)?.default;
  if (!isWorkflow(exported)) {
    throw new ComfycError(
      "WORKFLOW_INVALID",
      `${file} does not default-export a workflow`,
      "End the file with `export default wf;` (a workflow()) or `export default defineWorkflow(…)`.",
    );
  }
  return exported;
}

/** Errors a user can act on before Node's loader would print its own internals. */
function checkWorkflowPath(file: string, path: string): void {
  let stats;
  try {
    stats = statSync(path);
  } catch (cause) {
    throw new ComfycError(
      "IO_ERROR",
      `${file}: no such file`,
      `Check the path (relative to ${process.cwd()}); a workflow is a .ts or .js file that default-exports a workflow.`,
      { cause },
    );
  }
  if (stats.isDirectory())
    throw new ComfycError(
      "IO_ERROR",
      `${file} is a folder, not a workflow file`,
      `Pass the workflow file itself, for example ${join(file, "my-workflow.ts")}.`,
    );
  if (/\.json$/i.test(path))
    throw new ComfycError(
      "USAGE",
      `${file} is JSON; compile turns a workflow module (.ts or .js) into API-format JSON`,
      `To check an API-format prompt use \`comfyc validate ${file} --schema object_info.json\` (or --url <server>); to run it, \`comfyc run ${file}\`.`,
    );
  if (!MODULE_EXTENSIONS.test(path))
    throw new ComfycError(
      "USAGE",
      `${file} is not a workflow module`,
      "Pass a .ts or .js file that default-exports a workflow (or a prompt .json to `comfyc run`).",
    );
}

/** What to do about a workflow module that failed to import. */
function importHint(file: string, cause: unknown): string {
  const message = (cause as Error)?.message ?? "";
  const code = (cause as NodeJS.ErrnoException)?.code;
  const missing = /Cannot find (?:module|package) '([^']+)'/.exec(message)?.[1];
  if (missing && /(^|[\\/])generated([\\/]|$)/.test(missing))
    return "Generate the typed nodes first: `comfyc codegen --url http://127.0.0.1:8188 --out generated` (or `--file object_info.json`).";
  if (code === "ERR_MODULE_NOT_FOUND" && missing && !/^[./]/.test(missing) && !isAbsolute(missing))
    return `Install it in the project: npm install ${missing.startsWith("@") ? missing.split("/").slice(0, 2).join("/") : missing.split("/")[0]}.`;
  if (code === "ERR_MODULE_NOT_FOUND")
    return `Check the import paths in ${file} (ES modules name the file: "./generated/core.js").`;
  if (
    /require\(\) (of )?ES Module|ERR_REQUIRE_(ESM|CYCLE_MODULE|ASYNC_MODULE)/.test(
      `${code} ${message}`,
    )
  )
    return 'The file is loaded as CommonJS: add "type": "module" to the project\'s package.json (or name the file .mts).';
  return `Fix the error in ${file}; comfyc --verbose prints its stack trace.`;
}

let registered = false;
/** Lets Node import TypeScript files: tsx, an optional peer dependency needed only for `.ts`. */
async function registerTypeScript(): Promise<void> {
  if (registered || process.execArgv.some((a) => a.includes("tsx"))) return;
  const { register } = await importOptional(
    () => import("tsx/esm/api"),
    "tsx",
    "Loading TypeScript workflow files",
  );
  register();
  registered = true;
}

/** A JSON Schema property as `paramsJsonSchema()` writes it (zod's `toJSONSchema`). */
interface ParamProperty {
  type?: unknown;
  enum?: unknown[];
}

/**
 * `--param name=value` strings → raw parameter values, typed by the workflow's parameter JSON
 * Schema: a string parameter takes the text as is, a number or boolean must parse as one, other
 * types are read as JSON (falling back to the text). Range and format checks stay with the
 * workflow's zod schema (`PARAMS_INVALID`).
 *
 * @param jsonSchema the workflow's `paramsJsonSchema()`, or undefined for a workflow without
 *   parameters (a plain `workflow()` or a prompt `.json`).
 * @param what names the workflow in messages.
 * @throws ComfycError `USAGE` for a malformed pair, a name given twice, a name the workflow
 *   does not have (with the closest one as "did you mean"), a number or boolean that does not
 *   parse, or any `--param` for a workflow without parameters.
 */
export function parseParams(
  pairs: readonly string[],
  jsonSchema: Record<string, unknown> | undefined,
  what = "this workflow",
): Record<string, unknown> {
  if (pairs.length === 0) return {};
  if (!jsonSchema)
    throw new ComfycError(
      "USAGE",
      `${what} takes no parameters, but --param ${pairs.map((p) => p.split("=")[0]).join(", --param ")} was given`,
      "Remove --param; to make a workflow take parameters, write it with defineWorkflow({ name, params: z.object({ … }) }, (wf, p) => …).",
    );
  const properties = (jsonSchema["properties"] ?? {}) as Record<string, ParamProperty>;
  const extra = jsonSchema["additionalProperties"];
  const acceptsOthers = extra === true || (typeof extra === "object" && extra !== null);
  const names = Object.keys(properties);
  const listed = names.length
    ? `Its parameters: ${names.join(", ")}.`
    : "It has no named parameters.";
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  const hints: string[] = [];
  for (const pair of pairs) {
    const i = pair.indexOf("=");
    if (i <= 0) {
      problems.push(`--param ${JSON.stringify(pair)} is not name=value`);
      hints.push("Write parameters as --param name=value.");
      continue;
    }
    const name = pair.slice(0, i);
    const text = pair.slice(i + 1);
    if (Object.hasOwn(out, name)) {
      problems.push(`--param ${name} is given twice`);
      continue;
    }
    const property = Object.hasOwn(properties, name) ? properties[name] : undefined;
    if (!property && !acceptsOthers) {
      const guess = didYouMean(name, names);
      problems.push(
        `${what} has no parameter "${name}"${guess ? ` (did you mean "${guess}"?)` : ""}`,
      );
      continue;
    }
    const parsed = parseParamValue(name, text, property);
    if ("problem" in parsed) problems.push(parsed.problem);
    else out[name] = parsed.value;
  }
  if (problems.length)
    throw new ComfycError(
      "USAGE",
      problems.length === 1 ? problems[0]! : `Bad --param values:\n  ${problems.join("\n  ")}`,
      [...new Set(hints), listed].join(" "),
    );
  return out;
}

function parseParamValue(
  name: string,
  text: string,
  property: ParamProperty | undefined,
): { value: unknown } | { problem: string } {
  const types = new Set(
    Array.isArray(property?.type) ? property.type : property?.type ? [property.type] : [],
  );
  if (types.size === 1 && types.has("string")) return { value: text };
  if (types.size > 0 && [...types].every((t) => t === "number" || t === "integer")) {
    const n = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(text) ? Number(text) : Number.NaN;
    return Number.isFinite(n)
      ? { value: n }
      : { problem: `--param ${name}: ${JSON.stringify(text)} is not a number` };
  }
  if (types.size === 1 && types.has("boolean")) {
    if (text === "true" || text === "false") return { value: text === "true" };
    return { problem: `--param ${name}: ${JSON.stringify(text)} is not true or false` };
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { value: text };
  }
}
