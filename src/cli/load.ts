import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";
import { isWorkflow, type AnyWorkflow } from "../builder/define-workflow.js";
import { ComfycError, isComfycError } from "../errors.js";

/** Imports a workflow file (TypeScript or JavaScript) and returns its default export. */
export async function loadWorkflowModule(file: string): Promise<AnyWorkflow> {
  const path = resolve(file);
  let mod: { default?: unknown };
  try {
    // Registered once for the process, so the file's `import "comfyc"` resolves to the very
    // modules this CLI runs (one Workflow class, one error hierarchy).
    if (/\.[cm]?ts$/.test(path)) registerTypeScript();
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (cause) {
    if (isComfycError(cause)) throw cause;
    // The user's own error (a TypeError in the module's top level, say) stays the cause.
    throw new ComfycError(
      "WORKFLOW_INVALID",
      `Cannot load ${file}: ${(cause as Error)?.name ?? "Error"}: ${(cause as Error)?.message ?? String(cause)}`,
      `Fix the error in ${file}; comfyc --verbose prints its stack trace.`,
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

let registered = false;
function registerTypeScript(): void {
  if (registered || process.execArgv.some((a) => a.includes("tsx"))) return;
  register();
  registered = true;
}

/** `--param name=value` strings → raw parameter values, typed by the parameter's JSON Schema. */
export function parseParams(
  pairs: readonly string[],
  jsonSchema: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const properties = (jsonSchema?.["properties"] ?? {}) as Record<
    string,
    { type?: unknown; enum?: unknown[] }
  >;
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf("=");
    if (i <= 0)
      throw new ComfycError(
        "USAGE",
        `Bad --param ${JSON.stringify(pair)}`,
        "Write parameters as --param name=value.",
      );
    const name = pair.slice(0, i);
    const text = pair.slice(i + 1);
    const type = properties[name]?.type;
    const stringTyped =
      type === "string" || (Array.isArray(type) && type.includes("string") && type.length === 1);
    if (stringTyped) out[name] = text;
    else {
      try {
        out[name] = JSON.parse(text);
      } catch {
        out[name] = text;
      }
    }
  }
  return out;
}
