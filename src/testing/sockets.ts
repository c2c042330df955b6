import { randomUUID } from "node:crypto";
import type { WebSocket } from "ws";
import { stringifyJson } from "../protocol/json.js";
import type { WsMessageData, WsMessageType } from "../protocol/messages.js";

/** Binary frame event codes (protocol §3.4). */
export const BINARY = { PREVIEW_IMAGE: 1, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 } as const;

/** A listener of {@link SocketHub.tap}: the message's type, data and target client id. */
export type MessageTap = (type: WsMessageType, data: unknown, sid: string | undefined) => void;

/** A listener of {@link SocketHub.tapBinary}: the whole frame (event type first) and target. */
export type BinaryTap = (frame: Buffer, sid: string | undefined) => void;

interface Client {
  readonly socket: WebSocket;
  readonly sid: string;
  flags: Record<string, unknown> | undefined;
  /** Scripted drop: close after this many more messages (0 = at the next one). */
  dropAfter: number | undefined;
}

/**
 * The server's socket table, keyed by client id, and the message routing of protocol §3.5:
 * a message either goes to one client id or is broadcast.
 */
export class SocketHub {
  readonly #clients = new Map<string, Client>();
  /**
   * Recent messages sent, for tests and benchmarks that inspect traffic:
   * [sid or "*", type or "binary", `performance.now()` when sent]. Capped, so a long-running
   * server does not grow without bound.
   */
  readonly log: [string, string, number][] = [];

  add(socket: WebSocket, requestedId: string | null): Client {
    // Without a clientId the server mints uuid4().hex (32 hex digits, no dashes).
    const sid = requestedId || randomUUID().replace(/-/g, "");
    const client: Client = { socket, sid, flags: undefined, dropAfter: undefined };
    // A reused id replaces the older socket; the per-connection check below keeps a stale
    // socket's close from unregistering the new one (the newer servers' behaviour).
    this.#clients.set(sid, client);
    socket.on("close", () => {
      if (this.#clients.get(sid) === client) this.#clients.delete(sid);
    });
    return client;
  }

  get(sid: string): Client | undefined {
    return this.#clients.get(sid);
  }

  get size(): number {
    return this.#clients.size;
  }

  /**
   * Sends a JSON message to `sid`, or to everyone when `sid` is undefined. `data` has the
   * protocol's shape for `type` (the one the client's parser reads).
   */
  send<K extends WsMessageType>(type: K, data: WsMessageData<K>, sid?: string): void {
    const text = stringifyJson({ type, data });
    for (const tap of this.#taps) tap(type, data, sid);
    this.#deliver(text, type, sid);
  }

  readonly #taps = new Set<MessageTap>();

  /**
   * Sees every JSON message the server sends, to any client or none (as a proxy connected to
   * ComfyUI with its own client id would): the Comfy API v2 routes follow jobs with it.
   * Returns the function that removes the tap.
   */
  tap(listener: MessageTap): () => void {
    this.#taps.add(listener);
    return () => this.#taps.delete(listener);
  }

  readonly #binaryTaps = new Set<BinaryTap>();

  /**
   * Sees every binary frame the server sends (previews, text), as {@link tap} sees JSON ones.
   * Returns the function that removes the tap.
   */
  tapBinary(listener: BinaryTap): () => void {
    this.#binaryTaps.add(listener);
    return () => this.#binaryTaps.delete(listener);
  }

  /** Holds every frame from now on (a frozen server sends nothing) until {@link resume}. */
  pause(): void {
    this.#held ??= [];
  }

  /** Sends the frames held since {@link pause}, in order, and goes back to sending at once. */
  resume(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const send of held) send();
  }

  /** Sends a binary frame: 4-byte big-endian event type, then the payload. */
  sendBinary(event: number, payload: Buffer, sid?: string): void {
    const frame = Buffer.alloc(4 + payload.length);
    frame.writeUInt32BE(event, 0);
    payload.copy(frame, 4);
    for (const tap of this.#binaryTaps) tap(frame, sid);
    this.#deliver(frame, "binary", sid);
  }

  /** Whether the client `sid` declared `supports_preview_metadata`. */
  supportsPreviewMetadata(sid: string | undefined): boolean {
    return (
      sid !== undefined && this.#clients.get(sid)?.flags?.["supports_preview_metadata"] === true
    );
  }

  /** Scripted fault: drop every socket now, or after `afterMessages` more messages each. */
  drop(afterMessages?: number): void {
    for (const client of this.#clients.values()) {
      if (afterMessages === undefined || afterMessages <= 0) client.socket.terminate();
      else client.dropAfter = afterMessages;
    }
  }

  closeAll(): void {
    for (const client of this.#clients.values()) client.socket.terminate();
    this.#clients.clear();
  }

  #held: (() => void)[] | undefined;

  #deliver(payload: string | Buffer, type: string, sid: string | undefined): void {
    if (this.#held) {
      this.#held.push(() => this.#deliver(payload, type, sid));
      return;
    }
    const targets =
      sid === undefined
        ? [...this.#clients.values()]
        : [this.#clients.get(sid)].filter((c) => c !== undefined);
    pushCapped(this.log, [sid ?? "*", type, performance.now()]);
    for (const client of targets) {
      if (client.socket.readyState !== client.socket.OPEN) continue;
      if (client.dropAfter !== undefined) {
        if (client.dropAfter <= 0) {
          client.socket.terminate();
          continue;
        }
        client.dropAfter--;
      }
      client.socket.send(payload);
    }
  }
}

/** How many entries the test server's traffic logs keep. */
export const LOG_CAP = 50_000;

/** Appends to a log, dropping the oldest half once it holds {@link LOG_CAP} entries. */
export function pushCapped<T>(log: T[], entry: T): void {
  if (log.length >= LOG_CAP) log.splice(0, LOG_CAP / 2);
  log.push(entry);
}
