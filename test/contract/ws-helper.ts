import { parseJsonLossless } from "../../src/protocol/json.js";
import WebSocket from "ws";

/** A raw WebSocket client recording everything, for protocol-level tests. */
export interface RawSocket {
  readonly messages: { type: string; data: any }[];
  readonly binary: Buffer[];
  send(value: unknown): void;
  /**
   * Resolves with the first message (since connecting) that matches; rejects after
   * `timeoutMs` (default 60 s, a bound on a hang, not a timing) listing what arrived.
   */
  waitFor(
    predicate: (m: { type: string; data: any }) => boolean,
    timeoutMs?: number,
  ): Promise<{ type: string; data: any }>;
  /** Resolves once `n` messages (since connecting) match, with the n-th. */
  waitForNth(
    predicate: (m: { type: string; data: any }) => boolean,
    n: number,
    timeoutMs?: number,
  ): Promise<{ type: string; data: any }>;
  /**
   * Resolves once every frame the server sent before this call has arrived: sends the client's
   * `feature_flags` and waits for the server's answer, which it writes after them on the same
   * connection. Once per socket (the server reads only a socket's first message); the answer
   * is a `feature_flags` message in {@link messages}.
   */
  sync(): Promise<void>;
  /** Resolves when the connection has closed (by either side). */
  readonly closed: Promise<void>;
  close(): void;
}

export async function rawSocket(
  baseUrl: string,
  clientId?: string,
  headers: Record<string, string> = {},
): Promise<RawSocket> {
  const url = `${baseUrl.replace(/^http/, "ws")}/ws${clientId ? `?clientId=${encodeURIComponent(clientId)}` : ""}`;
  const ws = new WebSocket(url, { headers });
  const messages: { type: string; data: any }[] = [];
  const binary: Buffer[] = [];
  const waiters: {
    predicate: (m: { type: string; data: any }) => boolean;
    resolve: (m: any) => void;
  }[] = [];
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      binary.push(data as Buffer);
      return;
    }
    const m = JSON.parse(data.toString());
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.predicate(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
  function waitForNth(
    predicate: (m: { type: string; data: any }) => boolean,
    n: number,
    timeoutMs = 60_000,
  ): Promise<{ type: string; data: any }> {
    const seen = messages.filter(predicate);
    if (seen.length >= n) return Promise.resolve(seen[n - 1]!);
    let count = seen.length;
    return new Promise((resolve, reject) => {
      // A bound on a hang (the message never comes), not a timing: it names what did arrive.
      const timer = setTimeout(
        () => reject(new Error(`timed out; got ${messages.map((m) => m.type).join(",")}`)),
        timeoutMs,
      );
      waiters.push({
        predicate: (m) => predicate(m) && ++count >= n,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
      });
    });
  }
  return {
    messages,
    binary,
    send: (v) => ws.send(JSON.stringify(v)),
    waitFor: (predicate, timeoutMs) => waitForNth(predicate, 1, timeoutMs),
    waitForNth,
    sync: async () => {
      ws.send(JSON.stringify({ type: "feature_flags", data: {} }));
      await waitForNth((m) => m.type === "feature_flags", 1);
    },
    closed,
    close: () => ws.close(),
  };
}

/** POST JSON and return status, content type and parsed (or raw) body. */
export async function post(
  url: string,
  body: unknown,
  raw = false,
): Promise<{ status: number; type: string | null; body: any; text: string }> {
  const res = await fetch(url, {
    method: "POST",
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? parseJsonLossless(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, type: res.headers.get("content-type"), body: parsed, text };
}

export async function get(
  url: string,
): Promise<{ status: number; type: string | null; body: any; headers: Headers; bytes: Buffer }> {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  let parsed: unknown;
  try {
    // The server writes Python's JSON: a prompt's NaN comes back as NaN.
    parsed = parseJsonLossless(bytes.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: parsed,
    headers: res.headers,
    bytes,
  };
}
