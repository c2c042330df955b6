import { loadObjectInfo, parseHeaders } from "../codegen/source.js";
import { ComfycError } from "../errors.js";
import { tryParseComfyuiVersion } from "../protocol/comfyui-version.js";
import { ComfyClient, type ClientOptions } from "../runtime/client.js";
import { serverBaseUrl } from "../runtime/object-info.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import { replyLimitsFromEnv } from "./options.js";

/** `--schema <file>` or `--url <server>` (with `--header`s): exactly one. */
export interface SchemaFlags {
  readonly schema?: string;
  readonly url?: string;
  readonly header: readonly string[];
}

/** A schema as a command reads it: the raw object_info, where it came from, the server's version. */
export interface RawSchema {
  /** The `/object_info` document, parsed losslessly (64-bit limits are exact bigints). */
  readonly raw: Record<string, unknown>;
  /** The file, or the server's `…/api/object_info` URL. */
  readonly label: string;
  /** `system.comfyui_version` of the server, when it reported a version (never for a file). */
  readonly comfyuiVersion?: string;
}

/**
 * The one way the CLI reads a server (`run`, `validate --url`, `codegen --url`, `import --url`,
 * `convert --url`, `demo`): a {@link ComfyClient}, so every command gets the same auth headers,
 * TLS (`NODE_EXTRA_CA_CERTS` for a private CA), retry budget, typed errors and lossless JSON.
 * A URL naming `/object_info` itself (`http://host:8188/api/object_info`) is read as the server's
 * base URL. Close the client when done.
 */
export function serverClient(
  url: string,
  headers: Readonly<Record<string, string>> = {},
  options: Omit<ClientOptions, "url" | "headers"> = {},
): ComfyClient {
  return new ComfyClient({
    url: serverBaseUrl(url),
    headers,
    limits: replyLimitsFromEnv(),
    ...options,
  });
}

/** A server's `/object_info` and the ComfyUI version its `/system_stats` reports. */
export async function readServerSchema(client: ComfyClient): Promise<RawSchema> {
  const [raw, stats] = await Promise.all([
    client.objectInfo({ floats: true }),
    client.systemStats(),
  ]);
  // A server reporting something that is not a version gets the newest rules.
  const version = tryParseComfyuiVersion(stats.system.comfyui_version)?.text;
  return {
    raw,
    label: client.http.url("api/object_info").toString(),
    ...(version ? { comfyuiVersion: version } : {}),
  };
}

/** Reads the raw schema the flags name (a file, or a server through {@link serverClient}). */
export async function rawSchemaFromFlags(command: string, flags: SchemaFlags): Promise<RawSchema> {
  if (!!flags.schema === !!flags.url) {
    throw new ComfycError(
      "USAGE",
      `comfyc ${command} needs exactly one of --schema <object_info.json> or --url <server>`,
      `The node definitions name the widget values; use the server the workflow will run on, for example: comfyc ${command} … --url http://127.0.0.1:8188.`,
    );
  }
  if (flags.schema) {
    // Floats kept: the validator prints a limit of 1000.0 as the server does.
    const { raw, label } = await loadObjectInfo({ file: flags.schema }, { floats: true });
    return { raw: raw as Record<string, unknown>, label };
  }
  const client = serverClient(flags.url!, parseHeaders(flags.header));
  try {
    return await readServerSchema(client);
  } finally {
    await client.close();
  }
}

/** Loads and normalizes the schema the flags name; `USAGE` unless exactly one is given. */
export async function schemaFromFlags(
  command: string,
  flags: SchemaFlags,
): Promise<{ schema: NodeSchema; label: string; comfyuiVersion?: string }> {
  const { raw, label, comfyuiVersion } = await rawSchemaFromFlags(command, flags);
  return {
    schema: normalizeObjectInfo(raw, label),
    label,
    ...(comfyuiVersion ? { comfyuiVersion } : {}),
  };
}
