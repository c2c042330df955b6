import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { parseHeaders, parseObjectInfo, type ObjectInfoSource } from "../codegen/source.js";
import {
  rememberedSchemaHash,
  rememberSchemaHash,
  sourceTextHash,
} from "../codegen/source-hashes.js";
import { recordedSchemaHash } from "../codegen/up-to-date.js";
import { canonicalHash } from "../schema/canonical-json.js";
import { ComfycError, ioError, isComfycError } from "../errors.js";
import { ensureWritableDir, writeError } from "./files.js";
import type { CliIo } from "./io.js";
import { collect, replyLimitsFromEnv, serverUrlOption } from "./options.js";

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
      // The schema as read, unparsed and hashed: an unchanged re-run goes no further.
      const { textHash, label, parse } = await readSource(source);
      const started = performance.now();
      const options = {
        include: flags.include,
        exclude: flags.exclude,
        looseCombos: flags.looseCombos === true,
      };
      let raw: unknown;
      // Same schema hash, options and comfyc version as the files on disk: nothing to do. The
      // source's own hash, remembered from the last run, answers without parsing the JSON.
      if (!flags.check && !flags.force) {
        const recorded = await recordedSchemaHash(flags.out, options);
        if (recorded !== undefined) {
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
      // The generator (normalizer, printer) loads only when there is work to do.
      const [
        { generateFiles, isGenerationFailure },
        { checkGenerated, formatDriftReport, writeGenerated },
      ] = await Promise.all([import("../codegen/generate.js"), import("../codegen/write.js")]);
      // Files are made one at a time as they are written (or compared), never all held.
      const result = await generateFiles(raw, { ...options, source: label });
      for (const w of result.warnings) io.warn(`warning: ${w.path}: ${w.message}`);
      if (flags.check) {
        const report = await checkGenerated(flags.out, [...result.files], result.classes);
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
      // A failure while making a file is not one of writing it.
      let generationFailure: unknown;
      const files = function* () {
        try {
          yield* result.files;
        } catch (e) {
          generationFailure = e;
          throw e;
        }
      };
      const written = await writeGenerated(flags.out, files()).catch((cause: unknown) => {
        throw isComfycError(cause) || cause === generationFailure || isGenerationFailure(cause)
          ? cause
          : writeError("--out", flags.out, cause);
      });
      await rememberSchemaHash(flags.out, textHash, result.schema.hash);
      const ms = Math.round(performance.now() - started);
      io.info(
        `Generated ${result.classes.length} node classes in ${(written.written.length + written.unchanged.length) / 2 - 1} pack modules into ${flags.out}/ ` +
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
 * The schema's hash as read (`sourceTextHash`), where it came from, and how to parse it
 * (losslessly either way; once: the bytes are let go when parsed). A server is read through the
 * runtime's transport (headers, TLS, retries, typed errors); codegen itself stays pure (schema
 * in, files out).
 */
async function readSource(
  source: CodegenSource,
): Promise<{ textHash: string; label: string; parse: () => Promise<unknown> }> {
  if ("file" in source) {
    let bytes: Buffer | undefined = await readFile(source.file).catch((cause: unknown) => {
      throw ioError(source.file, cause);
    });
    const label = source.file;
    return {
      textHash: sourceTextHash(bytes),
      label,
      parse: async () => {
        // Decoded as `readFile(file, "utf8")` decodes.
        const text = bytes!.toString("utf8");
        bytes = undefined;
        return parseObjectInfo(text, label);
      },
    };
  }
  // The runtime's transport alone, loaded only for servers: an unchanged re-run is mostly
  // start-up, and the whole client (its zod schemas, tracker, socket) would double it. It sends
  // through Node's own HTTP client, not undici: one request, and undici's load and WebAssembly
  // parser cost a cold run a fifth of its time; failures read the same either way.
  const [
    { Http },
    { NodeHttpEngine },
    { objectInfoBytes, replyJsonText, replyText, serverBaseUrl },
  ] = await Promise.all([
    import("../runtime/http.js"),
    import("../runtime/node-http.js"),
    import("../runtime/object-info.js"),
  ]);
  const http = new Http(
    { url: serverBaseUrl(source.url), headers: source.headers, limits: replyLimitsFromEnv() },
    new NodeHttpEngine(),
  );
  const label = http.url("api/object_info").toString();
  try {
    let bytes: Buffer | undefined = await objectInfoBytes(http);
    return {
      textHash: sourceTextHash(bytes),
      label,
      // Decoded and parsed as client.objectInfo() does; its zod schema loads only when needed.
      // Parsed from the text with non-ASCII characters escaped (the same value, faster), and a
      // reply that fails is read again as sent, so its error quotes the server's own text.
      parse: async () => {
        const sent = bytes!;
        bytes = undefined;
        const { readObjectInfoReply } = await import("../runtime/object-info-reply.js");
        try {
          return await readObjectInfoReply(replyJsonText(sent), label);
        } catch {
          return readObjectInfoReply(replyText(sent), label);
        }
      },
    };
  } finally {
    await http.close();
  }
}
