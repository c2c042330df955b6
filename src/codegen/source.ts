import { readFile } from "node:fs/promises";
import { ComfycError, ioError } from "../errors.js";
import { parseJsonLossless, type ParseJsonOptions } from "../protocol/json.js";

/**
 * Where to read an object_info from: a saved `/object_info` file. Codegen is pure (schema in,
 * files out); reading a server is the runtime client's job (`client.objectInfo()` or
 * `client.objectInfoText()`, or the CLI's `--url`).
 */
export type ObjectInfoSource = { readonly file: string };

/**
 * Reads a saved object_info and parses it losslessly: a 64-bit limit such as KSampler's seed
 * max (18446744073709551615) stays exact. Throws typed errors (`IO_ERROR`,
 * `OBJECT_INFO_INVALID`).
 *
 * @example
 * const { raw, label } = await loadObjectInfo({ file: "object_info.json" });
 * const { files } = await generate(raw, { source: label });
 */
export async function loadObjectInfo(
  source: ObjectInfoSource,
  /** `floats`: keep which limits were written as floats, for the validator's messages. */
  options?: ParseJsonOptions,
): Promise<{ raw: unknown; label: string }> {
  const { text, label } = await readObjectInfoText(source);
  return { raw: parseObjectInfo(text, label, options), label };
}

/**
 * Reads a saved object_info's JSON text, unparsed (an unchanged re-run of `comfyc codegen` only
 * hashes it). Throws `IO_ERROR`; parse the text with {@link parseObjectInfo}.
 */
export async function readObjectInfoText(
  source: ObjectInfoSource,
): Promise<{ text: string; label: string }> {
  try {
    return { text: await readFile(source.file, "utf8"), label: source.file };
  } catch (cause) {
    throw ioError(source.file, cause);
  }
}

/**
 * Parses an object_info's text losslessly (64-bit limits stay exact bigints, as Python's `json`
 * reads them); `where` names its source in the `OBJECT_INFO_INVALID` error.
 */
export function parseObjectInfo(text: string, where: string, options?: ParseJsonOptions): unknown {
  try {
    return parseJsonLossless(text, options);
  } catch (cause) {
    throw new ComfycError(
      "OBJECT_INFO_INVALID",
      `${where} is not valid JSON: ${(cause as Error).message}`,
      "Pass the JSON returned by GET /object_info of a ComfyUI server.",
      { cause },
    );
  }
}

/** Parses `--header "Name: value"` strings into a header object. */
export function parseHeaders(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i <= 0) {
      throw new ComfycError(
        "USAGE",
        `Bad header ${JSON.stringify(line)}`,
        'Write headers as "Name: value".',
      );
    }
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
