import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { Http, type HttpOptions } from "../../src/runtime/http.js";
import { NodeHttpEngine } from "../../src/runtime/node-http.js";
import { objectInfoBytes } from "../../src/runtime/object-info.js";
import { cli } from "../helpers-cli.js";
import { startTlsTestServer, tempDir } from "../helpers.js";
import { freePort } from "../waits.js";

// `comfyc codegen --url` reads /object_info through Node's own HTTP client (NodeHttpEngine)
// instead of undici. Every reply, hostile or not, must come out the same through both: the same
// bytes, or the same typed error (code, message, status, attempts). Each case is a raw TCP
// script, so the replies are exactly as broken as written.

/** What one connection's server side does once a request's head has arrived. */
type Script = (socket: Socket, attempt: number) => void;

const BODY = Buffer.from('{"KSampler": {"input": {"seed": 18446744073709551615}}, "x": "🔧 é"}');
const head = (lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;
const ok = (extra: string[] = []) =>
  head(["HTTP/1.1 200 OK", "Content-Type: application/json", ...extra]);

const CASES: Record<string, Script> = {
  "200 with a content-length": (s) => s.write(ok([`Content-Length: ${BODY.length}`]) + BODY),
  "200 chunked, in pieces": (s) => {
    s.write(ok(["Transfer-Encoding: chunked"]));
    for (const part of [BODY.subarray(0, 7), BODY.subarray(7)])
      s.write(`${part.length.toString(16)}\r\n${part.toString("latin1")}\r\n`, "latin1");
    s.write("0\r\n\r\n");
  },
  "200 delimited by the close": (s) => s.end(ok(["Connection: close"]) + BODY),
  "HTTP/1.0 200 delimited by the close": (s) => s.end(head(["HTTP/1.0 200 OK"]) + BODY),
  "200 empty": (s) => s.write(ok(["Content-Length: 0"])),
  "204": (s) => s.write(head(["HTTP/1.1 204 No Content"])),
  "3 MB with a content-length": (s) => {
    const big = Buffer.alloc(3 << 20, 0x61);
    s.write(ok([`Content-Length: ${big.length}`]));
    s.write(big);
  },
  "3 MB chunked": (s) => {
    s.write(ok(["Transfer-Encoding: chunked"]));
    for (let i = 0; i < 48; i++) s.write(`10000\r\n${"b".repeat(0x10000)}\r\n`);
    s.write("0\r\n\r\n");
  },
  "bytes after the declared length": (s) =>
    s.write(ok([`Content-Length: ${BODY.length}`]) + BODY + "HTTP/1.1 garbage\r\n\r\n"),
  "closed before any reply": (s) => s.end(),
  "reset before any reply": (s) => s.resetAndDestroy(),
  "closed in the middle of the head": (s) => s.end("HTTP/1.1 200 OK\r\nContent-Le"),
  "not HTTP": (s) => s.write("HELLO WORLD\r\n\r\n"),
  "a 20 KB header": (s) =>
    s.write(ok([`X-Big: ${"x".repeat(20_000)}`, `Content-Length: ${BODY.length}`]) + BODY),
  "a NUL in a header value": (s) =>
    s.write(ok(["X-Bad: a\0b", `Content-Length: ${BODY.length}`]) + BODY),
  "two different content-lengths": (s) =>
    s.write(ok(["Content-Length: 3", "Content-Length: 4"]) + "abcd"),
  "a content-length and chunked": (s) =>
    s.write(ok(["Content-Length: 4", "Transfer-Encoding: chunked"]) + "4\r\nabcd\r\n0\r\n\r\n"),
  "a bad chunk size": (s) => s.write(ok(["Transfer-Encoding: chunked"]) + "zz\r\nabc\r\n"),
  "short body, kept alive, closed": (s) =>
    s.end(ok([`Content-Length: ${BODY.length}`]) + BODY.subarray(0, 20).toString("latin1")),
  "short body, connection: close, closed": (s) =>
    s.end(
      ok([`Content-Length: ${BODY.length}`, "Connection: close"]) +
        BODY.subarray(0, 20).toString("latin1"),
    ),
  "short chunked body, kept alive, closed": (s) =>
    s.end(ok(["Transfer-Encoding: chunked"]) + "10\r\n0123456789abcdef\r\n"),
  "short chunked body, connection: close, closed": (s) =>
    s.end(ok(["Transfer-Encoding: chunked", "Connection: close"]) + "10\r\n0123456789abcdef\r\n"),
  // Whether the reset overtakes the head or not, this reads "read ECONNRESET" (retried). A
  // reset after a head saying "Connection: close" reads as the close would, but only once the
  // head was read: which comes first is the kernel's to decide, so that is not a case here.
  "short body, kept alive, reset": (s) => {
    s.write(ok([`Content-Length: ${BODY.length}`]) + "{");
    setImmediate(() => s.resetAndDestroy());
  },
  "100 Continue nobody asked for": (s) =>
    s.write(head(["HTTP/1.1 100 Continue"]) + ok([`Content-Length: ${BODY.length}`]) + BODY),
  "103 Early Hints, then 200": (s) =>
    s.write(head(["HTTP/1.1 103 Early Hints"]) + ok([`Content-Length: ${BODY.length}`]) + BODY),
  "101 nobody asked for": (s) =>
    s.write(head(["HTTP/1.1 101 Switching Protocols", "Upgrade: x", "Connection: Upgrade"])),
  "404 with a body": (s) =>
    s.write(head(["HTTP/1.1 404 Not Found", "Content-Length: 9"]) + "no route!"),
  "401": (s) => s.write(head(["HTTP/1.1 401 Unauthorized", "Content-Length: 0"])),
  "302 to elsewhere": (s) =>
    s.write(head(["HTTP/1.1 302 Found", "Location: http://example.invalid/", "Content-Length: 0"])),
  "503, then 200": (s, attempt) =>
    s.write(
      attempt === 0
        ? head(["HTTP/1.1 503 Service Unavailable", "Content-Length: 4"]) + "busy"
        : ok([`Content-Length: ${BODY.length}`]) + BODY,
    ),
  "503 always": (s) =>
    s.write(head(["HTTP/1.1 503 Service Unavailable", "Content-Length: 4"]) + "busy"),
  "reset, then 200": (s, attempt) =>
    attempt === 0 ? s.resetAndDestroy() : s.write(ok([`Content-Length: ${BODY.length}`]) + BODY),
  "never answers (the head times out)": () => undefined,
  "stops in the middle of the body (the body times out)": (s) =>
    s.write(ok([`Content-Length: ${BODY.length}`]) + "{"),
};

/**
 * A TCP server running `script` for each request head it reads (counting attempts from 0),
 * holding every socket so it can close them all.
 */
async function scriptedServer(): Promise<{
  url: string;
  use: (script: Script) => void;
  attempts: () => number;
  close: () => Promise<void>;
}> {
  let script: Script = () => undefined;
  let attempts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = "";
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      while (buffered.includes("\r\n\r\n")) {
        buffered = buffered.slice(buffered.indexOf("\r\n\r\n") + 4);
        script(socket, attempts++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    use: (s) => {
      for (const socket of sockets) socket.destroy();
      script = s;
      attempts = 0;
    },
    attempts: () => attempts,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const RETRY = { retries: 2, minDelayMs: 1, maxDelayMs: 1 };

/**
 * What the caller sees: the bytes' hash, or the error's code, message, status and attempts.
 * `server`: a URL (a 250 ms timeout, two quick retries) or the transport's whole options.
 */
async function outcome(
  server: string | HttpOptions,
  engine: NodeHttpEngine | undefined,
  text = false,
) {
  const options =
    typeof server === "string" ? { url: server, timeoutMs: 250, retry: RETRY } : server;
  const http = new Http(options, engine);
  try {
    const bytes = text
      ? Buffer.from(await http.text({ method: "GET", path: "api/object_info" }))
      : await objectInfoBytes(http);
    return { sha256: createHash("sha256").update(bytes).digest("hex"), length: bytes.length };
  } catch (e) {
    const error = e as {
      name?: string;
      code?: string;
      message?: string;
      status?: number;
      attempts?: number;
      cause?: { code?: string };
    };
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      status: error.status,
      attempts: error.attempts,
      // llhttp's own code, which undici 7 loses (the transport says HPE_UNKNOWN).
      cause: error.cause?.code?.replace(/^HPE_.*/, "HPE_…"),
    };
  } finally {
    await http.close();
  }
}

let raw: Awaited<ReturnType<typeof scriptedServer>>;
beforeAll(async () => {
  raw = await scriptedServer();
});
afterAll(() => raw.close());

describe("Node's http client answers every reply as undici does", () => {
  test.each(Object.keys(CASES))("%s", async (name) => {
    raw.use(CASES[name]!);
    const viaUndici = await outcome(raw.url, undefined);
    const undiciAttempts = raw.attempts();
    raw.use(CASES[name]!);
    const viaNode = await outcome(raw.url, new NodeHttpEngine());
    expect(viaNode).toEqual(viaUndici);
    expect(raw.attempts()).toBe(undiciAttempts);
  });

  test("the cases mean what they say (bytes, retries, typed errors)", async () => {
    const engine = () => new NodeHttpEngine();
    raw.use(CASES["200 chunked, in pieces"]!);
    expect(await outcome(raw.url, engine())).toEqual({
      sha256: createHash("sha256").update(BODY).digest("hex"),
      length: BODY.length,
    });
    raw.use(CASES["503, then 200"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({ length: BODY.length });
    raw.use(CASES["never answers (the head times out)"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({
      code: "SERVER_UNREACHABLE",
      attempts: 3,
      message: expect.stringContaining("Headers Timeout Error"),
    });
    raw.use(CASES["stops in the middle of the body (the body times out)"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({
      code: "SERVER_UNREACHABLE",
      attempts: 3,
      message: expect.stringContaining("Body Timeout Error"),
    });
    raw.use(CASES["short body, connection: close, closed"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({
      code: "SERVER_UNREACHABLE",
      attempts: 1,
      cause: "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
    });
    raw.use(CASES["not HTTP"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({
      message: expect.stringContaining("Response does not match the HTTP/1.1 protocol"),
    });
    raw.use(CASES["404 with a body"]!);
    expect(await outcome(raw.url, engine())).toMatchObject({
      code: "NOT_FOUND",
      status: 404,
      message: expect.stringContaining("no route!"),
    });
  });

  test("one kept-alive connection serves request after request, leaving no listeners behind", async () => {
    raw.use(CASES["200 with a content-length"]!);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const http = new Http({ url: raw.url }, new NodeHttpEngine());
    try {
      for (let i = 0; i < 25; i++) expect(await objectInfoBytes(http)).toEqual(BODY);
    } finally {
      await http.close();
      process.off("warning", onWarning);
    }
    expect(raw.attempts()).toBe(25);
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
  });

  test("text() skips a byte order mark, as undici's does", async () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), BODY]);
    raw.use((s) =>
      s.write(ok([`Content-Length: ${withBom.length}`]) + withBom.toString("latin1"), "latin1"),
    );
    const viaUndici = await outcome(raw.url, undefined, true);
    const viaNode = await outcome(raw.url, new NodeHttpEngine(), true);
    expect(viaNode).toEqual(viaUndici);
    expect(viaNode).toMatchObject({ length: BODY.length });
  });

  test("comfyc codegen --url of a server that does not speak HTTP: SERVER_UNREACHABLE (exit 8), not an internal error", async () => {
    raw.use(CASES["not HTTP"]!);
    const { code, stderr } = await cli("codegen", "--url", raw.url, "--out", tempDir());
    expect(code).toBe(8);
    expect(stderr).toContain(
      `GET ${raw.url}/api/object_info cannot reach ${raw.url}: Response does not match the HTTP/1.1 protocol (Expected HTTP/`,
    );
  });

  test("comfyc codegen --url of a reply that is not JSON: BAD_SERVER_REPLY quoting the text as sent (raw UTF-8, not escaped)", async () => {
    const text = Buffer.from('{"KSampler 🔧": {"input": é}}');
    raw.use((s) =>
      s.write(Buffer.concat([Buffer.from(ok([`Content-Length: ${text.length}`])), text])),
    );
    const { code, stderr } = await cli("codegen", "--url", raw.url, "--out", tempDir());
    expect(code).toBe(8);
    expect(stderr).toContain(
      `error [BAD_SERVER_REPLY]: GET ${raw.url}/api/object_info did not return JSON: ${JSON.stringify(text.toString())}`,
    );
  });

  test("nothing listening: the same SERVER_UNREACHABLE after the same attempts", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const viaUndici = await outcome(url, undefined);
    expect(await outcome(url, new NodeHttpEngine())).toEqual(viaUndici);
    expect(viaUndici).toMatchObject({ code: "SERVER_UNREACHABLE", attempts: 3 });
  });
});

/**
 * Writes `frame` to `socket` for ever, waiting for `drain` (only what the client reads leaves),
 * until the connection is gone; `poured.bytes` counts what was handed over.
 */
function pourInto(socket: Socket, frame: string | Buffer, poured: { bytes: number }): void {
  const bytes = Buffer.from(frame);
  const more = () => {
    while (!socket.destroyed && socket.writable) {
      poured.bytes += bytes.length;
      if (!socket.write(bytes)) return void socket.once("drain", more);
    }
  };
  more();
}

describe("past the size limit (limits.replyBytes), both clients stop alike", () => {
  const LIMIT = 1024 * 1024;
  const SLACK = 16 * 1024 * 1024;
  const FILL = "a".repeat(0x10000);
  const poured = { bytes: 0 };
  const LIMIT_CASES: Record<string, Script> = {
    "endless chunked": (s) => {
      s.write(ok(["Transfer-Encoding: chunked"]));
      pourInto(s, `10000\r\n${FILL}\r\n`, poured);
    },
    "endless, delimited by the close": (s) => {
      s.write(ok(["Connection: close"]));
      pourInto(s, FILL, poured);
    },
    "endless error page (500)": (s) => {
      s.write(head(["HTTP/1.1 500 Internal Server Error", "Transfer-Encoding: chunked"]));
      pourInto(s, `10000\r\n${FILL}\r\n`, poured);
    },
    "a Content-Length of 1 TiB": (s) => {
      s.write(ok([`Content-Length: ${2 ** 40}`]));
      pourInto(s, FILL, poured);
    },
    "one byte past the limit, declared": (s) => {
      s.write(ok([`Content-Length: ${LIMIT + 1}`]));
      s.write(Buffer.alloc(LIMIT + 1, 0x62));
    },
    "one byte past the limit, chunked": (s) => {
      s.write(ok(["Transfer-Encoding: chunked"]));
      for (let i = 0; i < LIMIT / 0x10000; i++) s.write(`10000\r\n${FILL}\r\n`);
      s.write("1\r\nb\r\n0\r\n\r\n");
    },
    "exactly the limit": (s) => {
      s.write(ok([`Content-Length: ${LIMIT}`]));
      s.write(Buffer.alloc(LIMIT, 0x62));
    },
    "exactly the limit, chunked": (s) => {
      s.write(ok(["Transfer-Encoding: chunked"]));
      for (let i = 0; i < LIMIT / 0x10000; i++) s.write(`10000\r\n${FILL}\r\n`);
      s.write("0\r\n\r\n");
    },
  };
  const options = () => ({
    url: raw.url,
    timeoutMs: 250,
    retry: RETRY,
    limits: { replyBytes: LIMIT },
  });

  test.each(Object.keys(LIMIT_CASES))("%s", async (name) => {
    raw.use(LIMIT_CASES[name]!);
    poured.bytes = 0;
    const viaUndici = await outcome(options(), undefined);
    const undiciAttempts = raw.attempts();
    const undiciPoured = poured.bytes;
    raw.use(LIMIT_CASES[name]!);
    poured.bytes = 0;
    const viaNode = await outcome(options(), new NodeHttpEngine());
    expect(viaNode).toEqual(viaUndici);
    expect(raw.attempts()).toBe(undiciAttempts);
    // Neither read on past the limit: what left the server stayed near it (per attempt).
    for (const bytes of [undiciPoured, poured.bytes])
      expect(bytes).toBeLessThan((LIMIT + SLACK) * undiciAttempts);
  });

  test("the cases mean what they say: a typed error naming the limit, never retried; a reply of exactly the limit passes", async () => {
    for (const name of [
      "endless chunked",
      "endless, delimited by the close",
      "one byte past the limit, chunked",
    ]) {
      raw.use(LIMIT_CASES[name]!);
      expect(await outcome(options(), new NodeHttpEngine())).toMatchObject({
        name: "ReplyTooLargeError",
        code: "BAD_SERVER_REPLY",
        status: 200,
        attempts: 1,
        message: expect.stringContaining(
          `GET ${raw.url}/api/object_info sent more than the limit of 1 MiB (1048576 bytes)`,
        ),
      });
    }
    raw.use(LIMIT_CASES["a Content-Length of 1 TiB"]!);
    expect(await outcome(options(), new NodeHttpEngine())).toMatchObject({
      name: "ReplyTooLargeError",
      attempts: 1,
      message: expect.stringContaining("declared a body of 1099511627776 bytes (Content-Length)"),
    });
    raw.use(LIMIT_CASES["one byte past the limit, declared"]!);
    expect(await outcome(options(), new NodeHttpEngine())).toMatchObject({
      message: expect.stringContaining("declared a body of 1048577 bytes (Content-Length)"),
    });
    // The error page is cut off too; the 500 itself is what the caller sees, after the retries.
    raw.use(LIMIT_CASES["endless error page (500)"]!);
    expect(await outcome(options(), new NodeHttpEngine())).toMatchObject({
      code: "SERVER_ERROR",
      status: 500,
      attempts: 3,
    });
    raw.use(LIMIT_CASES["exactly the limit, chunked"]!);
    expect(await outcome(options(), new NodeHttpEngine())).toMatchObject({ length: LIMIT });
  });
});

describe("against the test server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ auth: { bearer: "tok" } });
  });
  afterAll(() => server.close());

  test("the same /object_info bytes, headers sent, faults retried or named alike", async () => {
    const read = (engine?: NodeHttpEngine, headers?: Record<string, string>) =>
      outcome(
        { url: server.url, timeoutMs: 250, retry: RETRY, ...(headers ? { headers } : {}) },
        engine,
      );
    const auth = { authorization: "Bearer tok" };
    const viaUndici = await read(undefined, auth);
    expect(viaUndici.length).toBeGreaterThan(100_000);
    expect(await read(new NodeHttpEngine(), auth)).toEqual(viaUndici);
    // No credentials: AUTH_FAILED, not retried.
    const denied = await read(undefined);
    expect(denied).toMatchObject({ code: "AUTH_FAILED", attempts: 1 });
    expect(await read(new NodeHttpEngine())).toEqual(denied);
    for (const fault of [
      { status: 503 as const, count: 3 },
      { status: "reset" as const, count: 3 },
    ]) {
      server.script.failHttp({ ...fault, path: /object_info/ });
      const a = await read(undefined, auth);
      server.script.failHttp({ ...fault, path: /object_info/ });
      const b = await read(new NodeHttpEngine(), auth);
      expect(b).toEqual(a);
      expect(a).toMatchObject({ attempts: 3 });
    }
    server.script.failHttp({ status: 502, count: 2, path: /object_info/ });
    expect(await read(new NodeHttpEngine(), auth)).toEqual(viaUndici);
    server.script.hang(/object_info/);
    try {
      const a = await read(undefined, auth);
      const b = await read(new NodeHttpEngine(), auth);
      expect(b).toEqual(a);
      expect(a).toMatchObject({ code: "SERVER_UNREACHABLE", attempts: 3 });
    } finally {
      server.script.thaw();
    }
  });
});

describe("over https", () => {
  let secure: TestServer;
  let ca: Buffer;
  beforeAll(async () => {
    ({ server: secure, ca } = await startTlsTestServer());
  });
  afterAll(() => secure.close());

  test("a trusted CA: the same bytes; an untrusted certificate: the same typed error, not retried", async () => {
    const read = (tls: { ca: Buffer } | undefined, engine: boolean) =>
      outcome(
        { url: secure.url, retry: RETRY, ...(tls ? { tls } : {}) },
        engine ? new NodeHttpEngine(tls) : undefined,
      );
    const trusted = await read({ ca }, false);
    expect(trusted).toHaveProperty("sha256");
    expect(await read({ ca }, true)).toEqual(trusted);
    const untrusted = await read(undefined, false);
    expect(untrusted).toMatchObject({ code: "SERVER_UNREACHABLE", attempts: 1 });
    expect(untrusted.message).toMatch(/certificate/i);
    expect(await read(undefined, true)).toEqual(untrusted);
  });
});
