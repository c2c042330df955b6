import type { Command } from "commander";
import { serializePrompt } from "../builder/serialize.js";
import { convertWorkflow } from "../import/convert.js";
import { writeOutputFile } from "./files.js";
import type { CliIo } from "./io.js";
import { collect, serverUrlOption } from "./options.js";
import { schemaFromFlags, type SchemaFlags } from "./schema-source.js";
import {
  addQueueTimeFlags,
  printWarnings,
  queueTimeOptions,
  readWorkflowFile,
  type QueueTimeFlags,
} from "./workflow-input.js";

interface ConvertFlags extends SchemaFlags, QueueTimeFlags {
  out?: string;
  strict?: boolean;
  keepSubgraphIds?: boolean;
}

/** `comfyc convert <workflow>`: an editor workflow (or image) → the API prompt the editor queues. */
export function registerConvert(program: Command, io: CliIo): void {
  const command = program
    .command("convert")
    .description(
      "Convert an editor workflow (UI JSON or an image/video with metadata) to an API prompt",
    )
    .argument(
      "<file>",
      "a UI or API workflow .json, or a PNG/WebP/FLAC/MP3/Opus/MP4/WebM ComfyUI saved",
    )
    .option("--schema <object_info.json>", "name widget values with a saved /object_info")
    .option(
      "--url <server>",
      "name widget values with a server's /object_info",
      serverUrlOption("--url"),
    )
    .option(
      "--header <header>",
      'extra HTTP header "Name: value" for --url (repeatable)',
      collect,
      [],
    )
    .option("--out <prompt.json>", "write the prompt here instead of printing it")
    .option("--strict", "fail on any warning (unknown classes, defaulted or surplus values, …)")
    .option(
      "--keep-subgraph-ids",
      "keep inner node ids as in the file (the editor renumbers clashing ones)",
    );
  addQueueTimeFlags(command).action(async (file: string, flags: ConvertFlags) => {
    const source = await readWorkflowFile(file, io);
    let prompt: Record<string, unknown>;
    if (source.format === "api") {
      prompt = source.prompt;
      io.info(
        `${file} already holds an API prompt (${Object.keys(prompt).length} nodes); written unchanged.`,
      );
    } else {
      const { schema, label } = await schemaFromFlags("convert", flags);
      const result = convertWorkflow(source.workflow, schema, {
        ...(flags.strict ? { strict: true } : {}),
        ...(flags.keepSubgraphIds ? { renumberSubgraphIds: false } : {}),
        ...queueTimeOptions(flags),
      });
      prompt = result.prompt;
      printWarnings(io, result.warnings);
      io.info(
        `Converted ${file} (${source.container === "json" ? `UI ${source.version}` : `${source.container.toUpperCase()} metadata`}) with ${label}: ${Object.keys(prompt).length} nodes, ${result.warnings.length} warning(s).`,
      );
    }
    const json = `${serializePrompt(prompt, 2)}\n`;
    if (!flags.out) return io.out(json.trimEnd());
    writeOutputFile(flags.out, json, "--out");
    io.info(`Wrote ${flags.out}`);
  });
}
