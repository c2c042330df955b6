import type { Command } from "commander";
import {
  parseHeaders,
  parseObjectInfo,
  readObjectInfoText,
  type ObjectInfoSource,
} from "../codegen/source.js";
import {
  rememberedSchemaHash,
  rememberSchemaHash,
  sourceTextHash,
} from "../codegen/source-hashes.js";
import { recordedSchemaHash } from "../codegen/up-to-date.js";
import { canonicalHash } from "../schema/canonical-json.js";
import { ComfycError, isComfycError } from "../errors.js";
import { ensureWritableDir, writeError } from "./files.js";
import type { CliIo } from "./io.js";
import { collect, serverUrlOption } from "./options.js";

interface CodegenFlags {
  url?: string;
  file?: string;
  header: string[];
  out: string;
  include: string[];
  exclude: string[];
  check?: boolean;
  force?: boolean;
  looseCombos?: boolean;
}

/** `comfyc codegen`: typed node modules from a server's or a file's object_info. */
export function registerCodegen(program: Command, io: CliIo): void {
  program
    .command("codegen")
    .description("Generate typed node modules from a ComfyUI server's /object_info or a saved copy")
    .option(
      "--url <server>",
      "ComfyUI server to read /object_info from, e.g. http://127.0.0.1:8188",
      serverUrlOption("--url"),
    )
    .option("--header <header>", 'extra HTTP header "Name: value" (repeatable)', collect, [])
    .option("--file <object_info.json>", "read a saved /object_info instead of a server")
    .option("--out <dir>", "output folder", "generated")
    .option("--include <glob>", "only packs or classes matching (repeatable)", collect, [])
    .option("--exclude <glob>", "leave out packs or classes matching (repeatable)", collect, [])
    .option("--check", "write nothing; exit 1 with a drift report if the files are out of date")
    .option("--loose-combos", "type combos as their options plus any string")
    .option("--force", "regenerate even when the output folder is up to date")
    .action(async (flags: CodegenFlags) => {
      const source = sourceOf(flags);
      // Checked before the schema is fetched and generated, not after.
      if (!flags.check) ensureWritableDir(flags.out, "--out");
      // The text as read, unparsed: an unchanged re-run only hashes it.
      const { text, label, parse } = await readSource(source);
      const started = performance.now();
      const options = {
        include: flags.include,
        exclude: flags.exclude,
        looseCombos: flags.looseCombos === true,
      };
      let raw: unknown;
      // Same schema hash, options and comfyc version as the files on disk: nothing to do. The
      // text's own hash, remembered from the last run, answers without parsing the JSON.
      if (!flags.check && !flags.force) {
        const recorded = await recordedSchemaHash(flags.out, options);
        if (recorded !== undefined) {
          const textHash = sourceTextHash(text);
          let same = (await rememberedSchemaHash(flags.out, textHash)) === recorded;
          if (!same) {
            raw = await parse();
            same = canonicalHash(raw) === recorded;
            if (same) await rememberSchemaHash(flags.out, textHash, recorded);
          }
          if (same) {
            io.info(
              `${flags.out}/ is up to date with ${label} (same schema, options and comfyc version); ` +
                `nothing written in ${Math.round(performance.now() - started)} ms. Pass --force to regenerate.`,
            );
            return;
          }
        }
      }
      raw ??= await parse();
      // The generator (normalizer, zod schemas, printer) loads only when there is work to do.
      const [{ generate }, { checkGenerated, formatDriftReport, writeGenerated }] =
        await Promise.all([import("../codegen/generate.js"), import("../codegen/write.js")]);
      const result = await generate(raw, { ...options, source: label });
      for (const w of result.warnings) io.warn(`warning: ${w.path}: ${w.message}`);
      if (flags.check) {
        const report = await checkGenerated(flags.out, result.files, result.classes);
        if (!report.upToDate) {
          io.error(formatDriftReport(report, flags.out, label));
          throw new ComfycError(
            "CODEGEN_DRIFT",
            `${flags.out} does not match ${label}`,
            `Regenerate with the same command without --check, and commit ${flags.out}.`,
          );
        }
        io.info(formatDriftReport(report, flags.out, label));
        return;
      }
      const written = await writeGenerated(flags.out, result.files).catch((cause: unknown) => {
        throw isComfycError(cause) ? cause : writeError("--out", flags.out, cause);
      });
      await rememberSchemaHash(flags.out, sourceTextHash(text), result.schema.hash);
      const ms = Math.round(performance.now() - started);
      io.info(
        `Generated ${result.classes.length} node classes in ${result.files.length / 2 - 1} pack modules into ${flags.out}/ ` +
          `(${written.written.length} written, ${written.unchanged.length} unchanged, ${written.removed.length} removed) in ${ms} ms.`,
      );
    });
}

/** Where `comfyc codegen` reads the schema: a saved file, or a server with `--header`s. */
type CodegenSource =
  ObjectInfoSource | { readonly url: string; readonly headers: Readonly<Record<string, string>> };

/** `--url` or `--file`: exactly one. */
function sourceOf(flags: CodegenFlags): CodegenSource {
  if (flags.url && flags.file)
    throw new ComfycError(
      "USAGE",
      "Pass either --url or --file, not both",
      "Read the schema from a running server (--url) or from a saved /object_info (--file).",
    );
  if (flags.url) return { url: flags.url, headers: parseHeaders(flags.header) };
  if (flags.file) return { file: flags.file };
  throw new ComfycError(
    "USAGE",
    "comfyc codegen needs --url <server> or --file <object_info.json>",
    "For example: comfyc codegen --url http://127.0.0.1:8188, or comfyc codegen --file data/object_info.json.",
  );
}

/**
 * The schema's text, where it came from, and how to parse it (losslessly either way). A server
 * is read through the runtime client (headers, TLS, retries, typed errors); codegen itself stays
 * pure (schema in, files out).
 */
async function readSource(
  source: CodegenSource,
): Promise<{ text: string; label: string; parse: () => unknown }> {
  if ("file" in source) {
    const { text, label } = await readObjectInfoText(source);
    return { text, label, parse: () => parseObjectInfo(text, label) };
  }
  // The runtime's transport alone, loaded only for servers: an unchanged re-run is mostly
  // start-up, and the whole client (its zod schemas, tracker, socket) would double it.
  const [{ Http }, { objectInfoText, serverBaseUrl }] = await Promise.all([
    import("../runtime/http.js"),
    import("../runtime/object-info.js"),
  ]);
  const http = new Http({ url: serverBaseUrl(source.url), headers: source.headers });
  const label = http.url("api/object_info").toString();
  try {
    const text = await objectInfoText(http);
    return {
      text,
      label,
      // Parsed as client.objectInfo() parses it; its zod schema loads only when needed.
      parse: async () => (await import("../runtime/routes.js")).parseObjectInfoReply(text, label),
    };
  } finally {
    await http.close();
  }
}
