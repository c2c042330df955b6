import type { IncomingMessage, ServerResponse } from "node:http";
import busboy from "busboy";
import { parseJsonLossless, stringifyJson, type ParseJsonOptions } from "../protocol/json.js";
import { withPythonFloats } from "./python-float.js";

/** aiohttp's plain-text body of an unhandled exception (protocol §1). */
export const TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble";

/** The same for a client whose `Accept` names `text/html` (a browser). */
const HTML_500 =
  "<html><head><title>500 Internal Server Error</title></head><body>\n<h1>500 Internal Server Error</h1>\nServer got itself in trouble\n</body></html>\n";

/**
 * aiohttp's answer to an exception a handler did not catch (web_protocol.py `handle_error`, as
 * 0.3.64 and 0.33.0 answer it): `500` with {@link TEXT_500}, or an HTML page when the request's
 * `Accept` names `text/html`, and `Connection: close` (aiohttp always closes the connection).
 */
export function sendInternalError(req: IncomingMessage, res: ServerResponse): void {
  const html = (req.headers.accept ?? "").includes("text/html");
  const text = html ? HTML_500 : TEXT_500;
  res.writeHead(500, {
    "Content-Type": html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    Connection: "close",
  });
  res.end(text);
}

/**
 * Reason phrases where Python's `http.HTTPStatus`, which aiohttp writes on the status line,
 * differs from Node's (`413 Request Entity Too Large`, Node's `Payload Too Large`).
 */
const PYTHON_REASONS: Readonly<Record<number, string>> = {
  413: "Request Entity Too Large",
  414: "Request-URI Too Long",
  416: "Requested Range Not Satisfiable",
};

function writeHead(res: ServerResponse, status: number, headers: Record<string, string | number>) {
  const reason = PYTHON_REASONS[status];
  if (reason) res.writeHead(status, reason, headers);
  else res.writeHead(status, headers);
}

/**
 * Thrown by a handler to answer with a status, as aiohttp does for its own errors: a bare status,
 * or the plain text of an aiohttp `HTTPException` (`text/plain; charset=utf-8`).
 */
export class HttpStatus extends Error {
  constructor(
    readonly status: number,
    readonly text?: string,
  ) {
    super(text ?? String(status));
  }
}

/**
 * aiohttp's `HTTPRequestEntityTooLarge` (413) as ComfyUI answers a body over its
 * `client_max_size` (`--max-upload-size`, 100 MiB by default; server.py `web.Application`):
 * `Maximum request body size <limit> exceeded, actual body size <n>`, where `n` is how much of the
 * body had been read when the limit was crossed (it depends on how the bytes arrived; observed on
 * 0.3.64 and 0.33.0, aiohttp 3.8.4).
 */
export function bodyTooLarge(limit: number, actual: number): HttpStatus {
  return new HttpStatus(
    413,
    `Maximum request body size ${limit} exceeded, actual body size ${actual}`,
  );
}

/**
 * How long the rest of a rejected body is read and dropped before the connection is closed:
 * aiohttp's `lingering_time` (10 s; web_protocol.py). A body that ends in time leaves the
 * connection open for the next request, as on the real server.
 */
const LINGER_MS = 10_000;

/**
 * Reads and drops what is left of a request body after an early answer, as aiohttp does
 * (web_protocol.py `start`: "read and ignore" until the payload ends or `lingering_time` runs out,
 * then it closes the connection). Nothing is kept in memory.
 */
export function discardRest(req: IncomingMessage): void {
  req.removeAllListeners("data");
  if (req.complete) return;
  req.on("data", () => undefined);
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once("end", done);
  req.once("close", done);
  req.resume();
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

/**
 * A JSON reply; bigints (64-bit seeds) are written as exact JSON integers, `PyFloat`s as
 * Python writes floats (`5.0`).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonBody(res, status, withPythonFloats(stringifyJson(body)));
}

/** A reply of JSON text already serialized. */
export function sendJsonBody(res: ServerResponse, status: number, text: string | Buffer): void {
  writeHead(res, status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  writeHead(res, status, { "Content-Type": "application/octet-stream", "Content-Length": 0 });
  res.end();
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  writeHead(res, status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * A JSON body, parsed losslessly; aiohttp's plain-text 500 for one that is not JSON. `floats`:
 * keep which integral numbers were written as floats (`0.0`), which Python's `json` reads as
 * `float` (see `parseJsonLossless`).
 */
export function parseBody(bytes: Buffer, options?: ParseJsonOptions): unknown {
  try {
    return parseJsonLossless(bytes.toString("utf8"), options);
  } catch {
    throw new HttpStatus(500);
  }
}

export function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}

/**
 * The whole request body, for a JSON route: aiohttp's `Request.read()` (web_request.py), which
 * raises {@link bodyTooLarge} as soon as the bytes read reach `limit` (`>=`: a body of exactly
 * the limit is refused too), whatever the `Content-Length` says (nothing is refused up front: a
 * declared 200 MB body gets no answer until 100 MiB of it have arrived). The rest is read and
 * dropped ({@link discardRest}), so memory stays at most `limit` plus one chunk.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size >= limit) {
        chunks.length = 0;
        discardRest(req);
        reject(bodyTooLarge(limit, size));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * A multipart form's fields and its file part (`image` for ComfyUI's uploads), read as aiohttp's
 * `Request.post()` reads one (web_request.py, Debian's aiohttp 3.8.4 that 0.3.64 and 0.33.0 run
 * on): the decoded bytes of every part's value count against `limit` together (part headers and
 * boundaries do not), and crossing it (`>`: exactly the limit passes) answers
 * {@link bodyTooLarge} with the count so far; the rest of the body is dropped unread.
 */
export function readMultipart(
  req: IncomingMessage,
  limit: number,
  filePart = "image",
): Promise<{ fields: Record<string, string>; file?: { filename: string; bytes: Buffer } }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // A field may be as long as the limit (busboy would cut it at 1 MiB); one longer is over.
      parser = busboy({ headers: req.headers, limits: { fieldSize: limit + 1 } });
    } catch {
      reject(new HttpStatus(400));
      return;
    }
    const fields: Record<string, string> = {};
    let file: { filename: string; bytes: Buffer } | undefined;
    let size = 0;
    let over = false;
    const count = (n: number): boolean => {
      size += n;
      if (over || size <= limit) return over;
      over = true;
      req.unpipe(parser);
      discardRest(req);
      reject(bodyTooLarge(limit, size));
      return true;
    };
    parser.on("field", (name, value, info) => {
      if (count(info.valueTruncated ? limit + 1 : Buffer.byteLength(value))) return;
      fields[name] = value;
    });
    parser.on("file", (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => {
        if (count(c.length)) {
          chunks.length = 0;
          stream.resume();
          return;
        }
        if (name === filePart) chunks.push(c);
      });
      stream.on("end", () => {
        if (name === filePart && !over)
          file = { filename: info.filename ?? "", bytes: Buffer.concat(chunks) };
      });
    });
    parser.on("close", () => {
      if (!over) resolve({ fields, ...(file ? { file } : {}) });
    });
    parser.on("error", () => {
      if (!over) reject(new HttpStatus(400));
    });
    req.pipe(parser);
  });
}
