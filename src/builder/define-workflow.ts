import { z } from "zod";
import { ComfycError } from "../errors.js";
import { ParamsInvalidError } from "./errors.js";
import type { ApiPrompt, CompileReport } from "./types.js";
import { Workflow, WORKFLOW_BRAND, type CompileOptions } from "./workflow.js";

/** Settings of {@link defineWorkflow}. */
export interface WorkflowDefinition<S extends z.ZodObject> {
  /** A short name: reports, output folders, the endpoint a service exposes. */
  readonly name?: string;
  readonly description?: string;
  /** The parameters, as a zod object schema: types, defaults, ranges, descriptions. */
  readonly params: S;
}

/**
 * A workflow whose graph depends on typed parameters. `compile(params)` validates them (every
 * bad parameter is reported at once), builds the graph and compiles it.
 *
 * @example
 * export default defineWorkflow(
 *   { name: "txt2img", params: z.object({ prompt: z.string(), steps: z.number().int().default(20) }) },
 *   (wf, { prompt, steps }) => { … },
 * );
 */
export class ParameterizedWorkflow<S extends z.ZodObject> {
  /** @internal The cross-copy brand checked by {@link isWorkflow}. */
  readonly [WORKFLOW_BRAND] = "parameterized";
  readonly name: string | undefined;
  readonly description: string | undefined;
  readonly params: S;
  readonly #build: (wf: Workflow, params: z.output<S>) => void;

  constructor(
    definition: WorkflowDefinition<S>,
    build: (wf: Workflow, params: z.output<S>) => void,
  ) {
    this.name = definition.name;
    this.description = definition.description;
    this.params = definition.params;
    this.#build = build;
  }

  /** Checks raw parameters and applies defaults; throws {@link ParamsInvalidError}. */
  parseParams(raw: unknown): z.output<S> {
    const result = this.params.safeParse(raw ?? {});
    if (!result.success) {
      throw new ParamsInvalidError(
        result.error.issues.map((i) => ({
          path: i.path.map(String).join("."),
          message: i.message,
        })),
      );
    }
    return result.data;
  }

  /** The graph for these parameters. */
  build(params: z.input<S>): Workflow {
    const parsed = this.parseParams(params);
    const wf = new Workflow(this.name ? { name: this.name } : {});
    this.#build(wf, parsed);
    return wf;
  }

  /** Validates `params`, builds the graph and compiles it (see {@link Workflow.compile}). */
  compile(params: z.input<S>, options?: CompileOptions): ApiPrompt {
    return this.build(params).compile(options);
  }

  /** Like {@link ParameterizedWorkflow.compile}, with the compile report. */
  compileWithReport(params: z.input<S>, options?: CompileOptions): CompileReport {
    return this.build(params).compileWithReport(options);
  }

  /** The parameters as JSON Schema, for services exposing the workflow as an endpoint. */
  paramsJsonSchema(): Record<string, unknown> {
    return z.toJSONSchema(this.params, { io: "input" }) as Record<string, unknown>;
  }
}

/**
 * Defines a {@link ParameterizedWorkflow}: `definition.params` is a zod object schema (zod is a
 * peer dependency of comfyc, so the project's `import { z } from "zod"` and comfyc use one copy),
 * `build(wf, params)` adds the nodes for validated parameters.
 *
 * @throws ComfycError `USAGE` when `params` is not a zod object or `build` is not a function.
 */
export function defineWorkflow<S extends z.ZodObject>(
  definition: WorkflowDefinition<S>,
  build: (wf: Workflow, params: z.output<S>) => void,
): ParameterizedWorkflow<S> {
  if (!(definition?.params instanceof z.ZodObject)) {
    throw new ComfycError(
      "USAGE",
      "defineWorkflow needs `params`, a zod object schema",
      "Write defineWorkflow({ params: z.object({ … }) }, (wf, params) => { … }).",
    );
  }
  if (typeof build !== "function") {
    throw new ComfycError(
      "USAGE",
      "defineWorkflow needs a build function as its second argument",
      "Write defineWorkflow({ params: z.object({ … }) }, (wf, params) => { … }).",
    );
  }
  return new ParameterizedWorkflow(definition, build);
}

/** Anything a workflow file may default-export. */
export type AnyWorkflow = Workflow | ParameterizedWorkflow<z.ZodObject>;

/**
 * True for a {@link Workflow} or {@link ParameterizedWorkflow}, from this or another copy of
 * comfyc (a `Symbol.for` brand, not `instanceof`: a workflow file may import its own copy).
 */
export function isWorkflow(value: unknown): value is AnyWorkflow {
  const brand =
    typeof value === "object" && value !== null
      ? (value as { [WORKFLOW_BRAND]?: unknown })[WORKFLOW_BRAND]
      : undefined;
  return brand === "plain" || brand === "parameterized";
}

/** True for a workflow without parameters. */
export function isPlainWorkflow(value: AnyWorkflow): value is Workflow {
  return (value as { [WORKFLOW_BRAND]?: unknown })[WORKFLOW_BRAND] === "plain";
}
