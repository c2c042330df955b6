import fc from "fast-check";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve, sep } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { isComfycError } from "comfyc";
import { ComfyClient } from "comfyc/runtime";
import { tempDir } from "../helpers.js";

/** What the hostile server answers, swapped per fast-check run. */
interface Script {
  frames: (promptId: string) => (string | Buffer)[];
  history: (promptId: string) => string;
  queue: string;
}
let script: Script;
let http: Server;
let wss: WebSocketServer;
let url: string;
const sockets = new Set<WebSocket>();

beforeAll(async () => {
  http = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname.replace(/^\/api/, "");
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (path === "/prompt") {
        const promptId = (JSON.parse(body) as { prompt_id: string }).prompt_id;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ prompt_id: promptId, number: 1, node_errors: {} }));
        // The socket then gets the scripted frames for this prompt.
        for (const ws of sockets) for (const f of script.frames(promptId)) ws.send(f);
        return;
      }
      if (path.startsWith("/history/")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(script.history(decodeURIComponent(path.slice("/history/".length))));
        return;
      }
      if (path === "/queue") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(script.queue);
        return;
      }
      if (path === "/view") {
        res.writeHead(200).end("bytes");
        return;
      }
      res.writeHead(200).end();
    });
  });
  wss = new WebSocketServer({ server: http });
  wss.on("connection", (ws) => {
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  wss.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

const TYPES = [
  "execution_start",
  "execution_cached",
  "executing",
  "progress",
  "progress_state",
  "executed",
  "execution_success",
  "execution_error",
  "execution_interrupted",
  "status",
  "crystools.monitor",
];
/** A frame: JSON about our prompt with arbitrary data, raw garbage, or random binary. */
const frame = fc.oneof(
  fc.record({
    type: fc.constantFrom(...TYPES),
    data: fc.dictionary(
      fc.constantFrom(
        "node",
        "output",
        "nodes",
        "value",
        "max",
        "display_node",
        "exception_type",
        "traceback",
      ),
      fc.jsonValue({ maxDepth: 3 }),
    ),
    own: fc.boolean(),
  }),
  fc.string(),
  fc.uint8Array({ maxLength: 40 }),
);
const historyReply = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({
    outputs: fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 3 })),
    status: fc.jsonValue({ maxDepth: 2 }),
  }),
);

test("arbitrary frames and replies: every job settles with a result or a typed error, files stay inside", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frame, { maxLength: 12 }),
      historyReply,
      fc.boolean(),
      async (frames, history, wrapHistory) => {
        script = {
          frames: (promptId) =>
            frames.map((f) => {
              if (f instanceof Uint8Array) return Buffer.from(f);
              if (typeof f === "string") return f;
              return JSON.stringify({
                type: f.type,
                data: f.own ? { ...f.data, prompt_id: promptId } : f.data,
              });
            }),
          history: (promptId) => JSON.stringify(wrapHistory ? { [promptId]: history } : history),
          queue: JSON.stringify({ queue_running: [], queue_pending: [] }),
        };
        const client = new ComfyClient({
          url,
          retry: { retries: 1, minDelayMs: 5, maxDelayMs: 10 },
          pollIntervalMs: 20,
          silenceMs: 50,
        });
        try {
          const job = client.submit(
            { "1": { class_type: "SaveImage", inputs: {} } },
            { timeouts: { runMs: 250, queueMs: 250 } },
          );
          const outcome = await job.result().then(
            (result) => ({ result }),
            (error: unknown) => ({ error }),
          );
          if ("error" in outcome) {
            expect(isComfycError(outcome.error)).toBe(true);
            return;
          }
          const dir = tempDir();
          for (const file of outcome.result.files) {
            expect(typeof file.filename).toBe("string");
            const saved = await client.save(file, dir).catch((e: unknown) => {
              expect((e as { code?: string }).code).toBe("UNSAFE_PATH");
              return undefined;
            });
            if (saved) expect(resolve(saved).startsWith(resolve(dir) + sep)).toBe(true);
          }
        } finally {
          await client.close();
        }
      },
    ),
    { numRuns: 30 },
  );
}, 60_000);
