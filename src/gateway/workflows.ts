import { z } from "zod";
import {
  ParameterizedWorkflow,
  isPlainWorkflow,
  type AnyWorkflow,
} from "../builder/define-workflow.js";
import { ComfycError } from "../errors.js";

/** Names a workflow can be served under: they become a URL segment. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** One workflow the gateway serves as `POST /v1/workflows/{name}/jobs`. */
export interface WorkflowEndpoint {
  readonly name: string;
  readonly description: string | undefined;
  /** The parameters' zod schema (an empty strict object for a workflow without parameters). */
  readonly params: z.ZodObject;
  /** The parameters as JSON Schema (draft 2020-12, input side: defaults are optional). */
  readonly paramsJsonSchema: Record<string, unknown>;
  /** The workflow itself (the queue compiles it with the raw parameters). */
  readonly workflow: AnyWorkflow;
}

/** A workflow to serve, with the name to serve it under when the workflow has none. */
export interface WorkflowSource {
  readonly workflow: AnyWorkflow;
  /** Used when the workflow defines no `name` (the CLI passes the file's base name). */
  readonly fallbackName?: string;
  /** Where it came from, for error messages (a file path). */
  readonly origin?: string;
}

const EMPTY_PARAMS = z.object({}).strict();

/**
 * Turns workflows into endpoints. Throws `USAGE` for a name that cannot be a URL segment or
 * that two workflows share.
 */
export function workflowEndpoints(sources: readonly WorkflowSource[]): WorkflowEndpoint[] {
  const byName = new Map<string, WorkflowEndpoint & { origin?: string }>();
  for (const source of sources) {
    const wf = source.workflow;
    const name = wf.name ?? source.fallbackName;
    const where = source.origin ? ` (${source.origin})` : "";
    if (!name || !NAME.test(name)) {
      throw new ComfycError(
        "USAGE",
        `Workflow name ${JSON.stringify(name ?? "")}${where} cannot be served: names are 1–64 letters, digits, '.', '_' or '-'`,
        "Give the workflow a `name` in defineWorkflow({ name, params }) or rename the file.",
      );
    }
    const previous = byName.get(name);
    if (previous) {
      throw new ComfycError(
        "USAGE",
        `Two workflows are named ${JSON.stringify(name)}${where}${previous.origin ? ` and (${previous.origin})` : ""}`,
        "Each served workflow needs its own name.",
      );
    }
    const endpoint = isPlainWorkflow(wf) ? plainEndpoint(name, wf) : paramsEndpoint(name, wf);
    byName.set(name, { ...endpoint, ...(source.origin ? { origin: source.origin } : {}) });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function paramsEndpoint(name: string, wf: ParameterizedWorkflow<z.ZodObject>): WorkflowEndpoint {
  return {
    name,
    description: wf.description,
    params: wf.params,
    paramsJsonSchema: z.toJSONSchema(wf.params, {
      io: "input",
      unrepresentable: "any",
    }) as Record<string, unknown>,
    workflow: wf,
  };
}

function plainEndpoint(
  name: string,
  wf: Exclude<AnyWorkflow, ParameterizedWorkflow<z.ZodObject>>,
): WorkflowEndpoint {
  return {
    name,
    description: undefined,
    params: EMPTY_PARAMS,
    paramsJsonSchema: z.toJSONSchema(EMPTY_PARAMS, { io: "input" }) as Record<string, unknown>,
    workflow: wf,
  };
}
