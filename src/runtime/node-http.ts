import type { Agent as HttpAgent, ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { createRequire } from "node:module";

/**
 * What one request needs of an HTTP client, and the reply it gets: the part of undici's
 * `request()` the transport uses ({@link Http}). The body of a reply is read whole, once.
 */
export interface HttpEngine {
  request(url: URL, options: ExchangeOptions): Promise<Exchange>;
  /** Lets in-flight requests finish for at most `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

/** One request, as the transport sends it. */
export interface ExchangeOptions {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
  /** ms from sending the request to the reply's headers. */
  readonly headersTimeout: number;
  /** ms the reply's body may stay silent between chunks. */
  readonly bodyTimeout: number;
  /**
   * The most bytes the body may have: a larger `Content-Length` rejects the request, a body
   * that runs past it fails its read there ({@link replyTooLarge}), its connection destroyed.
   */
  readonly maxBytes?: number;
}

/** A reply: its status, headers (lower-case names) and unread body. */
export interface Exchange {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: ReplyBody;
}

/** A reply's body, read whole by one of these (as undici's body mixin reads it). */
export interface ReplyBody {
  arrayBuffer(): Promise<ArrayBuffer>;
  /** UTF-8, a byte order mark skipped. */
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** Reads and discards the body. */
  dump(): Promise<void>;
}

/** undici's `connect` timeout, which the transport keeps at its default. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * An error as undici reports the same failure: the transport's retry decision and its messages
 * go by `code` and `message`, so a failure reads the same whichever client met it.
 */
function undiciError(name: string, code: string, message: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.name = name;
  e.code = code;
  return e;
}

/**
 * A reply past the transport's size limit, as undici names a reply past its `maxResponseSize`
 * (`ResponseExceededMaxSizeError`), with the reply's `status` and, when its `Content-Length`
 * said so at once, the `declared` length. Both engines report it alike; the transport makes it
 * a `ReplyTooLargeError`.
 */
export function replyTooLarge(status: number, declared?: number): Error {
  return Object.assign(
    undiciError(
      "ResponseExceededMaxSizeError",
      "UND_ERR_RES_EXCEEDED_MAX_SIZE",
      "Response content exceeded max size",
    ),
    { status, ...(declared !== undefined ? { declared } : {}) },
  );
}

/**
 * The `Content-Length` of a reply when it exceeds `maxBytes`, else undefined. A HEAD reply, a
 * 204 and a 304 have no body whatever the header says.
 */
export function declaredTooLarge(
  headers: Record<string, string | string[] | undefined>,
  method: string,
  status: number,
  maxBytes: number | undefined,
): number | undefined {
  if (maxBytes === undefined || method === "HEAD" || status === 204 || status === 304) return;
  const raw = headers["content-length"];
  const declared = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isSafeInteger(declared) && declared > maxBytes ? declared : undefined;
}

const otherSideClosed = () => undiciError("SocketError", "UND_ERR_SOCKET", "other side closed");
const lengthMismatch = () =>
  undiciError(
    "ResponseContentLengthMismatchError",
    "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
    "Response body length does not match content-length header",
  );

/** A parse error of Node's HTTP parser (llhttp, as in undici), in undici's words. */
function parserError(e: Error & { code?: string; reason?: string }): Error {
  if (e.code === "HPE_HEADER_OVERFLOW")
    return undiciError(
      "HeadersOverflowError",
      "UND_ERR_HEADERS_OVERFLOW",
      "Headers Overflow Error",
    );
  // Two content-lengths, or one beside chunked: undici's parser takes them, and then finds the
  // body's length does not match the (joined) declared one.
  if (e.code === "HPE_UNEXPECTED_CONTENT_LENGTH" || e.code === "HPE_INVALID_TRANSFER_ENCODING")
    return lengthMismatch();
  const reason = e.reason ?? e.message.replace(/^Parse Error: /, "");
  return undiciError(
    "HTTPParserError",
    e.code!,
    `Response does not match the HTTP/1.1 protocol (${reason})`,
  );
}

/** Whether llhttp keeps the connection after this reply (`llhttp_should_keep_alive`). */
function keepsAlive(res: IncomingMessage): boolean {
  const connection = String(res.headers["connection"] ?? "").toLowerCase();
  const framed =
    res.headers["content-length"] !== undefined ||
    /chunked/i.test(String(res.headers["transfer-encoding"] ?? ""));
  if (!framed) return false;
  if (res.httpVersionMajor > 1 || (res.httpVersionMajor === 1 && res.httpVersionMinor >= 1))
    return !/(^|,)\s*close\s*(,|$)/.test(connection);
  return /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
}

/**
 * The transport's requests over Node's own `node:http` / `node:https`, which load in a fraction
 * of undici's time (about 15 ms against 100–190 ms on the 2-core VM, and undici's WebAssembly
 * parser reads a 2 MB reply slower than Node's native one): for a process that makes a request
 * or two and exits, `comfyc codegen --url`. Every failure reads as undici reports it (the same
 * `code` and message: refused, reset or early-closed connections, connect, header and body
 * timeouts, malformed replies), so the transport retries and names it the same way; a
 * differential test holds the two to it. Bodies are read whole: no streams, no WebSocket.
 */
export class NodeHttpEngine implements HttpEngine {
  readonly #tls: Readonly<Record<string, unknown>>;
  readonly #agents = new Map<string, HttpAgent>();
  readonly #inFlight = new Set<Promise<unknown>>();

  /** `tls`: the transport's TLS settings (ca, cert, key, rejectUnauthorized) for https. */
  constructor(tls: Readonly<Record<string, unknown>> = {}) {
    this.#tls = tls;
  }

  request(url: URL, options: ExchangeOptions): Promise<Exchange> {
    const done = this.#send(url, options);
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
    return done;
  }

  async close(graceMs: number): Promise<void> {
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.#inFlight),
        new Promise((r) => (timer = setTimeout(r, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  #agent(protocol: string): HttpAgent {
    let agent = this.#agents.get(protocol);
    if (!agent) {
      const require = createRequire(import.meta.url);
      agent =
        protocol === "https:"
          ? new (require("node:https") as typeof import("node:https")).Agent({
              keepAlive: true,
              ...this.#tls,
            })
          : new (require("node:http") as typeof import("node:http")).Agent({ keepAlive: true });
      this.#agents.set(protocol, agent);
    }
    return agent;
  }

  #send(url: URL, options: ExchangeOptions): Promise<Exchange> {
    const require = createRequire(import.meta.url);
    const https = url.protocol === "https:";
    const client = require(https ? "node:https" : "node:http") as typeof import("node:http");
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers["content-length"] = Buffer.byteLength(options.body);
    return new Promise<Exchange>((resolve, reject) => {
      let req: ClientRequest;
      try {
        req = client.request(url, {
          method: options.method,
          headers,
          agent: this.#agent(url.protocol),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (e) {
        // Headers Node refuses (undici refuses them too, before sending).
        reject(e as Error);
        return;
      }
      const exchange = new Attempt(req, options, resolve, reject);
      req.once("socket", (socket: Socket) => {
        exchange.watch(socket);
        const sent = () => exchange.arm(options.headersTimeout, timeoutError("Headers"));
        if (!socket.connecting) return sent();
        const port = url.port || (https ? "443" : "80");
        exchange.arm(CONNECT_TIMEOUT_MS, () =>
          undiciError(
            "ConnectTimeoutError",
            "UND_ERR_CONNECT_TIMEOUT",
            `Connect Timeout Error (attempted address: ${url.hostname}:${port}, timeout: ${CONNECT_TIMEOUT_MS}ms)`,
          ),
        );
        socket.once(https ? "secureConnect" : "connect", sent);
      });
      req.end(options.body);
    });
  }
}

function timeoutError(which: "Headers" | "Body"): () => Error {
  return () =>
    undiciError(
      `${which}TimeoutError`,
      `UND_ERR_${which.toUpperCase()}_TIMEOUT`,
      `${which} Timeout Error`,
    );
}

/** Declared bodies up to this size are read straight into one buffer of that size. */
const PREALLOCATE_MAX = 64 * 1024 * 1024;

/**
 * One request and its reply: the timers (connect, headers, body), and every way it can end,
 * reported as undici reports it. An early end of the body reads as undici reads it: a
 * kept-alive connection that closes is "other side closed"; on one the reply said would close,
 * the close (or a reset) ends the body, short of a declared length a length mismatch.
 */
class Attempt {
  socketError: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #res: IncomingMessage | undefined;
  #done = false;
  #failure: Error | undefined;
  readonly #waiters: (() => void)[] = [];
  #whole: Buffer | undefined;
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #taken = false;
  #unwatch: () => void = () => undefined;

  constructor(
    readonly req: ClientRequest,
    readonly options: ExchangeOptions,
    readonly resolve: (exchange: Exchange) => void,
    readonly reject: (e: Error) => void,
  ) {
    req.on("error", (e: Error & { code?: string }) => {
      // Bytes after a whole reply: undici has handed the reply over by then.
      if (this.#res?.complete) return this.#end();
      if (e.code?.startsWith("HPE_")) return this.fail(parserError(e));
      // Node's "socket hang up": the server closed before a whole reply's headers.
      if (e.code === "ECONNRESET" && e.message === "socket hang up" && !this.socketError)
        return this.fail(otherSideClosed());
      this.fail(this.socketError ?? e);
    });
    // A 100 Continue nobody asked for, or an upgrade: undici gives up on the connection.
    req.on("information", (info: { statusCode: number }) => {
      if (info.statusCode === 100)
        this.fail(undiciError("SocketError", "UND_ERR_SOCKET", "bad response"));
    });
    req.once("upgrade", (_res: IncomingMessage, socket: Socket) => {
      socket.destroy();
      this.fail(undiciError("SocketError", "UND_ERR_SOCKET", "bad upgrade"));
    });
    req.once("response", (res: IncomingMessage) => this.#reply(res));
  }

  /** Runs `error` as this attempt's failure after `ms` of silence (replacing the last timer). */
  arm(ms: number, error: () => Error): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.fail(error()), ms);
  }

  /** Ends the attempt: before the headers its promise rejects, after them the body does. */
  fail(e: Error): void {
    if (this.#done) return;
    this.#end(e);
    this.req.destroy();
  }

  /**
   * Notes the socket's own error (a reset), which Node reports to the request under another
   * name; only while this attempt lasts, as a kept-alive socket serves request after request.
   */
  watch(socket: Socket): void {
    const note = (e: Error) => (this.socketError ??= e);
    socket.on("error", note);
    this.#unwatch = () => socket.off("error", note);
  }

  #end(e?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#failure = e;
    clearTimeout(this.#timer);
    this.#unwatch();
    if (!this.#res) {
      if (e) this.reject(e);
      return;
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  #reply(res: IncomingMessage): void {
    const max = this.options.maxBytes;
    const status = res.statusCode ?? 0;
    const tooLarge = declaredTooLarge(res.headers, this.options.method, status, max);
    // Refused before the body is read: the request itself rejects, as in the transport's check.
    if (tooLarge !== undefined) return this.fail(replyTooLarge(status, tooLarge));
    this.#res = res;
    const timeout = timeoutError("Body");
    this.arm(this.options.bodyTimeout, timeout);
    const declared = Number(res.headers["content-length"]);
    if (Number.isSafeInteger(declared) && declared >= 0 && declared <= PREALLOCATE_MAX)
      this.#whole = Buffer.allocUnsafe(declared);
    res.on("data", (chunk: Buffer) => {
      // Chunks after a failure are dropped (a whole reply's may still arrive after an error
      // about bytes beyond it, which ends the attempt but keeps the body).
      if (this.#failure) return;
      if (max !== undefined && this.#length + chunk.length > max)
        return this.fail(replyTooLarge(status));
      this.arm(this.options.bodyTimeout, timeout);
      const whole = this.#whole;
      if (whole && this.#length + chunk.length <= whole.length) chunk.copy(whole, this.#length);
      else {
        if (whole) this.#chunks.push(whole.subarray(0, this.#length));
        this.#whole = undefined;
        this.#chunks.push(chunk);
      }
      this.#length += chunk.length;
    });
    res.once("end", () => {
      if (!this.#done) this.#end();
    });
    res.on("error", () => {
      if (this.#done) return;
      const reset = this.socketError;
      if (keepsAlive(res)) return this.fail(reset ?? otherSideClosed());
      // The reply said the connection would close: the close (or a reset) ends its body.
      if (res.headers["content-length"] !== undefined && this.#length !== declared)
        return this.fail(lengthMismatch());
      if (/chunked/i.test(String(res.headers["transfer-encoding"] ?? "")))
        return this.fail(
          undiciError(
            "HTTPParserError",
            "HPE_INVALID_EOF_STATE",
            "Response does not match the HTTP/1.1 protocol (Invalid EOF state)",
          ),
        );
      this.#end();
    });
    this.resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: this.#body() });
  }

  async #bytes(): Promise<Buffer> {
    if (this.#taken) throw new TypeError("Body is unusable: Body has already been read");
    this.#taken = true;
    if (!this.#done) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#failure) throw this.#failure;
    const whole = this.#whole;
    if (whole) return this.#length === whole.length ? whole : whole.subarray(0, this.#length);
    return Buffer.concat(this.#chunks, this.#length);
  }

  #body(): ReplyBody {
    const bytes = () => this.#bytes();
    const text = async () => {
      const b = await bytes();
      const bom = b.length > 2 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
      return b.toString("utf8", bom ? 3 : 0);
    };
    return {
      arrayBuffer: async () => {
        const b = await bytes();
        return (
          b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
            ? b.buffer
            : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
        ) as ArrayBuffer;
      },
      text,
      json: async () => JSON.parse(await text()) as unknown,
      dump: async () => void (await bytes().catch(() => undefined)),
    };
  }
}
