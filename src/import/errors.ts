import { ComfycError } from "../errors.js";

/** Where in a workflow a problem is: the node's id (execution id inside subgraphs), title, class. */
export interface NodeLocation {
  /** The node's id as the prompt would key it: `"3"`, `"10:6"` inside subgraph instance 10. */
  readonly nodeId?: string;
  readonly title?: string;
  readonly classType?: string;
}

/** One problem found while reading or converting a workflow. */
export interface ImportProblem extends NodeLocation {
  /** Stable machine-readable kind, for example `"dangling_link"` or `"unknown_class"`. */
  readonly kind: string;
  /** What is wrong, in a sentence. */
  readonly message: string;
}

/** A human line for a problem: `node 12 "Load image" (LoadImage): message`. */
export function formatProblem(p: ImportProblem): string {
  const parts: string[] = [];
  if (p.nodeId !== undefined) parts.push(`node ${p.nodeId}`);
  if (p.title) parts.push(JSON.stringify(p.title));
  if (p.classType) parts.push(`(${p.classType})`);
  return parts.length ? `${parts.join(" ")}: ${p.message}` : p.message;
}

/**
 * A workflow file or document that cannot be read or converted: every problem is listed, each
 * with the node id, title and class where it applies. Code `WORKFLOW_INVALID` (CLI exit 3).
 */
export class WorkflowImportError extends ComfycError {
  constructor(
    readonly problems: readonly ImportProblem[],
    hint: string,
    options?: ErrorOptions,
  ) {
    super(
      "WORKFLOW_INVALID",
      problems.length === 1
        ? formatProblem(problems[0]!)
        : `${problems.length} problems:\n${problems.map((p) => `  - ${formatProblem(p)}`).join("\n")}`,
      hint,
      options,
    );
  }
}

/** A {@link WorkflowImportError} with one problem that concerns no node. */
export function invalidWorkflow(
  kind: string,
  message: string,
  hint: string,
  options?: ErrorOptions,
): WorkflowImportError {
  return new WorkflowImportError([{ kind, message }], hint, options);
}

/**
 * Runs `work`, turning a JavaScript stack overflow (a document nested deeper than any real
 * workflow: subgraphs inside subgraphs, values inside values) into a typed error.
 */
export function guardDepth<T>(work: () => T): T {
  try {
    return work();
  } catch (cause) {
    if (cause instanceof RangeError && /call stack/i.test(cause.message)) {
      throw invalidWorkflow(
        "too_deep",
        "the workflow is nested deeper than can be followed (subgraphs, links or values thousands of levels deep)",
        "Real workflows nest a few levels; check where the file came from, or re-export it from the editor.",
        { cause },
      );
    }
    throw cause;
  }
}
