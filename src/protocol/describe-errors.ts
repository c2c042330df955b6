import { formatLimit } from "./integers.js";
import { writtenAsFloat } from "./json.js";
import type { ErrorObj, NodeErrors } from "./prompt.js";

/** What a reader needs to find a node: its title and where it was created. */
export interface NodeContext {
  readonly title?: string;
  /** `file:line:column` where the node was created in the user's code. */
  readonly source?: string;
  /**
   * The node's own links as sent ({@link promptLinks}): ComfyUI files a link to a missing node
   * or output under the node that holds it, but its `input_name` names the downstream caller's
   * input, so the readable text finds the bad link here.
   */
  readonly links?: readonly LinkContext[];
}

/** One link input of a prompt node, with what is known about its source. */
export interface LinkContext {
  /** The input that holds the link. */
  readonly input: string;
  /** The source node id, as sent. */
  readonly from: unknown;
  /** The output index, as sent. */
  readonly index: unknown;
  /**
   * The index is an integral number written as a float (`0.0`; `writtenAsFloat`), which
   * ComfyUI refuses as an index (`TypeError`).
   */
  readonly indexIsFloat?: true;
  /** The source node's class, when it is in the prompt. */
  readonly sourceClass?: string;
  /** The source class's output types, when the schema knows the class. */
  readonly sourceOutputs?: readonly string[];
}

/**
 * The link inputs of node `nodeId` of `prompt`, for {@link NodeContext.links}.
 *
 * @param outputsOf the output types of a class (from the schema), when known.
 */
export function promptLinks(
  prompt: Readonly<Record<string, unknown>>,
  nodeId: string,
  outputsOf: (classType: string) => readonly string[] | undefined = () => undefined,
): LinkContext[] {
  const node = prompt[nodeId] as { inputs?: unknown } | undefined;
  const inputs = node?.inputs;
  if (inputs === null || typeof inputs !== "object") return [];
  const out: LinkContext[] = [];
  for (const [input, value] of Object.entries(inputs as Record<string, unknown>)) {
    if (!Array.isArray(value) || value.length !== 2) continue;
    const [from, index] = value as [unknown, unknown];
    const source =
      typeof from === "string" && Object.hasOwn(prompt, from)
        ? (prompt[from] as { class_type?: unknown } | undefined)
        : undefined;
    const sourceClass = typeof source?.class_type === "string" ? source.class_type : undefined;
    const sourceOutputs = sourceClass ? outputsOf(sourceClass) : undefined;
    out.push({
      input,
      from,
      index,
      ...(typeof index === "number" && writtenAsFloat(value, 1) ? { indexIsFloat: true } : {}),
      ...(sourceClass ? { sourceClass } : {}),
      ...(sourceOutputs ? { sourceOutputs } : {}),
    });
  }
  return out;
}

/** A link's index is not an output of its source (Python: IndexError or TypeError). */
function outOfRange(l: LinkContext): boolean {
  if (!l.sourceOutputs) return false;
  if (l.indexIsFloat) return true;
  const n = l.sourceOutputs.length;
  return !(
    typeof l.index === "number" &&
    Number.isInteger(l.index) &&
    l.index < n &&
    l.index >= -n
  );
}

function describeLinkFault(e: ErrorObj, ctx: NodeContext | undefined): string | undefined {
  const type = e.extra_info["exception_type"];
  const links = ctx?.links ?? [];
  if (type === "KeyError") {
    const bad = links.filter((l) => typeof l.from !== "string" || l.sourceClass === undefined);
    const l = bad.find((b) => pyKeyRepr(b.from) === e.details) ?? bad[0];
    if (l)
      return `input ${l.input} links to node ${show(l.from)} (${show([l.from, l.index])}), which is not in the prompt`;
    // execution.py validate_inputs reads prompt[unique_id]['inputs'] first: the node has none.
    if (e.details === "'inputs'") return "this node has no inputs object";
    return `a link of this node names node ${e.details}, which is not in the prompt`;
  }
  if (type === "IndexError" || type === "TypeError") {
    const l = links.find(outOfRange);
    if (l) {
      const outputs = l.sourceOutputs!;
      if (l.indexIsFloat) {
        const index = l.index as number;
        const int = Object.is(index, -0) ? "-0" : String(index);
        const written = Number.isSafeInteger(index) ? `${int}.0` : int;
        return `input ${l.input} links to output ${written} of node ${show(l.from)} (${l.sourceClass}): an output index must be written as an integer (${int}, not ${written})`;
      }
      const listed = outputs.map((t, i) => `${i}: ${t}`).join(", ");
      return `input ${l.input} links to output ${show(l.index)} of node ${show(l.from)} (${l.sourceClass}), which has ${outputs.length === 0 ? "no outputs" : `${outputs.length} output(s) (${listed})`}`;
    }
    const candidates = links.map((c) => `${c.input} ${show([c.from, c.index])}`).join(", ");
    return `a link of this node names an output its source does not have${candidates ? ` (links: ${candidates})` : ""}`;
  }
  return undefined;
}

/** Python's `str(KeyError(k))`: the key's repr, as ComfyUI puts it in `details`. */
function pyKeyRepr(key: unknown): string {
  return typeof key === "string" ? `'${key}'` : String(key);
}

/**
 * ComfyUI's own text for an error, as its frontend and `prompt_outputs_failed_validation`
 * show it (`"<message>: <details>"`), so users can search for what they see in ComfyUI.
 */
export function comfyuiText(e: ErrorObj): string {
  return e.details ? `${e.message}: ${e.details}` : e.message;
}

const MAX_LISTED = 10;

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return value.toString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function optionsOf(e: ErrorObj): Record<string, unknown> {
  const config = e.extra_info["input_config"];
  if (Array.isArray(config) && config[1] !== null && typeof config[1] === "object")
    return config[1] as Record<string, unknown>;
  return {};
}

function range(e: ErrorObj): string {
  const o = optionsOf(e);
  const min = o["min"];
  const max = o["max"];
  if (min === undefined && max === undefined) return "";
  const limit = (v: unknown, none: string) =>
    typeof v === "number" || typeof v === "bigint"
      ? formatLimit(v)
      : v === undefined
        ? none
        : show(v);
  return ` (allowed ${limit(min, "−∞")} … ${limit(max, "∞")})`;
}

/**
 * One ComfyUI error as a sentence about the input it concerns. `ctx` (the node's title, source
 * and links) lets a bad link be named precisely.
 */
export function describeError(e: ErrorObj, ctx?: NodeContext): string {
  const input =
    typeof e.extra_info["input_name"] === "string" ? e.extra_info["input_name"] : undefined;
  const at = input ? `input ${input}: ` : "";
  const received = e.extra_info["received_value"];
  switch (e.type) {
    case "required_input_missing":
      return `input ${e.details} is required but missing`;
    case "value_smaller_than_min":
    case "value_bigger_than_max":
      return `${at}${show(received)} is ${e.type === "value_smaller_than_min" ? "below the minimum" : "above the maximum"}${range(e)}`;
    case "value_not_in_list": {
      const config = e.extra_info["input_config"];
      const list =
        Array.isArray(config) && Array.isArray(config[0])
          ? (config[0] as unknown[])
          : Array.isArray(optionsOf(e)["options"])
            ? (optionsOf(e)["options"] as unknown[])
            : undefined;
      if (!list) {
        const m = /\(list of length (\d+)\)/.exec(e.details);
        return `${at}${show(received)} is not one of the ${m ? `${m[1]} ` : ""}values the server lists`;
      }
      if (list.length === 0)
        return `${at}${show(received)} is not available: the server lists no values for this input`;
      const shown = list.slice(0, MAX_LISTED).map(show).join(", ");
      return `${at}${show(received)} is not one of ${list.length} options: ${shown}${list.length > MAX_LISTED ? ", …" : ""}`;
    }
    case "return_type_mismatch":
      return `${at}the linked output ${show(e.extra_info["linked_node"])} is ${show(e.extra_info["received_type"])}, which does not fit ${show((e.extra_info["input_config"] as unknown[] | undefined)?.[0])}`;
    case "invalid_input_type":
      return `${at}${show(received)} ${e.message.replace(/^Failed to convert an input value to a /, "cannot be converted to ")} (${String(e.extra_info["exception_message"] ?? "")})`;
    case "bad_linked_input":
      return `${at}${show(received)} is a list but not a [node_id, output_index] link; wrap list values as {"__value__": [...]}`;
    case "exception_during_inner_validation":
    case "exception_during_validation": {
      // extra_info.input_name names the downstream caller's input, not this node's: the bad
      // link is one of this node's own (execution.py validate_inputs).
      const fault = describeLinkFault(e, ctx);
      if (fault) return fault;
      return `${e.message}: ${String(e.extra_info["exception_type"] ?? "")} ${e.details}`.trim();
    }
    case "custom_validation_failed":
      return `the node's own check failed: ${e.details}`;
    case "dependency_cycle":
      return `is part of a cycle: ${e.details}`;
    default:
      return `${e.message}${e.details ? `: ${e.details}` : ""}`;
  }
}

/**
 * A readable, multi-line description of a `/prompt` rejection: one line per error, naming the
 * node id, class, title, input, the bad value and the allowed range or options, and where the
 * node was created when `context` knows it.
 */
export function describeNodeErrors(
  body: { error?: ErrorObj | string; node_errors?: NodeErrors },
  context: (nodeId: string) => NodeContext | undefined = () => undefined,
): string {
  const lines: string[] = [];
  for (const [id, nodeError] of Object.entries(body.node_errors ?? {})) {
    const ctx = context(id);
    const label = [
      nodeError.class_type,
      ctx?.title && ctx.title !== nodeError.class_type ? JSON.stringify(ctx.title) : undefined,
      ctx?.source ? `at ${ctx.source}` : undefined,
    ]
      .filter(Boolean)
      .join(" ");
    for (const e of nodeError.errors)
      lines.push(
        `Node "${id}" (${label}): ${describeError(e, ctx)} [ComfyUI: ${JSON.stringify(comfyuiText(e))}]`,
      );
  }
  if (lines.length === 0 && body.error) {
    const e = body.error;
    lines.push(typeof e === "string" ? e : `${e.message}${e.details ? `: ${e.details}` : ""}`);
  }
  return lines.join("\n");
}

/**
 * The one piece of advice for a `node_errors` rejection, whether it comes from the builder,
 * `comfyc validate` or a server: missing classes need the custom node or a fresh codegen, combo
 * values drift with the server's files, everything else is an input to fix.
 */
export function nodeErrorsHint(
  error: ErrorObj | string | undefined,
  nodeErrors: NodeErrors,
): string {
  const type = typeof error === "string" ? undefined : error?.type;
  // A node without class_type: 0.3.64's "…missing the class_type property." (invalid_prompt),
  // 0.12.0+'s "Node 'ID #1' has no class_type…" (missing_node_type, class_type null).
  if (
    typeof error === "object" &&
    (type === "missing_node_type" || type === "invalid_prompt") &&
    /no class_type|missing the class_type/.test(error.message)
  )
    return `Give the node named in the details a class_type (its node class, such as "KSampler"), or export the prompt again from the editor (Export (API)).`;
  if (type === "missing_node_type" || type === "invalid_prompt")
    return "Install the missing custom node on the server, or regenerate with `comfyc codegen --url <server>` against it.";
  if (type === "prompt_no_outputs") return "Add an output node such as SaveImage or PreviewImage.";
  const types = new Set(Object.values(nodeErrors).flatMap((n) => n.errors.map((e) => e.type)));
  if (types.has("value_not_in_list"))
    return "Use a value the server lists; if its files changed, rerun `comfyc codegen --url <server>` (or use --loose-combos).";
  return "Fix the inputs named above.";
}

/**
 * The message of a rejected prompt, the same for every path: a headline (`The prompt fails
 * offline validation`, `http://… rejected the prompt`), the output nodes a partial acceptance
 * drops, then one indented line per error from {@link describeNodeErrors}.
 */
export function formatRejection(
  headline: string,
  body: { error?: ErrorObj | string; node_errors?: NodeErrors },
  options: {
    context?: (nodeId: string) => NodeContext | undefined;
    /** ComfyUI accepts the prompt but drops these output nodes (a 200 with node_errors). */
    dropped?: readonly string[];
  } = {},
): string {
  const lines = describeNodeErrors(body, options.context)
    .split("\n")
    .map((l) => `  ${l}`);
  const dropped = options.dropped?.length
    ? [`  (accepted, but output node(s) ${options.dropped.join(", ")} would be dropped)`]
    : [];
  return [`${headline}:`, ...dropped, ...lines].join("\n");
}
