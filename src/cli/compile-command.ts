import type { Command } from "commander";
import { isPlainWorkflow } from "../builder/define-workflow.js";
import { serializePrompt } from "../builder/serialize.js";
import { formatLocation } from "../builder/source-location.js";
import type { CompileReport } from "../builder/types.js";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import { loadObjectInfo } from "../codegen/source.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import type { CliIo } from "./io.js";
import { writeOutputFile } from "./files.js";
import { loadWorkflowModule, parseParams } from "./load.js";
import { collect, comfyuiVersionOption } from "./options.js";
import { ComfycError, isComfycError } from "../errors.js";

interface CompileFlags {
  param: string[];
  schema?: string;
  out?: string;
  validate: boolean;
  comfyuiVersion?: string;
}

/** Compiles a workflow module's default export with `--param` values; the report included. */
export async function compileWorkflowFile(
  file: string,
  flags: {
    param: readonly string[];
    validate?: boolean;
    comfyuiVersion?: string;
    schema?: string | NodeSchema;
  },
): Promise<{ workflow: AnyWorkflow; report: CompileReport }> {
  const workflow = await loadWorkflowModule(file);
  let schema: NodeSchema | undefined;
  if (typeof flags.schema === "string") {
    // Floats kept: a limit the file wrote as 1000.0 prints so, as the server prints it.
    const { raw, label } = await loadObjectInfo({ file: flags.schema }, { floats: true });
    schema = normalizeObjectInfo(raw, label);
  } else schema = flags.schema;
  const params = parseParams(
    flags.param,
    isPlainWorkflow(workflow) ? undefined : workflow.paramsJsonSchema(),
    file,
  );
  const report = compileLoaded(file, workflow, params, {
    ...(flags.validate === false ? { validate: false } : {}),
    ...(flags.comfyuiVersion ? { comfyuiVersion: flags.comfyuiVersion } : {}),
    ...(schema ? { schema } : {}),
  });
  return { workflow, report };
}

/**
 * Compiles a loaded workflow with its parameters (`comfyc compile` and `comfyc run`). An
 * exception thrown by the workflow's own code (a TypeError in its build function) is the user's
 * bug, neither comfyc's nor the server's: it is reported as `WORKFLOW_INVALID` (exit 3) with the
 * original error as the cause (its stack under `--verbose`).
 */
export function compileLoaded(
  file: string,
  workflow: AnyWorkflow,
  params: Record<string, unknown>,
  flags: { validate?: boolean; schema?: NodeSchema; comfyuiVersion?: string },
): CompileReport {
  const options = {
    validate: flags.validate !== false,
    ...(flags.schema ? { schema: flags.schema } : {}),
    ...(flags.comfyuiVersion ? { comfyuiVersion: flags.comfyuiVersion } : {}),
  };
  try {
    return isPlainWorkflow(workflow)
      ? workflow.compileWithReport(options)
      : workflow.compileWithReport(params, options);
  } catch (e) {
    if (isComfycError(e)) throw e;
    throw new ComfycError(
      "WORKFLOW_INVALID",
      `${file}: the workflow's code threw ${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? String(e)}`,
      "Fix the error in the workflow's build function; rerun with --verbose for its stack trace.",
      { cause: e },
    );
  }
}

/** `comfyc compile <file.ts>`: prints or writes the API-format JSON. */
export function registerCompile(program: Command, io: CliIo): void {
  program
    .command("compile")
    .description("Compile a workflow file (default export) to API-format JSON")
    .argument("<file>", "a .ts or .js file that default-exports a workflow")
    .option("--param <name=value>", "a workflow parameter (repeatable)", collect, [])
    .option("--out <file.json>", "write the JSON here instead of printing it")
    .option("--no-validate", "skip offline validation")
    .option(
      "--schema <object_info.json>",
      "validate against this schema instead of the generated one",
    )
    .option(
      "--comfyui-version <version>",
      "validate with this ComfyUI release's rules (default: the newest known)",
      comfyuiVersionOption(io),
    )
    .action(async (file: string, flags: CompileFlags) => {
      const { report } = await compileWorkflowFile(file, flags);
      for (const node of report.unreachable) {
        const where = node.source ? ` (${formatLocation(node.source)})` : "";
        io.warn(
          `warning: node "${node.nodeId}" (${node.classType}${where}) feeds no output node and was left out`,
        );
      }
      const json = `${serializePrompt(report.prompt, 2)}\n`;
      if (flags.out) {
        writeOutputFile(flags.out, json, "--out");
        io.info(`Wrote ${Object.keys(report.prompt).length} nodes to ${flags.out}`);
      } else io.out(json.trimEnd());
    });
}
