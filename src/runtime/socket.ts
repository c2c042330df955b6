import pRetry from "p-retry";
import { WebSocket, type Dispatcher } from "undici";
import {
  parseBinaryFrame,
  parseWsMessage,
  type BinaryFrame,
  type WsMessage,
} from "../protocol/messages.js";

/** Settings of the client's WebSocket. */
export interface SocketOptions {
  readonly url: URL;
  readonly clientId: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher: Dispatcher;
  /** Reconnect delays (exponential with jitter). */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Message types to parse and pass on (default: all known types). */
  readonly wanted?: ReadonlySet<string>;
  readonly onMessage: (message: WsMessage) => void;
  readonly onBinary: (frame: BinaryFrame) => void;
  /** Called on every (re)connection, with `true` after a drop. */
  readonly onOpen: (reconnected: boolean) => void;
  readonly onClose: () => void;
}

/** How long a socket that never opened waits before trying again. */
const UNAVAILABLE_COOLDOWN_MS = 30_000;

/**
 * One WebSocket to `/ws?clientId=`, shared by every job of a client, that reconnects with
 * backoff and jitter when dropped. It announces `supports_preview_metadata` so previews carry
 * their prompt and node ids. Reconnects reuse the client id once the old socket is closed, so
 * the server keeps routing the client's prompts here.
 */
export class ComfySocket {
  #socket: WebSocket | undefined;
  #closed = false;
  #opened = false;
  #connecting: Promise<void> | undefined;
  #retryAfter = 0;
  /** Increases on every (re)connection: a job that saw one epoch throughout missed nothing. */
  epoch = 0;
  /** `Date.now()` of the last open or frame (text or binary), or 0: a sign of life of the server. */
  lastMessageAt = 0;

  constructor(readonly options: SocketOptions) {}

  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /**
   * Connects (once); resolves when open. Reconnects happen in the background afterwards. When a
   * first connection cannot be made at all (a proxy without WebSocket support, say), later
   * calls fail fast for a while instead of each paying the retries again; jobs then complete
   * by polling.
   */
  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (!this.#opened && Date.now() < this.#retryAfter)
      return Promise.reject(new Error("WebSocket unavailable; polling instead"));
    this.#connecting ??= this.#connectWithRetry()
      .catch((e: unknown) => {
        if (!this.#opened) this.#retryAfter = Date.now() + UNAVAILABLE_COOLDOWN_MS;
        throw e;
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  close(): void {
    this.#closed = true;
    this.#socket?.close();
  }

  async #connectWithRetry(): Promise<void> {
    await pRetry(() => this.#connectOnce(), {
      // A first connection gets two quick retries (~0.6 s at most): a server that refuses it
      // usually refuses HTTP too, and that error (with its own budget) is the one to report.
      retries: this.#opened ? Number.POSITIVE_INFINITY : 2,
      minTimeout: this.options.minDelayMs ?? 100,
      maxTimeout: this.options.maxDelayMs ?? 5000,
      factor: 2,
      randomize: true,
      shouldRetry: () => !this.#closed,
    });
  }

  #connectOnce(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const url = new URL(this.options.url);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.pathname = `${url.pathname.replace(/\/$/, "")}/api/ws`;
    url.searchParams.set("clientId", this.options.clientId);
    return new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: { ...this.options.headers },
        dispatcher: this.options.dispatcher,
      });
      socket.binaryType = "arraybuffer";
      let open = false;
      const timer = setTimeout(() => socket.close(), 10_000);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        open = true;
        const reconnected = this.#opened;
        this.#opened = true;
        this.#socket = socket;
        this.epoch++;
        this.lastMessageAt = Date.now();
        socket.send(
          JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }),
        );
        this.options.onOpen(reconnected);
        resolve();
      });
      socket.addEventListener("message", (event) => {
        this.lastMessageAt = Date.now();
        if (typeof event.data === "string") {
          const message = parseWsMessage(event.data, this.options.wanted);
          if (message) this.options.onMessage(message);
        } else {
          const frame = parseBinaryFrame(new Uint8Array(event.data as ArrayBuffer));
          if (frame) this.options.onBinary(frame);
        }
      });
      socket.addEventListener("error", () => {
        if (!open) {
          clearTimeout(timer);
          reject(new Error(`WebSocket to ${url.origin} failed`));
        }
      });
      socket.addEventListener("close", () => {
        clearTimeout(timer);
        if (!open) {
          reject(new Error(`WebSocket to ${url.origin} closed before opening`));
          return;
        }
        if (this.#socket === socket) this.#socket = undefined;
        this.options.onClose();
        if (!this.#closed) void this.connect().catch(() => undefined);
      });
    });
  }
}
