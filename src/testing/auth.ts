import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Credentials the test server requires, as a reverse proxy in front of ComfyUI would. */
export interface TestServerAuth {
  readonly apiKey?: string;
  readonly bearer?: string;
  readonly basic?: { readonly username: string; readonly password: string };
}

/** Whether a request (HTTP or the WebSocket upgrade) carries one of the accepted credentials. */
export function authorized(req: IncomingMessage, auth: TestServerAuth | undefined): boolean {
  if (!auth) return true;
  const header = req.headers["authorization"] ?? "";
  const same = (a: string, b: string) =>
    a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  if (auth.apiKey && same(String(req.headers["x-api-key"] ?? ""), auth.apiKey)) return true;
  if (auth.bearer && same(header, `Bearer ${auth.bearer}`)) return true;
  const basic = auth.basic
    ? `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString("base64")}`
    : undefined;
  return basic !== undefined && same(header, basic);
}

/** The proxy's 401, with a Basic challenge when Basic credentials are accepted. */
export function sendUnauthorized(res: ServerResponse, auth: TestServerAuth | undefined): void {
  res.writeHead(401, {
    "Content-Type": "text/plain; charset=utf-8",
    ...(auth?.basic ? { "WWW-Authenticate": 'Basic realm="comfyui"' } : {}),
  });
  res.end("401: Unauthorized");
}
