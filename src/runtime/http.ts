import pRetry, { AbortError } from "p-retry";
import { Agent, request, type Dispatcher, type FormData } from "undici";
import type { z } from "zod";
import { ComfycError } from "../errors.js";
import { parseJsonLossless } from "../protocol/json.js";

/** Credentials sent on every HTTP request and on the WebSocket upgrade. */
export interface ClientAuth {
  /** Sent as `X-API-Key`. */
  readonly apiKey?: string;
  /** Sent as `Authorization: Bearer …`. */
  readonly bearer?: string;
  /** Sent as `Authorization: Basic …`. */
  readonly basic?: { readonly username: string; readonly password: string };
}

/** Bounded retries of transient failures, with exponential backoff and jitter. */
export interface RetryOptions {
  /** Attempts after the first (default 4). */
  readonly retries?: number;
  /** First delay in ms (default 200). */
  readonly minDelayMs?: number;
  /** Largest delay in ms (default 5000). */
  readonly maxDelayMs?: number;
}

/** How to reach a server. */
export interface HttpOptions {
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
  /** Per-request timeout for headers and body, in ms (default 60000). */
  readonly timeoutMs?: number;
  /** Use this undici dispatcher instead of creating a pool. */
  readonly dispatcher?: Dispatcher;
}

/** A response whose status is known and whose body has not been read. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData["body"];
}

/** Per-request settings. */
export interface SendOptions {
  readonly body?: string | Buffer | FormData;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Retry transient failures (default true). */
  readonly retry?: boolean;
  /** Statuses returned to the caller instead of thrown (default: 2xx). */
  readonly accept?: (status: number) => boolean;
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
]);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);

/** True for failures worth retrying: refused or reset connections, 5xx. */
export function isTransient(e: unknown): boolean {
  if (e instanceof ComfycError)
    return (
      e.code === "SERVER_UNREACHABLE" ||
      (e.code === "SERVER_ERROR" && TRANSIENT_STATUS.has((e as ServerStatusError).status))
    );
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** An HTTP status the caller did not accept. */
export class ServerStatusError extends ComfycError {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly url: string,
    readonly bodyText: string,
  ) {
    super(
      status === 401 || status === 403
        ? "AUTH_FAILED"
        : status === 404
          ? "NOT_FOUND"
          : "SERVER_ERROR",
      `${method} ${url} answered ${status}${bodyText ? `: ${bodyText.slice(0, 300).trim()}` : ""}`,
      status === 401 || status === 403
        ? "Pass credentials: { auth: { bearer | apiKey | basic } } or --header."
        : status === 404
          ? "Check the URL: it should be the server's base URL, such as http://127.0.0.1:8188."
          : "Check the server's log; the request was retried where that was safe.",
    );
  }
}

/** HTTP to one ComfyUI server: auth headers, TLS, timeouts, retries, typed errors. */
export class Http {
  readonly baseUrl: URL;
  readonly dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #headers: Record<string, string>;
  readonly #retry: Required<RetryOptions>;
  readonly #timeout: number;

  constructor(options: HttpOptions) {
    try {
      this.baseUrl = new URL(options.url.endsWith("/") ? options.url : `${options.url}/`);
    } catch (cause) {
      throw new ComfycError(
        "USAGE",
        `Not a server URL: ${JSON.stringify(options.url)}`,
        "Use a URL such as http://127.0.0.1:8188.",
        { cause },
      );
    }
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({ connections: 16, connect: options.tls ? { ...options.tls } : {} });
    this.#headers = { ...options.headers, ...authHeaders(options.auth) };
    this.#retry = { retries: 4, minDelayMs: 200, maxDelayMs: 5000, ...options.retry };
    this.#timeout = options.timeoutMs ?? 60_000;
  }

  /** Headers for every request, including credentials. */
  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  /** `path` resolved against the base URL (`api/prompt`). */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ""), this.baseUrl);
  }

  /** Sends a request; retries transient failures unless `retry: false`. */
  async send(method: string, path: string, options: SendOptions = {}): Promise<RawResponse> {
    const attempt = async () => {
      const url = this.url(path);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: method as Dispatcher.HttpMethod,
          headers: { ...this.#headers, ...options.headers },
          body: options.body as Dispatcher.DispatchOptions["body"],
          dispatcher: this.dispatcher,
          signal: options.signal,
          headersTimeout: this.#timeout,
          bodyTimeout: this.#timeout,
        });
      } catch (cause) {
        if (options.signal?.aborted)
          throw new AbortError(
            new ComfycError("CANCELLED", `${method} ${url} was aborted`, "The caller aborted it.", {
              cause,
            }),
          );
        // Anything without an error code is a bug of ours, not the network: never retried.
        if (typeof (cause as { code?: unknown } | null)?.code !== "string")
          throw new AbortError(cause as Error);
        const error = new ComfycError(
          "SERVER_UNREACHABLE",
          `Cannot reach ${url.origin}: ${(cause as Error).message}`,
          "Check that ComfyUI is running at this URL (and its TLS settings for https).",
          { cause },
        );
        // Refused or reset connections are retried; TLS and DNS failures will not heal.
        if (!isTransient(cause)) throw new AbortError(error);
        throw error;
      }
      const accept = options.accept ?? ((s: number) => s >= 200 && s < 300);
      if (!accept(res.statusCode)) {
        const text = await res.body.text().catch(() => "");
        const error = new ServerStatusError(res.statusCode, method, url.toString(), text);
        if (!TRANSIENT_STATUS.has(res.statusCode)) throw new AbortError(error);
        throw error;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body };
    };
    if (options.retry === false) return unwrapAbort(attempt);
    return this.withRetry(attempt, options.signal);
  }

  /** Runs `fn` with this client's retry policy; a thrown `AbortError` stops retrying. */
  async withRetry<T>(fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await pRetry(fn, {
        retries: this.#retry.retries,
        minTimeout: this.#retry.minDelayMs,
        maxTimeout: this.#retry.maxDelayMs,
        factor: 2,
        randomize: true,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => isTransient(error),
      });
    } catch (e) {
      throw unwrap(e);
    }
  }

  /** GET/POST returning JSON parsed with `schema`; a reply that does not fit is BAD_SERVER_REPLY. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: SendOptions = {},
  ): Promise<z.infer<S>> {
    const res = await this.send(method, path, options);
    return parseReply(await res.body.text(), schema, `${method} ${this.url(path)}`);
  }

  /** A request whose reply body is ignored (ComfyUI answers many with an empty 200). */
  async empty(method: string, path: string, options: SendOptions = {}): Promise<void> {
    const res = await this.send(method, path, options);
    await res.body.dump();
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.dispatcher.close();
  }
}

/** Parses a JSON reply (lossless for big integers) and checks its shape. */
export function parseReply<S extends z.ZodType>(text: string, schema: S, what: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = parseJsonLossless(text);
  } catch (cause) {
    throw new ComfycError(
      "BAD_SERVER_REPLY",
      `${what} did not return JSON: ${JSON.stringify(text.slice(0, 120))}`,
      "Is this URL a ComfyUI server (or a proxy in front of one)?",
      { cause },
    );
  }
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

async function unwrapAbort<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw unwrap(e);
  }
}

function unwrap(e: unknown): unknown {
  if (e instanceof AbortError)
    return (e as AbortError & { originalError?: unknown }).originalError ?? e.cause ?? e;
  return e;
}
