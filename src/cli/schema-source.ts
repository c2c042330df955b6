import { loadObjectInfo, parseHeaders } from "../codegen/source.js";
import { ComfycError } from "../errors.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";

/** `--schema <file>` or `--url <server>` (with `--header`s): exactly one. */
export interface SchemaFlags {
  readonly schema?: string;
  readonly url?: string;
  readonly header: readonly string[];
}

/** Loads and normalizes the schema the flags name; `USAGE` unless exactly one is given. */
export async function schemaFromFlags(
  command: string,
  flags: SchemaFlags,
): Promise<{ schema: NodeSchema; label: string }> {
  if (!!flags.schema === !!flags.url) {
    throw new ComfycError(
      "USAGE",
      `comfyc ${command} needs exactly one of --schema <object_info.json> or --url <server>`,
      "The node definitions name the widget values; use the server the workflow will run on.",
    );
  }
  const { raw, label } = await loadObjectInfo(
    flags.schema
      ? { file: flags.schema }
      : { url: flags.url!, headers: parseHeaders(flags.header) },
  );
  return {
    schema: normalizeObjectInfo(raw, label),
    label,
  };
}
