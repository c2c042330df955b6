/**
 * Everything from a server is untrusted: a reply that never ends (an endless `/object_info`,
 * `/history`, `/queue`, `/view` file, SSE event or WebSocket message) is cut off at the
 * client's size limit with a typed error, its connection closed, instead of being buffered
 * until memory runs out. Each hostile server streams for ever and counts what it managed to
 * hand over before the client closed the connection: that count staying near the limit is
 * what shows the client stopped reading there, not after buffering it all.
 */
import { readdirSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "undici";
import { WebSocketServer } from "ws";
import { workflow } from "comfyc";
import {
  ComfyClient,
  DEFAULT_REPLY_LIMITS,
  Http,
  ReplyTooLargeError,
  type ClientOptions,
} from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import { EmptyImage, ImageInvert, SaveImage } from "../../generated/core.js";
import { cli } from "../helpers-cli.js";
import { tempDir } from "../helpers.js";

const MiB = 1024 * 1024;
/**
 * What may pass the limit before the connection is closed: the loopback's socket buffers on
 * both sides (a few MB on Linux) and one read's worth in the client.
 */
const SLACK = 16 * MiB;

/**
 * Writes `chunk` to `res` for ever, waiting for `drain` (so only what the client reads leaves
 * the server), until the connection closes; resolves with the bytes handed over.
 */
function pour(res: ServerResponse, chunk: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let written = 0;
    let closed = false;
    res.once("close", () => {
      closed = true;
      resolve(written);
    });
    res.on("error", () => undefined);
    const more = () => {
      while (!closed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", more);
      }
    };
    more();
  });
}

/** A server whose `handle` answers (or `undefined`: 404), counting requests and poured bytes. */
async function hostileServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<number> | undefined,
): Promise<{ url: string; requests: string[]; poured: Promise<number>[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const poured: Promise<number>[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const p = handle(req, res);
    if (p) poured.push(p);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    poured,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const FILL = Buffer.alloc(64 * 1024, 0x61);
const QUICK = { retry: { retries: 2, minDelayMs: 1, maxDelayMs: 1 } } as const;

/** An endless JSON reply: a string that never closes, chunked. */
const endlessJson = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.write('{"KSampler": "');
  return pour(res, FILL);
};

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("a reply past replyBytes", () => {
  const limit = 8 * MiB;
  let server: Awaited<ReturnType<typeof hostileServer>>;
  beforeAll(async () => {
    server = await hostileServer(endlessJson);
  });
  afterAll(() => server.close());

  test.each([
    ["objectInfo", "api/object_info", (c: ComfyClient) => c.objectInfo()],
    ["history", "api/history/abc", (c: ComfyClient) => c.history("abc")],
    ["queue", "api/queue", (c: ComfyClient) => c.queue()],
    ["systemStats", "api/system_stats", (c: ComfyClient) => c.systemStats()],
  ] as const)(
    "%s streaming for ever: ReplyTooLargeError (BAD_SERVER_REPLY) naming the URL, the limit and the option; one request; read stopped near the limit",
    async (_name, path, call) => {
      server.requests.length = 0;
      server.poured.length = 0;
      const client = new ComfyClient({ url: server.url, limits: { replyBytes: limit }, ...QUICK });
      try {
        const e = await errorOf(call(client));
        expect(e).toBeInstanceOf(ReplyTooLargeError);
        expect(e).toMatchObject({
          code: "BAD_SERVER_REPLY",
          status: 200,
          limitBytes: limit,
          option: "limits.replyBytes",
        });
        expect((e as Error).message).toContain(
          `GET ${server.url}/${path} sent more than the limit of 8 MiB (8388608 bytes); stopped reading and closed the connection`,
        );
        expect((e as Error).message).toContain("raise the client option limits.replyBytes");
        // Not retried: the same server would send the same again.
        expect(server.requests).toEqual([`GET /${path}`]);
        const poured = await server.poured[0]!;
        expect(poured).toBeGreaterThan(limit);
        expect(poured).toBeLessThan(limit + SLACK);
      } finally {
        await client.close();
      }
    },
  );

  test("a Content-Length past the limit is refused before the body is read", async () => {
    const big = 64 * MiB;
    const declaring = await hostileServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 ** 40 });
      return pour(res, FILL);
    });
    const client = new ComfyClient({ url: declaring.url, limits: { replyBytes: big }, ...QUICK });
    try {
      const e = await errorOf(client.objectInfo());
      expect(e).toBeInstanceOf(ReplyTooLargeError);
      expect(e).toMatchObject({ code: "BAD_SERVER_REPLY", declaredBytes: 2 ** 40 });
      expect((e as Error).message).toContain(
        `GET ${declaring.url}/api/object_info declared a body of 1099511627776 bytes (Content-Length), more than the limit of 64 MiB (67108864 bytes); not read`,
      );
      // Far less than the limit left the server: the client did not read up to it.
      expect(await declaring.poured[0]!).toBeLessThan(big / 2);
      expect(declaring.requests).toHaveLength(1);
    } finally {
      await client.close();
      await declaring.close();
    }
  });

  test("the defaults, and a limit that is not a positive whole number of bytes is USAGE", () => {
    expect(DEFAULT_REPLY_LIMITS).toEqual({
      replyBytes: 256 * MiB,
      fileBytes: 4096 * MiB,
      messageBytes: 64 * MiB,
    });
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new Http({ url: "http://127.0.0.1:1", limits: { fileBytes: bad } })).toThrow(
        expect.objectContaining({ code: "USAGE" }),
      );
  });

  test("comfyc codegen --url of a server declaring a 1 TiB /object_info: exit 8, BAD_SERVER_REPLY naming the option", async () => {
    const declaring = await hostileServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 ** 40 });
      return pour(res, FILL);
    });
    try {
      const { code, stderr } = await cli("codegen", "--url", declaring.url, "--out", tempDir());
      expect(code).toBe(8);
      expect(stderr).toContain(
        `error [BAD_SERVER_REPLY]: GET ${declaring.url}/api/object_info declared a body of 1099511627776 bytes (Content-Length), more than the limit of 256 MiB (268435456 bytes); not read`,
      );
      expect(stderr).toContain("limits.replyBytes (bytes; comfyc: $COMFYC_MAX_REPLY_BYTES)");
    } finally {
      await declaring.close();
    }
  });

  test("the CLI's limits come from $COMFYC_MAX_REPLY_BYTES (and its siblings); a value that is not a whole number is USAGE (exit 2)", async () => {
    const saved = process.env["COMFYC_MAX_REPLY_BYTES"];
    try {
      process.env["COMFYC_MAX_REPLY_BYTES"] = String(limit);
      server.poured.length = 0;
      const codegen = await cli("codegen", "--url", server.url, "--out", tempDir());
      expect(codegen.code).toBe(8);
      expect(codegen.stderr).toContain(
        `error [BAD_SERVER_REPLY]: GET ${server.url}/api/object_info sent more than the limit of 8 MiB (8388608 bytes)`,
      );
      const validate = await cli("validate", "--url", server.url, "missing.json");
      expect(validate.code).toBe(8);
      expect(validate.stderr).toContain("sent more than the limit of 8 MiB");
      for (const poured of await Promise.all(server.poured))
        expect(poured).toBeLessThan(limit + SLACK);
      process.env["COMFYC_MAX_REPLY_BYTES"] = "lots";
      const bad = await cli("codegen", "--url", server.url, "--out", tempDir());
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('$COMFYC_MAX_REPLY_BYTES: "lots" is not a whole number');
    } finally {
      if (saved === undefined) delete process.env["COMFYC_MAX_REPLY_BYTES"];
      else process.env["COMFYC_MAX_REPLY_BYTES"] = saved;
    }
  });
});

describe("a /view file past fileBytes", () => {
  const limit = 8 * MiB;
  let server: Awaited<ReturnType<typeof hostileServer>>;
  beforeAll(async () => {
    server = await hostileServer((req, res) => {
      if (!req.url?.startsWith("/api/view")) return undefined;
      res.writeHead(200, { "content-type": "image/png" });
      return pour(res, FILL);
    });
  });
  afterAll(() => server.close());
  const ref = { filename: "endless.png", subfolder: "", type: "output" as const };

  test("read() and save() fail with ReplyTooLargeError naming limits.fileBytes; save leaves no file behind", async () => {
    const client = new ComfyClient({ url: server.url, limits: { fileBytes: limit }, ...QUICK });
    try {
      server.poured.length = 0;
      const read = await errorOf(client.read(ref));
      expect(read).toBeInstanceOf(ReplyTooLargeError);
      expect(read).toMatchObject({ code: "BAD_SERVER_REPLY", option: "limits.fileBytes" });
      expect((read as Error).message).toContain(
        `GET ${server.url}/api/view?filename=endless.png&subfolder=&type=output sent more than the limit of 8 MiB`,
      );
      const dir = tempDir();
      const saved = await errorOf(client.save(ref, dir));
      expect(saved).toBeInstanceOf(ReplyTooLargeError);
      expect(readdirSync(dir)).toEqual([]);
      for (const poured of await Promise.all(server.poured)) {
        expect(poured).toBeGreaterThan(limit);
        expect(poured).toBeLessThan(limit + SLACK);
      }
      expect(server.poured).toHaveLength(2);
    } finally {
      await client.close();
    }
  });
});

describe("one WebSocket message past messageBytes", () => {
  test("undici closes the connection as soon as an endless message (fragment after fragment) passes the limit", async () => {
    const limit = 4 * MiB;
    const server = createServer();
    const wss = new WebSocketServer({ server });
    let sent = 0;
    const closed = new Promise<void>((resolve) =>
      wss.on("connection", (ws) => {
        ws.on("close", () => resolve());
        // One message that never ends: fragment after fragment, each once the last was sent.
        const more = () => {
          if (ws.readyState !== ws.OPEN) return;
          sent += FILL.length;
          ws.send(FILL, { fin: false, binary: true }, () => setImmediate(more));
        };
        more();
      }),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const http = new Http({ url: `http://127.0.0.1:${port}`, limits: { messageBytes: limit } });
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { dispatcher: http.dispatcher });
    const messages: unknown[] = [];
    socket.addEventListener("message", (e) => messages.push(e.data));
    try {
      await new Promise((r) => socket.addEventListener("close", r));
      await closed;
      expect(messages).toEqual([]);
      expect(sent).toBeGreaterThan(limit);
      expect(sent).toBeLessThan(limit + SLACK);
    } finally {
      await http.close();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe("a Comfy API v2 SSE event past messageBytes", () => {
  let upstream: TestServer;
  let proxy: Awaited<ReturnType<typeof hostileServer>>;
  beforeAll(async () => {
    upstream = await startTestServer();
    // The test server's own v2 routes, but every job's event stream is one endless line. A
    // job's status is held back until that stream is closed, so the job cannot end first.
    let streamClosed: (() => void) | undefined;
    const closed = new Promise<void>((r) => (streamClosed = r));
    proxy = await hostileServer((req, res) => {
      const path = req.url ?? "";
      if (req.method === "GET" && /^\/api\/v2\/jobs\/[^/]+\/events/.test(path)) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("event: progress\ndata: ");
        const poured = pour(res, FILL);
        void poured.then(() => streamClosed?.());
        return poured;
      }
      const forward = () => {
        const up = request(
          new URL(req.url ?? "/", upstream.url),
          { method: req.method, headers: { ...req.headers, host: new URL(upstream.url).host } },
          (reply) => {
            res.writeHead(reply.statusCode ?? 502, reply.headers);
            reply.pipe(res);
          },
        );
        up.on("error", () => res.destroy());
        req.pipe(up);
      };
      if (req.method === "GET" && /^\/api\/v2\/jobs\/[^/]+$/.test(path)) void closed.then(forward);
      else forward();
      return Promise.resolve(0);
    });
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  test("the stream is dropped near the limit and not reopened; the job still completes by polling", async () => {
    const limit = 4 * MiB;
    const options: ClientOptions = {
      url: proxy.url,
      api: "v2",
      pollIntervalMs: 50,
      silenceMs: 200,
      limits: { messageBytes: limit },
    };
    const client = new ComfyClient(options);
    try {
      const wf = workflow();
      const image = wf.add(EmptyImage, { width: 8, height: 8, batch_size: 1 });
      wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: "limits" });
      const result = await client.submit(wf.compileWithReport()).result();
      expect(result.files.filter((f) => f.kind === "image")).toHaveLength(1);
      const streams = proxy.requests.filter((r) => r.endsWith("/events"));
      expect(streams).toHaveLength(1);
      const poured = (await Promise.all(proxy.poured)).filter((n) => n > 0);
      expect(poured).toHaveLength(1);
      expect(poured[0]).toBeGreaterThan(limit);
      expect(poured[0]).toBeLessThan(limit + SLACK);
    } finally {
      await client.close();
    }
  });
});
