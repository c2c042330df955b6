import { ServerResponse, type IncomingMessage } from "node:http";
import { sendText, TEXT_500 } from "./http.js";

/** An HTTP fault: what to answer, to which requests, how often. */
export interface HttpFault {
  /** The status to answer, or `"reset"` to cut the connection (default 500). */
  readonly status?: 500 | 502 | 503 | "reset";
  /** How many matching requests fail (default 1, or unlimited with `rate`). */
  readonly count?: number;
  /** The share of matching requests that fail, 0–1, drawn from a seeded random source. */
  readonly rate?: number;
  /** The seed of that random source (default 1): the same seed fails the same requests. */
  readonly seed?: number;
  /** Only requests whose path matches. */
  readonly path?: RegExp;
  /**
   * Process the request first and lose only its reply, as when a proxy times out after ComfyUI
   * accepted a prompt.
   */
  readonly afterHandling?: boolean;
}

/**
 * Scripted faults of the test server: failing or reset HTTP replies, added latency, requests of
 * one route that never get an answer, and a freeze that stops everything (HTTP replies, socket
 * frames, node execution) the way `kill -STOP` stops a real server, until thawed.
 */
export class Faults {
  #fault:
    | {
        status: NonNullable<HttpFault["status"]>;
        count: number;
        rate: number;
        afterHandling: boolean;
        path?: RegExp;
        random: () => number;
      }
    | undefined;
  latencyMs = 0;
  #frozen: { promise: Promise<void>; thaw: () => void } | undefined;
  #hanging: { path: RegExp; promise: Promise<void>; release: () => void } | undefined;

  /** Sets the HTTP fault (replacing the previous one); `{ count: 0 }` clears it. */
  failHttp(fault: HttpFault): void {
    this.#fault = {
      status: fault.status ?? 500,
      count: fault.count ?? (fault.rate ? 0 : 1),
      rate: fault.rate ?? 0,
      afterHandling: fault.afterHandling === true,
      random: seededRandom(fault.seed ?? 1),
      ...(fault.path ? { path: fault.path } : {}),
    };
  }

  /** Stops answering until {@link thaw}: requests hang, frames and nodes wait. */
  freeze(): void {
    if (this.#frozen) return;
    let thaw!: () => void;
    const promise = new Promise<void>((r) => (thaw = r));
    this.#frozen = { promise, thaw };
  }

  /**
   * Holds every request whose path matches `path` without an answer (its connection open) until
   * {@link thaw}; the rest of the server answers as usual.
   */
  hang(path: RegExp): void {
    this.#hanging?.release();
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.#hanging = { path, promise, release };
  }

  thaw(): void {
    const frozen = this.#frozen;
    this.#frozen = undefined;
    frozen?.thaw();
    const hanging = this.#hanging;
    this.#hanging = undefined;
    hanging?.release();
  }

  get frozen(): boolean {
    return this.#frozen !== undefined;
  }

  /** Resolves at once, or when the server is thawed. */
  async whileFrozen(): Promise<void> {
    while (this.#frozen) await this.#frozen.promise;
  }

  /**
   * Applies latency, freeze, hang and the HTTP fault to a request; true when the fault answered it
   * (`respond` is then only called for `afterHandling`, into a reply nobody receives).
   */
  async intercept(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    respond: (res: ServerResponse) => Promise<void>,
  ): Promise<boolean> {
    await this.whileFrozen();
    if (this.#hanging?.path.test(path)) await this.#hanging.promise;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const fault = this.#fault;
    if (!fault || (fault.path && !fault.path.test(path))) return false;
    const hit = fault.count > 0 || (fault.rate > 0 && fault.random() < fault.rate);
    if (!hit) return false;
    if (fault.count > 0) fault.count--;
    if (fault.afterHandling) await respond(new ServerResponse(req));
    if (fault.status === "reset") {
      req.socket.destroy();
      return true;
    }
    sendText(res, fault.status, fault.status === 503 ? "503 Service Unavailable" : TEXT_500);
    return true;
  }
}

/** mulberry32: a small, fast, seeded PRNG, so fault-rate tests fail the same requests every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
