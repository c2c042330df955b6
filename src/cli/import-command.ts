import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { importWorkflow } from "../import/to-typescript.js";
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

interface ImportFlags extends SchemaFlags, QueueTimeFlags {
  out?: string;
  generated: string;
  param: string[];
  name?: string;
  strict?: boolean;
  keepSubgraphIds?: boolean;
}

/** `comfyc import <workflow>`: any workflow → typed TypeScript using the generated factories. */
export function registerImport(program: Command, io: CliIo): void {
  const command = program
    .command("import")
    .description(
      "Import a workflow (UI/API JSON or an image/video with metadata) as typed TypeScript",
    )
    .argument(
      "<file>",
      "a UI or API workflow .json, or a PNG/WebP/FLAC/MP3/Opus/MP4/WebM ComfyUI saved",
    )
    .option("--schema <object_info.json>", "the /object_info the generated code was made from")
    .option("--url <server>", "use a server's /object_info", serverUrlOption("--url"))
    .option(
      "--header <header>",
      'extra HTTP header "Name: value" for --url (repeatable)',
      collect,
      [],
    )
    .option("--generated <dir>", "the generated node modules the file imports", "generated")
    .option("--out <file.ts>", "write the module here instead of printing it")
    .option(
      "--param <node.input=name>",
      "lift an input into a typed parameter (repeatable)",
      collect,
      [],
    )
    .option("--name <name>", "the workflow's name")
    .option("--strict", "fail on any conversion warning")
    .option(
      "--keep-subgraph-ids",
      "keep inner node ids as in the file (the editor renumbers clashing ones)",
    );
  addQueueTimeFlags(command).action(async (file: string, flags: ImportFlags) => {
    const source = await readWorkflowFile(file, io);
    const { schema, label } = await schemaFromFlags("import", flags);
    const from = flags.out ? dirname(resolve(flags.out)) : process.cwd();
    let generated = relative(from, resolve(flags.generated)).split("\\").join("/");
    if (!generated.startsWith(".")) generated = `./${generated}`;
    const result = importWorkflow(source, schema, {
      generated,
      sourceName: basename(file),
      params: flags.param,
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.strict ? { strict: true } : {}),
      ...(flags.keepSubgraphIds ? { renumberSubgraphIds: false } : {}),
      ...queueTimeOptions(flags),
    });
    printWarnings(io, result.warnings);
    checkGeneratedDir(flags.generated, schema.hash, result.source, io);
    io.info(
      `Imported ${file} (${source.format === "ui" ? "editor workflow" : "API prompt"}) with ${label}: ${Object.keys(result.prompt).length} nodes${flags.param.length ? `, ${flags.param.length} parameter(s)` : ""}.`,
    );
    if (!flags.out) return io.out(result.source.trimEnd());
    writeOutputFile(flags.out, result.source, "--out");
    io.info(`Wrote ${flags.out}`);
  });
}

/** Warns when the generated modules the file imports are missing or come from another schema. */
function checkGeneratedDir(dir: string, hash: string, source: string, io: CliIo): void {
  const packs = [...source.matchAll(/from "[^"]*\/([^"/]+)\.js";/g)].map((m) => m[1]!);
  const missing = packs.filter((p) => !existsSync(join(dir, `${p}.d.ts`)));
  if (missing.length) {
    io.warn(
      `warning: ${dir} has no ${missing.map((p) => `${p}.d.ts`).join(", ")}; run \`comfyc codegen\` with the same schema into ${dir}.`,
    );
    return;
  }
  try {
    const index = readFileSync(join(dir, "index.d.ts"), "utf8").slice(0, 400);
    if (!index.includes(hash)) {
      io.warn(
        `warning: ${dir} was generated from another object_info than this one; regenerate it with \`comfyc codegen\` if the import does not type-check.`,
      );
    }
  } catch {
    // No index: the per-pack check above is what matters.
  }
}
