import { openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { ioError, isComfycError } from "../errors.js";
import { convertWorkflow } from "../import/convert.js";
import {
  readWorkflowSource,
  type ReadWorkflowOptions,
  type WorkflowSource,
} from "../import/detect.js";
import { formatProblem, invalidWorkflow, type ImportProblem } from "../import/errors.js";
import { seededRandom, type QueueTimeOptions } from "../import/queue-time.js";
import type { Command } from "commander";
import type { NodeSchema } from "../schema/ir.js";
import type { CliIo } from "./io.js";
import { integerOption } from "./options.js";

/**
 * Reads a workflow file of any kind the importer understands (UI or API JSON, an image, audio
 * or video ComfyUI saved), deciding the format from its content, and prints the file's warnings
 * (a PNG or WebP cut short) to stderr. Media files are read through `fs.openAsBlob`: only their
 * chunk headers and metadata, never the whole file. Typed errors: `IO_ERROR` for an unreadable
 * file, `WORKFLOW_INVALID` for everything about its content. `options.apiPrompt: "server"` takes
 * any JSON object of objects as an API prompt (for commands whose validator or server judges it).
 */
export async function readWorkflowFile(
  file: string,
  io: CliIo,
  options: ReadWorkflowOptions = {},
): Promise<WorkflowSource> {
  let blob: Blob;
  try {
    const info = await stat(file);
    if (info.isDirectory()) {
      throw invalidWorkflow(
        "not_a_file",
        `${file} is a directory, not a workflow file`,
        "Pass one workflow file: a .json, or an image or video ComfyUI saved.",
      );
    }
    // No size limit for media: only their metadata is read. JSON over 32 MiB is refused by
    // readWorkflowSource before it is read.
    blob = await openAsBlob(file);
  } catch (cause) {
    if (isComfycError(cause)) throw cause;
    throw ioError(file, cause);
  }
  let source: WorkflowSource;
  try {
    source = await readWorkflowSource(blob, file, options);
  } catch (cause) {
    // A Blob read fails (NotReadableError) when the file changes or goes away meanwhile.
    if (isComfycError(cause)) throw cause;
    throw ioError(file, cause);
  }
  printWarnings(io, source.warnings ?? []);
  return source;
}

/** Prints conversion warnings, one line each, to stderr. */
export function printWarnings(io: CliIo, warnings: readonly ImportProblem[]): void {
  for (const w of warnings) io.warn(`warning: ${formatProblem(w)}`);
}

/**
 * The API prompt in a workflow file: as is for an API prompt; converted with `schema` (the
 * target server's own, or a saved one) for an editor workflow or an image, with one line on
 * stderr saying so. `options` as for {@link readWorkflowFile}.
 */
export async function promptFromWorkflowFile(
  file: string,
  schema: () => Promise<{ schema: NodeSchema; label: string }>,
  io: CliIo,
  options: ReadWorkflowOptions = {},
): Promise<Record<string, unknown>> {
  return (await promptAndBodyFromWorkflowFile(file, schema, io, options)).prompt;
}

/**
 * {@link promptFromWorkflowFile}, with the other fields of the `POST /prompt` body the prompt was
 * saved in (`partial_execution_targets`, …) when the file is such a body.
 */
export async function promptAndBodyFromWorkflowFile(
  file: string,
  schema: () => Promise<{ schema: NodeSchema; label: string }>,
  io: CliIo,
  options: ReadWorkflowOptions = {},
): Promise<{ prompt: Record<string, unknown>; body?: Readonly<Record<string, unknown>> }> {
  const source = await readWorkflowFile(file, io, options);
  if (source.format === "api")
    return { prompt: source.prompt, ...(source.body ? { body: source.body } : {}) };
  const { schema: nodeSchema, label } = await schema();
  const { prompt, warnings } = convertWorkflow(source.workflow, nodeSchema);
  io.info(
    `Converted the editor workflow in ${file}${source.container === "json" ? "" : ` (${source.container.toUpperCase()} metadata)`} to an API prompt of ${Object.keys(prompt).length} nodes with ${label}${warnings.length ? ` (${warnings.length} warning(s))` : ""}.`,
  );
  printWarnings(io, warnings);
  return { prompt };
}

/** Flags of the editor's queue-time behaviour (`--dynamic-prompts`, …), shared by convert and import. */
export interface QueueTimeFlags {
  dynamicPrompts?: boolean;
  placeholders?: boolean;
  controlModes?: boolean;
  randomSeed?: number;
}

/** Adds the queue-time flags to a command. */
export function addQueueTimeFlags(command: Command): Command {
  return command
    .option(
      "--dynamic-prompts",
      "process {a|b} choices and comments in dynamic-prompt text, as the editor does at queue time",
    )
    .option(
      "--placeholders",
      "replace %date:…% and %Node.widget% in save nodes' filename_prefix (and marked primitives)",
    )
    .option(
      "--control-modes",
      "apply each control_after_generate mode once (increment, decrement, randomize): the next run's values",
    )
    .option(
      "--random-seed <n>",
      "seed the random choices of --dynamic-prompts and --control-modes (a whole number)",
      integerOption("--random-seed", { example: 42 }),
    );
}

/** The conversion options the queue-time flags ask for; one random source serves both. */
export function queueTimeOptions(flags: QueueTimeFlags): QueueTimeOptions {
  const random = flags.randomSeed === undefined ? Math.random : seededRandom(flags.randomSeed);
  return {
    ...(flags.dynamicPrompts ? { dynamicPrompts: { random } } : {}),
    ...(flags.placeholders ? { filenamePlaceholders: true } : {}),
    ...(flags.controlModes ? { controlModes: { random } } : {}),
  };
}

/**
 * The node ids a `POST /prompt` body's `partial_execution_targets` selects, as ComfyUI's
 * `validate_prompt` tests each output node (`x in partial_execution_list`, execution.py since
 * 0.3.64): `undefined` when the field is absent or null (every output runs); from a list the ids
 * equal to one of its strings (a number never equals a str id); from a string the ids it contains;
 * from an object its keys. A number or bool is not iterable: the server answers 500, so the file is
 * refused (`WORKFLOW_INVALID`, exit 3).
 */
export function partialTargets(
  body: Readonly<Record<string, unknown>> | undefined,
  prompt: Record<string, unknown>,
  file: string,
): string[] | undefined {
  const value = body?.["partial_execution_targets"];
  if (value === undefined || value === null) return undefined;
  const ids = Object.keys(prompt);
  if (Array.isArray(value)) return ids.filter((id) => value.includes(id));
  if (typeof value === "string") return ids.filter((id) => value.includes(id));
  if (typeof value === "object") return ids.filter((id) => Object.hasOwn(value, id));
  throw invalidWorkflow(
    "not_a_workflow",
    `${file}: partial_execution_targets is ${JSON.stringify(value)}, not a list of node ids (ComfyUI answers 500 for it)`,
    'Write the output node ids as a list of strings, e.g. "partial_execution_targets": ["9"].',
  );
}
