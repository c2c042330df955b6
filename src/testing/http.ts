import type { IncomingMessage, ServerResponse } from "node:http";
import busboy from "busboy";
import { parseJsonLossless, stringifyJson } from "../protocol/json.js";

/** aiohttp's plain-text body of an unhandled exception (protocol §1). */
export const TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble";

/** Thrown by a handler to answer with a bare status, as aiohttp does for its own errors. */
export class HttpStatus extends Error {
  constructor(readonly status: number) {
    super(String(status));
  }
}

/** One request as a route handler sees it. */
export interface RouteRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Path parameters of a pattern route, URL-decoded (`/history/{id}` → `[id]`). */
  readonly params: readonly string[];
  /** The request body (at most the server's upload limit, else a 413). */
  body(): Promise<Buffer>;
}

/** A route: method, path (`/prompt`, without the `/api` prefix) or pattern, and handler. */
export interface Route {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string | RegExp;
  /**
   * The path is literal, `/api` included, as ComfyUI registers `/api/jobs…` (protocol §2.18):
   * the request's own path must match it, or match it after one more `/api` is removed
   * (`/api/api/jobs`); `/jobs` does not.
   */
  readonly literal?: true;
  readonly handle: (r: RouteRequest) => Promise<void> | void;
}

/**
 * Finds the route for a method and path; HEAD is answered by the GET route, as aiohttp does.
 *
 * @param path the request path without its `/api` prefix (every route answers with and without it).
 * @param rawPath the request path as sent, for {@link Route.literal} routes.
 */
export function findRoute(
  routes: readonly Route[],
  method: string,
  path: string,
  rawPath = path,
): { route: Route; params: string[] } | undefined {
  const m = method === "HEAD" ? "GET" : method;
  for (const route of routes) {
    if (route.method !== m) continue;
    const candidates = route.literal
      ? [rawPath, ...(rawPath.startsWith("/api/api/") ? [rawPath.slice(4)] : [])]
      : [path];
    for (const candidate of candidates) {
      if (typeof route.path === "string") {
        if (route.path === candidate) return { route, params: [] };
        continue;
      }
      const match = route.path.exec(candidate);
      if (match) return { route, params: match.slice(1).map((p) => decodeURIComponent(p)) };
    }
  }
  return undefined;
}

/**
 * The `Allow` header of aiohttp's 405, for a request no route takes with its method: ComfyUI's
 * static front-end route takes GET and HEAD on every path, so those are always listed, with the
 * methods of the routes whose path matches (observed on 0.3.64 and 0.33.0: `PUT /api/jobs` is
 * 405 `Allow: GET,HEAD`, `PUT /prompt` is `GET,HEAD,POST`).
 */
export function allowedMethods(routes: readonly Route[], path: string, rawPath = path): string {
  const methods = new Set(["GET", "HEAD"]);
  for (const method of new Set(routes.map((r) => r.method)))
    if (findRoute(routes, method, path, rawPath)) methods.add(method);
  return [...methods].sort().join(",");
}

/** A JSON reply; bigints (64-bit seeds) are written as exact JSON integers. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonBody(res, status, stringifyJson(body));
}

/** A reply of JSON text already serialized. */
export function sendJsonBody(res: ServerResponse, status: number, text: string | Buffer): void {
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Type": "application/octet-stream", "Content-Length": 0 });
  res.end();
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A JSON body, parsed losslessly; aiohttp's plain-text 500 for one that is not JSON. */
export function parseBody(bytes: Buffer): unknown {
  try {
    return parseJsonLossless(bytes.toString("utf8"));
  } catch {
    throw new HttpStatus(500);
  }
}

export function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpStatus(413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** A multipart form's fields and its file part (`image` for ComfyUI's uploads). */
export function readMultipart(
  req: IncomingMessage,
  limit: number,
  filePart = "image",
): Promise<{ fields: Record<string, string>; file?: { filename: string; bytes: Buffer } }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: limit } });
    } catch {
      reject(new HttpStatus(400));
      return;
    }
    const fields: Record<string, string> = {};
    let file: { filename: string; bytes: Buffer } | undefined;
    parser.on("field", (name, value) => {
      fields[name] = value;
    });
    parser.on("file", (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("limit", () => reject(new HttpStatus(413)));
      stream.on("end", () => {
        if (name === filePart)
          file = { filename: info.filename ?? "", bytes: Buffer.concat(chunks) };
      });
    });
    parser.on("close", () => resolve({ fields, ...(file ? { file } : {}) }));
    parser.on("error", () => reject(new HttpStatus(400)));
    req.pipe(parser);
  });
}
