import type { Http, HttpRequest } from "./http.js";

/**
 * `GET /object_info` as the server sent it, unparsed, through the transport (headers, TLS, the
 * one retry budget, typed errors). {@link Routes.objectInfoText} is this on a client; `comfyc
 * codegen --url` calls it on the transport alone, so an unchanged re-run loads undici and not
 * the whole client. Parse the text with `parseObjectInfoReply`.
 */
export function objectInfoText(
  http: Http,
  options: Pick<HttpRequest, "signal" | "retry" | "timeoutMs"> = {},
): Promise<string> {
  return http.text({ method: "GET", path: "api/object_info", ...options });
}

/**
 * `GET /object_info` as the server sent it, as bytes: {@link objectInfoText} without decoding,
 * for a caller that hashes the reply and decodes it only when it must (`comfyc codegen --url`:
 * an unchanged re-run only hashes it). Decode with {@link replyText}.
 */
export async function objectInfoBytes(
  http: Http,
  options: Pick<HttpRequest, "signal" | "retry" | "timeoutMs"> = {},
): Promise<Buffer> {
  return http.bytes({ method: "GET", path: "api/object_info", ...options });
}

/** A reply body's text as undici's `body.text()` decodes it: UTF-8, a byte order mark skipped. */
export function replyText(bytes: Buffer): string {
  return bytes.toString("utf8", hasBom(bytes) ? 3 : 0);
}

function hasBom(bytes: Buffer): boolean {
  return bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/**
 * {@link replyText} for `JSON.parse` only: every non-ASCII character written as its JSON escape
 * (`é` as `\u00e9`), which parses to the same value wherever JSON allows the character (inside
 * strings) and fails to parse wherever it does not. A server that writes raw UTF-8 (our test
 * server, some proxies; ComfyUI's `json.dumps` escapes it) makes even a few such characters turn
 * the whole 2 MB text into a two-byte string, which decodes and parses slower (on the 1,686-class
 * dump about 20 ms of a cold `comfyc codegen --url`). Report a failure from {@link replyText}'s
 * text, which is what the server sent.
 */
export function replyJsonText(bytes: Buffer): string {
  const start = hasBom(bytes) ? 3 : 0;
  // Latin-1 keeps one character per byte: ASCII stays itself, and each run of bytes from 0x80
  // (whole UTF-8 sequences, or invalid bytes, which decode alike on their own) is decoded apart.
  const latin = bytes.toString("latin1", start);
  const high = /[\x80-\xff]+/g;
  let out = "";
  let last = 0;
  for (let m = high.exec(latin); m !== null; m = high.exec(latin)) {
    // After a backslash an escape would change the meaning: `"\é"` is an invalid escape, and
    // `"\\u00e9"` would be valid. Such a reply is parsed as sent, for JSON.parse to judge.
    if (latin.charCodeAt(m.index - 1) === 0x5c /* \ */) return replyText(bytes);
    const chars = bytes.toString("utf8", start + m.index, start + m.index + m[0].length);
    let escaped = "";
    for (let i = 0; i < chars.length; i++)
      escaped += `\\u${chars.charCodeAt(i).toString(16).padStart(4, "0")}`;
    out += latin.slice(last, m.index) + escaped;
    last = m.index + m[0].length;
  }
  return last === 0 ? latin : out + latin.slice(last);
}

/**
 * A server URL as the CLI's `--url` takes it, as the client's base URL: one naming
 * `/object_info` itself (`http://host:8188/api/object_info`) is read as its server's.
 */
export function serverBaseUrl(url: string): string {
  return url.replace(/\/(api\/)?object_info\/?$/, "");
}
