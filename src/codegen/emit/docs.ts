import type { InputIR, NodeClassIR, OutputIR } from "../../schema/ir.js";
import { formatInteger, formatLimit } from "../../protocol/integers.js";
import { docCode, docText } from "./text.js";

const MAX_LISTED_OPTIONS = 12;

function formatDefault(value: unknown): string {
  return docCode(typeof value === "string" ? JSON.stringify(value) : String(value));
}

/** TSDoc for one input: tooltip, label, default, range, options and flags. */
export function inputDoc(input: InputIR): string | undefined {
  const lines: string[] = [];
  if (input.tooltip) lines.push(docText(input.tooltip));
  const facts: string[] = [];
  if (input.displayName && input.displayName !== input.name) {
    facts.push(`Label: ${docText(input.displayName)}.`);
  }
  switch (input.kind) {
    case "int":
    case "float": {
      const range: string[] = [];
      if (input.min !== undefined) range.push(`min ${formatLimit(input.min)}`);
      if (input.max !== undefined) range.push(`max ${formatLimit(input.max)}`);
      if (input.step !== undefined) range.push(`step ${formatInteger(input.step)}`);
      if (range.length)
        facts.push(`${input.kind === "int" ? "Integer" : "Number"}, ${range.join(", ")}.`);
      break;
    }
    case "string":
      if (input.multiline) facts.push("Multiline text.");
      if (input.placeholder) facts.push(`Placeholder: ${docText(input.placeholder)}.`);
      break;
    case "boolean":
      if (input.labelOn || input.labelOff) {
        facts.push(
          `On: ${docText(input.labelOn ?? "true")}; off: ${docText(input.labelOff ?? "false")}.`,
        );
      }
      break;
    case "combo": {
      if (input.options.length === 0) {
        facts.push(
          input.remote
            ? "Options are listed by the server at run time."
            : "The server listed no options (for example, no model files installed).",
        );
      } else if (input.options.length > MAX_LISTED_OPTIONS) {
        facts.push(`One of ${input.options.length} options.`);
      }
      if (input.upload)
        facts.push(`A file uploaded to the server's input folder (${input.upload}).`);
      if (input.multiselect) facts.push("Several values may be selected.");
      break;
    }
    case "link":
      facts.push(
        input.value
          ? `A ${docCode(input.type)} value${input.default !== undefined ? ` (default ${docCode(JSON.stringify(input.default) ?? "")})` : ""}, or a link.`
          : `Socket ${docCode(input.type)}.`,
      );
      break;
    case "matchtype":
      facts.push(
        `Socket of any of ${docCode(input.allowedTypes.join(","))}; the output takes its type.`,
      );
      break;
    case "dynamic_combo":
      facts.push(
        `Select one of ${input.options.map((o) => docCode(o.key)).join(", ")}; each brings its own inputs.`,
      );
      break;
    case "autogrow":
      facts.push(
        input.prefix !== undefined
          ? `Up to ${input.names.length} entries (sent as ${docCode(`${input.name}.${input.names[0] ?? ""}`)}, …).`
          : `Slots: ${input.names.map(docCode).join(", ")}.`,
      );
      break;
  }
  if (input.forceInput) facts.push("Shown as a socket in the editor.");
  if (input.lazy) facts.push("Evaluated lazily.");
  if (facts.length) lines.push(facts.join(" "));
  if ("default" in input && input.default !== undefined) {
    lines.push(`@defaultValue ${formatDefault(input.default)}`);
  }
  return lines.length ? lines.join("\n\n") : undefined;
}

/** TSDoc for one output property on the handle. */
export function outputDoc(output: OutputIR): string {
  const parts = [
    `Output ${output.index}: ${docCode(output.type)}${output.isList ? " (a list)" : ""}.`,
  ];
  if (output.name !== output.identifier) parts.push(`Named ${docCode(output.name)} on the server.`);
  return output.tooltip ? `${docText(output.tooltip)}\n\n${parts.join(" ")}` : parts.join(" ");
}

/** TSDoc for the node class constant. */
export function classDoc(node: NodeClassIR): string {
  const lines: string[] = [];
  lines.push(
    node.displayName !== node.classType
      ? `${docText(node.displayName)} (${docCode(node.classType)})`
      : docCode(node.classType),
  );
  if (node.description) lines.push(docText(node.description));
  const facts: string[] = [];
  if (node.category) facts.push(`Category: ${docText(node.category)}.`);
  facts.push(
    `Pack: ${docText(node.pack)}${node.pythonModule ? ` (${docCode(node.pythonModule)})` : ""}.`,
  );
  if (node.outputNode) facts.push("Output node: ComfyUI runs the graph from here.");
  if (node.apiNode) facts.push("Partner API node: needs Comfy.org credentials and network access.");
  if (node.priceBadge)
    facts.push(
      `Priced per run by the server (${docText(node.priceBadge.engine)} expression, ${node.priceBadge.expr.length} characters).`,
    );
  if (node.essentialsCategory) facts.push(`Essentials: ${docText(node.essentialsCategory)}.`);
  if (node.searchAliases?.length)
    facts.push(`Also found as: ${node.searchAliases.map((a) => docText(a)).join(", ")}.`);
  if (node.devOnly) facts.push("Dev only: listed only in the editor's developer mode.");
  if (node.outputs.length) {
    facts.push(
      `Outputs: ${node.outputs.map((o) => `${o.identifier} (${docCode(o.type)})`).join(", ")}.`,
    );
  }
  lines.push(facts.join(" "));
  if (node.experimental) lines.push("@experimental");
  if (node.deprecated) lines.push("@deprecated Marked deprecated by the server.");
  return lines.join("\n\n");
}
