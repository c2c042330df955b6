import type { AnyWorkflow } from "../builder/define-workflow.js";
import type { CompileReport } from "../builder/types.js";
import type { CompileOptions } from "../builder/workflow.js";
import { ComfycError } from "../errors.js";

/** A compiled prompt with what the builder knows about it. */
export interface CompiledSource {
  readonly prompt: Record<string, unknown>;
  /** The workflow's name, when it has one. */
  readonly name?: string;
  /** Output node ids, when the builder reported them. */
  readonly expectedOutputs?: readonly string[];
}

/**
 * Compiles a builder workflow (with `params` for a parameterized one), takes a compile report
 * as it is, or checks that an API-format prompt is an object. Compiling happens here, before a job is queued or routed,
 * so a bad graph or bad parameters fail at once with the builder's own typed error.
 */
export function compileSource(
  source: AnyWorkflow | CompileReport | Readonly<Record<string, unknown>>,
  options: { readonly params?: Record<string, unknown>; readonly compile?: CompileOptions } = {},
): CompiledSource {
  const wf = source as {
    compileWithReport?: unknown;
    parseParams?: unknown;
    name?: unknown;
  };
  if (typeof wf.compileWithReport === "function") {
    const report =
      typeof wf.parseParams === "function"
        ? (source as Extract<AnyWorkflow, { parseParams: unknown }>).compileWithReport(
            options.params ?? {},
            options.compile,
          )
        : (source as Exclude<AnyWorkflow, { parseParams: unknown }>).compileWithReport(
            options.compile,
          );
    return {
      prompt: report.prompt as Record<string, unknown>,
      ...(typeof wf.name === "string" ? { name: wf.name } : {}),
      expectedOutputs: [...report.outputs],
    };
  }
  const report = source as Partial<CompileReport> | null;
  if (
    typeof report?.prompt === "object" &&
    report.prompt !== null &&
    report.sources instanceof Map &&
    Array.isArray(report.outputs)
  )
    return {
      prompt: report.prompt as Record<string, unknown>,
      expectedOutputs: [...report.outputs],
    };
  if (source === null || typeof source !== "object" || Array.isArray(source))
    throw new ComfycError(
      "WORKFLOW_INVALID",
      "Expected a workflow or an API-format prompt object",
      'Pass defineWorkflow(…)/workflow() or a prompt such as { "3": { class_type, inputs } }.',
    );
  return { prompt: source as Record<string, unknown> };
}
