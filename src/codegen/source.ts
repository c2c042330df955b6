import { readFile } from "node:fs/promises";
import { ComfycError, ioError } from "../errors.js";

/** Where to read an object_info from. */
export type ObjectInfoSource =
  | { readonly file: string }
  | {
      readonly url: string;
      readonly headers?: Readonly<Record<string, string>>;
      readonly timeoutMs?: number;
    };

/** Reads and JSON-parses an object_info from a file or a server. Throws typed errors. */
export async function loadObjectInfo(
  source: ObjectInfoSource,
): Promise<{ raw: unknown; label: string }> {
  const { text, label } = await readObjectInfoText(source);
  return { raw: parseObjectInfo(text, label), label };
}

/**
 * Reads an object_info's JSON text from a file or a server, unparsed (an unchanged re-run of
 * `comfyc codegen` only hashes it). Throws typed errors; parse it with {@link parseObjectInfo}.
 */
export async function readObjectInfoText(
  source: ObjectInfoSource,
): Promise<{ text: string; label: string }> {
  if ("file" in source) {
    try {
      return { text: await readFile(source.file, "utf8"), label: source.file };
    } catch (cause) {
      throw ioError(source.file, cause);
    }
  }
  const url = objectInfoUrl(source.url);
  let body: string;
  let status: number;
  try {
    // Loaded only for servers: reading a file should not pay for the HTTP client.
    const { request } = await import("undici");
    const res = await request(url, {
      headers: { accept: "application/json", ...source.headers },
      headersTimeout: source.timeoutMs ?? 60_000,
      bodyTimeout: source.timeoutMs ?? 60_000,
    });
    status = res.statusCode;
    body = await res.body.text();
  } catch (cause) {
    throw new ComfycError(
      "SERVER_UNREACHABLE",
      `Cannot reach ${url}: ${(cause as Error).message}`,
      "Check that ComfyUI is running and the URL is right (for example http://127.0.0.1:8188).",
      { cause },
    );
  }
  if (status === 401 || status === 403) {
    throw new ComfycError(
      "AUTH_FAILED",
      `${url} answered ${status}`,
      'Pass credentials with --header "Authorization: Bearer …".',
    );
  }
  if (status !== 200) {
    throw new ComfycError(
      "SERVER_ERROR",
      `${url} answered ${status}: ${body.slice(0, 200)}`,
      "Check the server's log; retry once it answers GET /object_info.",
    );
  }
  return { text: body, label: url };
}

/** `http://host:8188` → `http://host:8188/api/object_info`; a full object_info URL is kept. */
export function objectInfoUrl(base: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new ComfycError(
      "USAGE",
      `Not a URL: ${JSON.stringify(base)}`,
      "Use a URL such as http://127.0.0.1:8188.",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ComfycError(
      "USAGE",
      `Unsupported URL scheme ${url.protocol}`,
      "Use http:// or https://.",
    );
  }
  if (/\/object_info\/?$/.test(url.pathname)) return url.toString();
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/object_info`;
  return url.toString();
}

/** JSON-parses an object_info's text; `where` names its source in the OBJECT_INFO_INVALID error. */
export function parseObjectInfo(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
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
