import pRetry, { AbortError } from "p-retry";
import type { Socket } from "node:net";
import { pipeline, Transform, type Readable } from "node:stream";
import type { buildConnector as UndiciConnector, Dispatcher, FormData } from "undici";
import type { z } from "zod";
import { ComfycError, type ErrorCode } from "../errors.js";
import { parseJsonLossless, type ParseJsonOptions } from "../protocol/json.js";
import { declaredTooLarge, replyTooLarge, type HttpEngine } from "./node-http.js";
import { REPLY_LIMIT_ENV } from "./reply-limit-env.js";
import { undici } from "./undici-parts.js";

/** Credentials sent on every HTTP request and on the WebSocket upgrade. */
export interface ClientAuth {
  /** Sent as `X-API-Key`. */
  readonly apiKey?: string;
  /** Sent as `Authorization: Bearer …`. */
  readonly bearer?: string;
  /** Sent as `Authorization: Basic …`. */
  readonly basic?: { readonly username: string; readonly password: string };
}

/**
 * The retry budget of one request: refused or reset connections, timeouts and 500/502/503/504
 * are tried again after an exponential, jittered delay. With the defaults a request gives up
 * after 5 attempts and at most 3 s of waiting between them.
 */
export interface RetryOptions {
  /** Attempts after the first (default 4). */
  readonly retries?: number;
  /** First delay in ms (default 100); each later one doubles, times a random 1–2. */
  readonly minDelayMs?: number;
  /** Largest single delay in ms (default 2000). */
  readonly maxDelayMs?: number;
}

/**
 * The most a server may send, in bytes (everything from a server is untrusted: a broken or
 * hostile one can answer without end). A reply that declares more (`Content-Length`) is refused
 * before its body is read; one that sends more is cut off as soon as it passes the limit, its
 * connection closed: never buffered whole first. Either is a {@link ReplyTooLargeError}
 * (`BAD_SERVER_REPLY`, CLI exit 8) naming the request, the limit and the option raising it.
 */
export interface ReplyLimits {
  /**
   * A reply read whole: JSON (`/object_info`, `/history`, `/queue`, `/api/jobs`, Comfy API v2
   * jobs), text, or an error page. Default 256 MiB ({@link DEFAULT_REPLY_LIMITS}): a real
   * `/object_info` with many custom nodes is 2–20 MB, a long `/history` tens of MB.
   */
  readonly replyBytes?: number;
  /**
   * One file downloaded (`GET /view`, a Comfy API v2 output's content): `client.stream()` and
   * `client.save()` stream it to the caller or the disk, `client.read()` holds it in memory.
   * Default 4 GiB, Node 20's largest Buffer: video outputs of a few GB pass.
   */
  readonly fileBytes?: number;
  /**
   * One WebSocket message (undici's `maxPayloadSize`: the connection is closed with 1009 and
   * reopened) or one Comfy API v2 SSE event with its field lines (eventsource-parser's
   * `maxBufferSize`, in characters, which is bytes for the ASCII JSON events; the stream is
   * dropped and the job followed by polling). Default 64 MiB: a preview image is a few MB.
   * Not applied to a WebSocket over a `dispatcher` of your own (set its `webSocket` option).
   */
  readonly messageBytes?: number;
}

/** The limits a client applies when none are given (bytes). */
export const DEFAULT_REPLY_LIMITS: Readonly<Required<ReplyLimits>> = {
  replyBytes: 256 * 1024 * 1024,
  fileBytes: 4 * 1024 * 1024 * 1024,
  messageBytes: 64 * 1024 * 1024,
};

/** How to reach a server. */
export interface HttpOptions {
  /** The server's base URL, such as `http://127.0.0.1:8188`. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly auth?: ClientAuth;
  /** TLS settings for https:// servers (custom CA, client certificate, or self-signed). */
  readonly tls?: {
    readonly ca?: string | Buffer;
    readonly cert?: string | Buffer;
    readonly key?: string | Buffer;
    readonly rejectUnauthorized?: boolean;
  };
  readonly retry?: RetryOptions;
  /** Per-attempt timeout for the reply's headers and each body chunk, in ms (default 60000). */
  readonly timeoutMs?: number;
  /** Use this undici dispatcher instead of creating a pool. */
  readonly dispatcher?: Dispatcher;
  /** Size limits on what the server sends, in bytes (defaults: {@link DEFAULT_REPLY_LIMITS}). */
  readonly limits?: ReplyLimits;
}

/** One HTTP request to the server. */
export interface HttpRequest {
  readonly method: "GET" | "HEAD" | "POST";
  /** Path relative to the base URL, such as `api/prompt`. */
  readonly path: string;
  readonly body?: string | Buffer | FormData;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /**
   * Retry transient failures within the client's budget (default true). `false` makes one
   * attempt: for requests made inside another retry loop (polls, idempotency checks), which must
   * never multiply the budget.
   */
  readonly retry?: boolean;
  /** Per-attempt timeout in ms (default: the client's `timeoutMs`). */
  readonly timeoutMs?: number;
  /** Statuses returned to the caller instead of thrown (default: 2xx). */
  readonly accept?: (status: number) => boolean;
  /**
   * A 429 with a `Retry-After` header (Comfy API v2: `queue_full`, `deployment_not_ready`,
   * `rate_limited`) is tried again after that many seconds (at most {@link MAX_RETRY_AFTER_MS}),
   * within the same budget. Default false: ComfyUI itself never answers 429.
   */
  readonly honourRetryAfter?: boolean;
  /**
   * Which of the client's {@link ReplyLimits} bounds this reply's body (default `replyBytes`);
   * `"none"` for a stream bounded otherwise (an SSE stream, by event).
   */
  readonly limit?: keyof ReplyLimits | "none";
  /** A tighter bound in bytes than that limit, for this request only. */
  readonly maxBytes?: number;
}

/** The longest `Retry-After` the transport waits for, in ms; a longer one fails at once. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** A reply whose status is accepted; `body` is unread. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData["body"];
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
/** Statuses a proxy or a busy server answers while ComfyUI is (re)starting. */
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
/** Statuses that prove nothing about ComfyUI itself: a proxy in front of a dead server. */
const PROXY_STATUS = new Set([502, 503, 504]);

/** True for failures worth retrying: refused, reset or timed-out connections, 500/502/503/504. */
export function isTransient(e: unknown): boolean {
  if (e instanceof HttpError)
    return (
      e.code === "SERVER_UNREACHABLE" ||
      (e.status !== undefined && TRANSIENT_STATUS.has(e.status)) ||
      typeof (e as { retryAfterMs?: unknown }).retryAfterMs === "number"
    );
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A request that failed: it names the request (`POST http://127.0.0.1:8188/api/prompt`) and
 * how many attempts were made; `status` is the last HTTP status, if the server answered.
 */
export class HttpError extends ComfycError {
  constructor(
    code: ErrorCode,
    readonly method: string,
    readonly url: string,
    readonly attempts: number,
    readonly status: number | undefined,
    reason: string,
    hint: string,
    options?: ErrorOptions,
  ) {
    super(
      code,
      `${method} ${url} ${attempts > 1 ? `failed after ${attempts} attempts: ` : ""}${reason}`,
      hint,
      options,
    );
  }
}

/** An HTTP status the caller did not accept (401/403 `AUTH_FAILED`, 404 `NOT_FOUND`, …). */
export class ServerStatusError extends HttpError {
  constructor(
    status: number,
    method: string,
    url: string,
    readonly bodyText: string,
    attempts = 1,
  ) {
    super(
      status === 401 || status === 403
        ? "AUTH_FAILED"
        : status === 404
          ? "NOT_FOUND"
          : "SERVER_ERROR",
      method,
      url,
      attempts,
      status,
      `${attempts > 1 ? "the last answered" : "answered"} ${status}${bodyText ? `: ${bodyText.slice(0, 300).trim()}` : ""}`,
      status === 401 || status === 403
        ? "Pass credentials: { auth: { bearer | apiKey | basic } } or --header."
        : status === 404
          ? "Check the URL: it should be the server's base URL, such as http://127.0.0.1:8188."
          : TRANSIENT_STATUS.has(status)
            ? "The server (or a proxy in front of it) kept failing; check that ComfyUI is up and its log."
            : "Check the server's log.",
    );
  }
}

/**
 * A reply larger than the client accepts (`BAD_SERVER_REPLY`, CLI exit 8): it declared more
 * (`Content-Length`, `declaredBytes`) or sent more than `limitBytes`, and was cut off there,
 * its connection closed. `option` names the client option that raises the limit
 * (`limits.replyBytes`, …). Never retried: the same server would send the same again.
 */
export class ReplyTooLargeError extends HttpError {
  constructor(
    method: string,
    url: string,
    readonly limitBytes: number,
    readonly option: string,
    readonly declaredBytes?: number,
    status?: number,
  ) {
    super(
      "BAD_SERVER_REPLY",
      method,
      url,
      1,
      status,
      declaredBytes !== undefined
        ? `declared a body of ${declaredBytes} bytes (Content-Length), more than the limit of ${formatBytes(limitBytes)}; not read`
        : `sent more than the limit of ${formatBytes(limitBytes)}; stopped reading and closed the connection`,
      `A broken or hostile server, or a reply really that big: raise the client option ${option} (bytes; comfyc: $${REPLY_LIMIT_ENV[option.slice("limits.".length) as keyof ReplyLimits] ?? ""}).`,
    );
  }
}

/** `268435456` as `256 MiB (268435456 bytes)`. */
function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const)
    if (n >= size && n % size === 0) return `${n / size} ${unit} (${n} bytes)`;
  return `${n} bytes`;
}

/** undici's error for a reply past `maxResponseSize`, which both engines report alike. */
export const TOO_LARGE_CODE = "UND_ERR_RES_EXCEEDED_MAX_SIZE";

/**
 * The transport: HTTP to one ComfyUI server with auth headers, TLS, per-attempt timeouts and
 * typed errors. It is the only layer that retries: one budget per request
 * ({@link RetryOptions}), and the error after the last attempt names the request and the
 * number of attempts. Routes built on it never retry on their own.
 */
export class Http {
  readonly baseUrl: URL;
  #dispatcher: Dispatcher | undefined;
  readonly #ownsDispatcher: boolean;
  readonly #tls: HttpOptions["tls"];
  readonly #engine: HttpEngine | undefined;
  readonly #headers: Record<string, string>;
  readonly #retry: Required<RetryOptions>;
  readonly #timeout: number;
  readonly #limits: Readonly<Required<ReplyLimits>>;
  /** Every connection of our own pool still open, the WebSocket's upgraded one included. */
  readonly #sockets = new Set<Socket>();
  /**
   * `Date.now()` of the last reply that came from the server itself (any status but a proxy's
   * 502/503/504), or 0: what tells a slow server from a gone one.
   */
  lastReplyAt = 0;

  /**
   * `engine`: the HTTP client requests go through instead of undici; `NodeHttpEngine` (Node's
   * own `node:http`, made with the same `tls`) loads in a fraction of undici's time, for a
   * process that makes a request or two and exits. It reads bodies whole: {@link send} and the
   * WebSocket (which uses {@link dispatcher}) need undici.
   */
  constructor(options: HttpOptions, engine?: HttpEngine) {
    this.baseUrl = parseBaseUrl(options.url);
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher;
    this.#tls = options.tls;
    this.#engine = engine;
    this.#headers = { ...options.headers, ...authHeaders(options.auth) };
    this.#retry = { retries: 4, minDelayMs: 100, maxDelayMs: 2000, ...options.retry };
    this.#timeout = options.timeoutMs ?? 60_000;
    this.#limits = { ...DEFAULT_REPLY_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(this.#limits))
      if (!(Number.isSafeInteger(value) && value > 0))
        throw new ComfycError(
          "USAGE",
          `limits.${name} must be a whole number of bytes above 0, not ${String(value)}`,
          `Leave it out for the default (${DEFAULT_REPLY_LIMITS[name as keyof ReplyLimits]} bytes).`,
        );
  }

  /** The size limits in force (bytes). */
  get limits(): Readonly<Required<ReplyLimits>> {
    return this.#limits;
  }

  /**
   * The undici dispatcher of this server's connections (the WebSocket's too): the one given, or
   * our pool, made (and undici loaded) when first needed.
   */
  get dispatcher(): Dispatcher {
    return (this.#dispatcher ??= new (undici().Agent)({
      connections: 16,
      connect: this.#connector(this.#tls),
      webSocket: { maxPayloadSize: this.#limits.messageBytes },
    }));
  }

  /** Headers for every request, including credentials. */
  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  /** `path` resolved against the base URL (`api/prompt`). */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ""), this.baseUrl);
  }

  /**
   * Sends a request and hands its reply to `read` (which reads the body); both happen inside one
   * attempt, so a connection reset while reading is retried like one while connecting. Before a
   * retry, `recover` may end the request with a value instead (an idempotency check: "did the
   * first attempt already take effect?").
   */
  async request<T>(
    req: HttpRequest,
    read: (res: RawResponse) => Promise<T>,
    recover?: () => Promise<T | undefined>,
  ): Promise<T> {
    const url = this.url(req.path);
    let attempts = 0;
    const attempt = async (): Promise<T> => {
      if (attempts > 0 && recover) {
        const recovered = await recover();
        if (recovered !== undefined) return recovered;
      }
      attempts++;
      const res = await this.#once(req, url);
      try {
        return await read(res);
      } catch (e) {
        // Read failures (a body cut short or malformed) are judged like request failures.
        throw codeParserError(e);
      }
    };
    try {
      if (req.retry === false) return await attempt();
      return await pRetry(attempt, {
        retries: this.#retry.retries,
        minTimeout: this.#retry.minDelayMs,
        maxTimeout: this.#retry.maxDelayMs,
        factor: 2,
        randomize: true,
        ...(req.signal ? { signal: req.signal } : {}),
        shouldRetry: ({ error }) => isTransient(error),
        // A server that said when to come back is asked again no sooner (p-retry awaits this).
        onFailedAttempt: async ({ error }) => {
          const wait = (error as { retryAfterMs?: unknown }).retryAfterMs;
          if (typeof wait === "number" && wait > 0)
            await new Promise((r) => setTimeout(r, wait).unref());
        },
      });
    } catch (e) {
      throw this.#final(unwrap(e), req, url, attempts);
    }
  }

  /** A request whose reply is returned unread (a stream). Needs undici (no `engine`). */
  async send(req: HttpRequest): Promise<RawResponse> {
    if (this.#engine)
      throw new TypeError("Http.send() streams a reply: it needs undici, not an engine");
    return this.request(req, async (res) => res);
  }

  /** A JSON reply parsed losslessly and checked with `schema`; one that does not fit is BAD_SERVER_REPLY. */
  async json<S extends z.ZodType>(req: HttpRequest, schema: S): Promise<z.infer<S>> {
    return this.request(req, async (res) =>
      parseReply(await res.body.text(), schema, `${req.method} ${this.url(req.path)}`),
    );
  }

  /**
   * A reply's body as text, unparsed, within one attempt (a reset while reading is retried):
   * for callers that need the exact bytes, such as `comfyc codegen` hashing `/object_info`.
   */
  async text(req: HttpRequest): Promise<string> {
    return this.request(req, async (res) => res.body.text());
  }

  /** A reply's body as bytes, unparsed and undecoded, within one attempt (like {@link text}). */
  async bytes(req: HttpRequest): Promise<Buffer> {
    return this.request(req, async (res) => {
      const body = await res.body.arrayBuffer();
      return Buffer.from(body, 0, body.byteLength);
    });
  }

  /** A request whose reply body is ignored (ComfyUI answers many with an empty 200). */
  async empty(req: HttpRequest): Promise<void> {
    return this.request(req, async (res) => void (await res.body.dump()));
  }

  /**
   * Closes the connection pool. In-flight requests get `graceMs` to finish, then are aborted:
   * a frozen server must not hold the caller (a CLI exiting) for a whole request timeout. A
   * connection the pool no longer owns (the WebSocket's, after its upgrade) is destroyed too
   * once the grace is over: a frozen server never answers its close frame, and an open socket
   * would keep the process alive.
   */
  async close(graceMs = 1000): Promise<void> {
    await this.#engine?.close(graceMs);
    if (!this.#ownsDispatcher || !this.#dispatcher) return;
    const deadline = Date.now() + graceMs;
    const within = <T>(promise: Promise<T>, late: T): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const wait = new Promise<T>(
        (r) => (timer = setTimeout(() => r(late), deadline - Date.now())),
      );
      return Promise.race([promise, wait]).finally(() => clearTimeout(timer));
    };
    const closed = await within(
      this.dispatcher.close().then(() => true),
      false,
    );
    if (!closed) await this.dispatcher.destroy().catch(() => undefined);
    const open = [...this.#sockets];
    if (open.length === 0) return;
    await within(Promise.all(open.map((s) => new Promise((r) => s.once("close", r)))), undefined);
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** undici's connector (with the TLS settings), remembering each socket until it closes. */
  #connector(tls: HttpOptions["tls"]): UndiciConnector.connector {
    const connect = undici().buildConnector({ ...tls });
    return (options, callback) =>
      connect(options, (...args) => {
        const socket = args[1];
        if (socket) {
          this.#sockets.add(socket);
          socket.once("close", () => this.#sockets.delete(socket));
        }
        callback(...args);
      });
  }

  /** One attempt: connect, send, check the status. */
  async #once(req: HttpRequest, url: URL): Promise<RawResponse> {
    const timeout = req.timeoutMs ?? this.#timeout;
    const maxBytes = this.#maxBytes(req);
    let res: Pick<Dispatcher.ResponseData, "statusCode" | "headers" | "body">;
    try {
      const headers = { ...this.#headers, ...req.headers };
      if (this.#engine) {
        if (req.body !== undefined && typeof req.body !== "string" && !Buffer.isBuffer(req.body))
          throw new TypeError("An Http engine sends string or Buffer bodies only");
        const reply = await this.#engine.request(url, {
          method: req.method,
          headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
          headersTimeout: timeout,
          bodyTimeout: timeout,
          ...(maxBytes !== undefined ? { maxBytes } : {}),
        });
        // The engine's body reads whole, as the readers here read undici's.
        res = { ...reply, body: reply.body as unknown as Dispatcher.ResponseData["body"] };
      } else
        res = await undici().request(url, {
          method: req.method,
          headers,
          body: req.body as Dispatcher.DispatchOptions["body"],
          dispatcher: this.dispatcher,
          signal: req.signal,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
    } catch (cause) {
      if (req.signal?.aborted) throw new AbortError(cancelled(req, url, cause));
      codeParserError(cause);
      // Anything without an error code is a bug of ours, not the network: never retried.
      if (typeof (cause as { code?: unknown } | null)?.code !== "string")
        throw new AbortError(cause as Error);
      // Refused, reset and timed-out connections are retried; TLS and DNS failures will not heal.
      if (!isTransient(cause)) throw new AbortError(cause as Error);
      throw cause;
    }
    if (!PROXY_STATUS.has(res.statusCode)) this.lastReplyAt = Date.now();
    if (!this.#engine && maxBytes !== undefined) {
      // What the engine does on its own: a declared length past the limit is refused unread,
      // and the whole-body readers stop at the limit.
      const declared = declaredTooLarge(res.headers, req.method, res.statusCode, maxBytes);
      if (declared !== undefined) {
        res.body.destroy();
        throw new AbortError(replyTooLarge(res.statusCode, declared));
      }
      limitWholeReads(res.body, maxBytes, res.statusCode);
    }
    const accept = req.accept ?? ((s: number) => s >= 200 && s < 300);
    if (!accept(res.statusCode)) {
      const text = await res.body.text().catch(() => "");
      const error = new ServerStatusError(res.statusCode, req.method, url.toString(), text);
      const retryAfterMs =
        res.statusCode === 429 && req.honourRetryAfter ? retryAfter(res.headers) : undefined;
      if (retryAfterMs !== undefined && retryAfterMs <= MAX_RETRY_AFTER_MS) {
        Object.assign(error, { retryAfterMs });
        throw error;
      }
      if (!TRANSIENT_STATUS.has(res.statusCode)) throw new AbortError(error);
      throw error;
    }
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** The byte limit of a request's reply body, or undefined for none. */
  #maxBytes(req: HttpRequest): number | undefined {
    const limit = req.limit ?? "replyBytes";
    const max = Math.min(
      limit === "none" ? Number.POSITIVE_INFINITY : this.#limits[limit],
      req.maxBytes ?? Number.POSITIVE_INFINITY,
    );
    return Number.isFinite(max) ? max : undefined;
  }

  /**
   * `body` (a stream of a {@link send} reply) cut off with a {@link ReplyTooLargeError} once it
   * passes the request's limit (`limit`, `maxBytes`): a file download that never ends fails
   * there instead of filling memory or the disk. The source is destroyed (its connection
   * closed) as soon as the limit is passed.
   */
  limitStream(body: Readable, req: HttpRequest): Readable {
    const max = this.#maxBytes(req);
    if (max === undefined) return body;
    let length = 0;
    const url = this.url(req.path).toString();
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        length += chunk.length;
        if (length <= max) return callback(null, chunk);
        callback(new ReplyTooLargeError(req.method, url, max, limitOption(req)));
      },
    });
    // pipeline destroys the source when the counter fails, and the counter when the source does.
    return pipeline(body, counted, () => undefined);
  }

  /** The error the caller sees: the request, the attempts made and the last reason. */
  #final(e: unknown, req: HttpRequest, url: URL, attempts: number): unknown {
    if (req.signal?.aborted && !(e instanceof ComfycError)) return cancelled(req, url, e);
    if (e instanceof ServerStatusError)
      return attempts > 1
        ? new ServerStatusError(e.status!, e.method, e.url, e.bodyText, attempts)
        : e;
    if (e instanceof ComfycError) return e;
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code !== "string") return e;
    if (code === TOO_LARGE_CODE) {
      const { status, declared } = e as { status?: number; declared?: number };
      return new ReplyTooLargeError(
        req.method,
        url.toString(),
        this.#maxBytes(req) ?? 0,
        limitOption(req),
        declared,
        status,
      );
    }
    return new HttpError(
      "SERVER_UNREACHABLE",
      req.method,
      url.toString(),
      Math.max(1, attempts),
      undefined,
      `cannot reach ${url.origin}: ${(e as Error).message}`,
      code.startsWith("ERR_TLS") || /certificate/i.test((e as Error).message)
        ? "Check the server's TLS certificate, or pass { tls: { ca } } (comfyc: NODE_EXTRA_CA_CERTS)."
        : "Check that ComfyUI is running at this URL (and its TLS settings for https).",
      { cause: e },
    );
  }
}

/** The client option that raises a request's limit, for the error's hint. */
function limitOption(req: HttpRequest): string {
  return `limits.${req.limit === undefined || req.limit === "none" ? "replyBytes" : req.limit}`;
}

/**
 * Makes undici's whole-body readers of `body` (`text`, `json`, `arrayBuffer`, `bytes`) stop at
 * `maxBytes`: they read the stream chunk by chunk (undici pauses the socket between reads) and
 * destroy it, closing the connection, with {@link replyTooLarge} once the limit is passed.
 * `text` decodes as undici's does (UTF-8, a byte order mark skipped).
 */
function limitWholeReads(body: RawResponse["body"], maxBytes: number, status: number): void {
  const whole = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > maxBytes) {
        const e = replyTooLarge(status);
        body.destroy(e);
        throw e;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, length);
  };
  const text = async () => {
    const b = await whole();
    const bom = b.length > 2 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
    return b.toString("utf8", bom ? 3 : 0);
  };
  Object.assign(body, {
    text,
    json: async () => JSON.parse(await text()) as unknown,
    arrayBuffer: async () => {
      const b = await whole();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    },
    bytes: async () => new Uint8Array(await whole()),
  });
}

function cancelled(req: HttpRequest, url: URL, cause: unknown): ComfycError {
  return new ComfycError(
    "CANCELLED",
    `${req.method} ${url} was aborted`,
    "The caller aborted it.",
    {
      cause,
    },
  );
}

/** The base URL with a trailing slash; a `USAGE` error for anything that is not http(s). */
export function parseBaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url.endsWith("/") ? url : `${url}/`);
  } catch (cause) {
    throw new ComfycError(
      "USAGE",
      `Not a server URL: ${JSON.stringify(url)}`,
      "Use a URL such as http://127.0.0.1:8188.",
      { cause },
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new ComfycError(
      "USAGE",
      `Unsupported URL scheme ${parsed.protocol} in ${JSON.stringify(url)}`,
      "Use http:// or https://, such as http://127.0.0.1:8188.",
    );
  return parsed;
}

/** Parses a JSON reply (lossless for big integers) and checks its shape. */
export function parseReply<S extends z.ZodType>(text: string, schema: S, what: string): z.infer<S> {
  return checkReply(parseReplyJson(text, what), schema, what);
}

/** The JSON of a reply, parsed losslessly; `BAD_SERVER_REPLY` when it is not JSON. */
export function parseReplyJson(text: string, what: string, options?: ParseJsonOptions): unknown {
  try {
    return parseJsonLossless(text, options);
  } catch (cause) {
    throw new ComfycError(
      "BAD_SERVER_REPLY",
      `${what} did not return JSON: ${JSON.stringify(text.slice(0, 120))}`,
      "Is this URL a ComfyUI server (or a proxy in front of one)?",
      { cause },
    );
  }
}

/** A parsed reply checked against its schema; `BAD_SERVER_REPLY` naming the first problem. */
export function checkReply<S extends z.ZodType>(raw: unknown, schema: S, what: string): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComfycError(
      "BAD_SERVER_REPLY",
      `${what} returned an unexpected reply: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
      "Is this URL a ComfyUI server (or a proxy in front of one), and a version comfyc supports?",
    );
  }
  return parsed.data;
}

function authHeaders(auth: ClientAuth | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!auth) return out;
  if (auth.apiKey) out["x-api-key"] = auth.apiKey;
  if (auth.bearer) out["authorization"] = `Bearer ${auth.bearer}`;
  else if (auth.basic)
    out["authorization"] =
      `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString("base64")}`;
  return out;
}

/** `Retry-After` in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent. */
function retryAfter(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = headers["retry-after"];
  const v = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * undici 7 reports a reply its parser rejects as an `HTTPParserError` without llhttp's code (it
 * looks the error number up in a table of names), which the transport would take for a bug of
 * ours: it is a server that does not speak HTTP, and gets the code `HPE_UNKNOWN`
 * (`NodeHttpEngine` reports llhttp's own). Returns `e`.
 */
function codeParserError(e: unknown): unknown {
  if (
    (e as Error | null)?.name === "HTTPParserError" &&
    typeof (e as { code?: unknown }).code !== "string"
  )
    Object.assign(e as Error, { code: "HPE_UNKNOWN" });
  return e;
}

function unwrap(e: unknown): unknown {
  if (e instanceof AbortError)
    return (e as AbortError & { originalError?: unknown }).originalError ?? e.cause ?? e;
  return e;
}
