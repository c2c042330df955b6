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
  const bom = bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return bytes.toString("utf8", bom ? 3 : 0);
}

/**
 * A server URL as the CLI's `--url` takes it, as the client's base URL: one naming
 * `/object_info` itself (`http://host:8188/api/object_info`) is read as its server's.
 */
export function serverBaseUrl(url: string): string {
  return url.replace(/\/(api\/)?object_info\/?$/, "");
}
