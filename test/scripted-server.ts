import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

/**
 * A minimal server speaking ComfyUI's routes and socket from a script, for feeding the client
 * exact message sequences recorded from real servers (which the test server does not produce):
 * `POST /prompt` accepts, `GET /history/{id}` answers from `history`, `GET /queue` lists
 * `running`, and `send()` writes raw text frames to every connected `/ws`.
 */
export interface ScriptedServer {
  readonly url: string;
  /** History entries by prompt id, as `GET /history/{id}` returns them. */
  readonly history: Map<string, unknown>;
  /** Prompt ids `GET /queue` reports as running. */
  readonly running: Set<string>;
  /** Every request, as `"METHOD /path"`. */
  readonly requests: string[];
  /** Sends frames (objects are JSON-encoded) to every open socket. */
  send(...frames: (object | string)[]): void;
  /** Resolves once `count` sockets are connected. */
  sockets(count?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  const history = new Map<string, unknown>();
  const running = new Set<string>();
  const requests: string[] = [];
  const open = new Set<WebSocket>();
  const waiters: (() => void)[] = [];
  const json = (res: import("node:http").ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname.replace(/^\/api/, "");
    requests.push(`${req.method} ${path}`);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && path === "/prompt") {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { prompt_id: string };
        return json(res, 200, { prompt_id: body.prompt_id, number: 1, node_errors: {} });
      }
      if (path === "/queue")
        return json(res, 200, {
          queue_running: [...running].map((id, i) => [i, id, {}, {}, []]),
          queue_pending: [],
        });
      const m = /^\/history\/(.+)$/.exec(path);
      if (m) {
        const id = decodeURIComponent(m[1]!);
        return json(res, 200, history.has(id) ? { [id]: history.get(id) } : {});
      }
      if (req.method === "POST") return res.writeHead(200).end();
      res.writeHead(404).end();
    });
  });
  const wss = new WebSocketServer({ server, path: "/api/ws" });
  wss.on("connection", (ws) => {
    open.add(ws);
    ws.on("close", () => open.delete(ws));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    history,
    running,
    requests,
    send: (...frames) => {
      for (const frame of frames) {
        const text = typeof frame === "string" ? frame : JSON.stringify(frame);
        for (const ws of open) ws.send(text);
      }
    },
    sockets: async (count = 1) => {
      while (open.size < count) await new Promise<void>((r) => waiters.push(r));
    },
    close: async () => {
      for (const ws of open) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
