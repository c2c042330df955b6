import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import { startTestServer, type TestServer } from "../../src/testing/index.js";
import { postStreamed as send } from "../streamed-post.js";

/**
 * The test server against what the real ComfyUI 0.3.64 and 0.33.0 answered to the same edge-case
 * requests (`test/fixtures/testing/edge-answers.json`, recorded by the .py beside it): bodies on
 * which `post_prompt` raises (aiohttp's 500), node and `extra_data` shapes, the image loaders'
 * `VALIDATE_INPUTS` raising, and bodies over the 100 MiB upload limit (aiohttp's 413).
 */

interface Recorded {
  readonly request: {
    readonly path: string;
    readonly body?: string;
    readonly headers?: Record<string, string>;
    readonly bytes?: number;
    readonly file_bytes?: number;
  };
  readonly status: number;
  readonly reason: string;
  readonly content_type: string;
  readonly closes: boolean;
  readonly body: unknown;
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/testing/edge-answers.json", import.meta.url), "utf8"),
) as Record<"0.3.64" | "0.33.0", Record<string, Recorded>>;

const LIMIT = 104857600;
const MiB = 1 << 20;

const TOO_LARGE = /^Maximum request body size (\d+) exceeded, actual body size (\d+)$/;

describe.each(["0.3.64", "0.33.0"] as const)(
  "the test server answers edge cases as the real %s does",
  (version) => {
    let server: TestServer;
    const dataDir = mkdtempSync(join(tmpdir(), "comfyc-edges-"));
    beforeAll(async () => {
      server = await startTestServer({ port: 0, comfyuiVersion: version, dataDir });
    });
    afterAll(async () => {
      await server?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const small = Object.entries(fixture[version]).filter(([, r]) => r.request.body !== undefined);
    test.each(small)("%s", async (_name, real) => {
      const got = await send(server.url, real.request.path, {
        head: Buffer.from(real.request.body!),
        ...(real.request.headers ? { headers: real.request.headers } : {}),
      });
      // ComfyUI's files sit under the test server's data directory (its install directory).
      const text = got.text.replaceAll(`${resolve(dataDir)}/`, "<root>/");
      const body: unknown = got.content_type.startsWith("application/json")
        ? parseJsonLossless(text)
        : text;
      if (body !== null && typeof body === "object" && !Array.isArray(body)) {
        delete (body as Record<string, unknown>)["prompt_id"];
        delete (body as Record<string, unknown>)["number"];
      }
      expect({ ...got, text: undefined, body }).toEqual({
        status: real.status,
        reason: real.reason,
        content_type: real.content_type,
        closes: real.closes,
        text: undefined,
        body: real.body,
      });
    });
  },
);

describe("bodies over the upload limit (aiohttp's client_max_size)", () => {
  let server: TestServer;
  let tiny: TestServer;
  const LIMIT_TINY = MiB;
  beforeAll(async () => {
    server = await startTestServer({ port: 0 });
    tiny = await startTestServer({ port: 0, maxUploadSize: LIMIT_TINY });
  });
  afterAll(async () => {
    await server?.close();
    await tiny?.close();
  });

  const multipart = (name: string, filename?: string) =>
    Buffer.from(
      `--edge\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ""}\r\n\r\n`,
    );
  const closing = Buffer.from("\r\n--edge--\r\n");
  const form = { "Content-Type": "multipart/form-data; boundary=edge" };

  test.each([
    ["POST /prompt", "a /prompt body of 101 MiB"],
    ["POST /upload/image", "an /upload/image file of 101 MiB"],
  ] as const)(
    "%s of 101 MiB: 413 with aiohttp's text, as 0.3.64 and 0.33.0 answer",
    async (_route, name) => {
      for (const version of ["0.3.64", "0.33.0"] as const) {
        const real = fixture[version][name]!;
        expect(real.status).toBe(413);
        expect(real.body).toMatch(TOO_LARGE);
      }
      const real = fixture["0.33.0"][name]!;
      const upload = real.request.path === "/upload/image";
      const got = await send(server.url, real.request.path, {
        ...(upload
          ? { head: multipart("image", "big.png"), tail: closing, headers: form }
          : { headers: { "Content-Type": "application/json" } }),
        size: LIMIT + MiB,
      });
      expect({ ...got, text: undefined }).toEqual({
        status: 413,
        reason: real.reason,
        content_type: real.content_type,
        closes: false,
        text: undefined,
      });
      const [, limit, actual] = TOO_LARGE.exec(got.text)!;
      expect(Number(limit)).toBe(LIMIT);
      // Where the limit was crossed, counted in whole chunks as they arrived (as aiohttp counts).
      expect(Number(actual)).toBeGreaterThanOrEqual(LIMIT + (upload ? 1 : 0));
      expect(Number(actual)).toBeLessThanOrEqual(LIMIT + MiB);
    },
    120_000,
  );

  test.each([
    ["a body of exactly the limit is refused (aiohttp's read: >=)", LIMIT_TINY, 413],
    ["a body one byte under the limit is read (and is not JSON: 500)", LIMIT_TINY - 1, 500],
  ])("/prompt: %s", async (_name, size, status) => {
    const got = await send(tiny.url, "/prompt", { size });
    expect(got.status).toBe(status);
    if (status === 413)
      expect(got.text).toBe(
        `Maximum request body size ${LIMIT_TINY} exceeded, actual body size ${LIMIT_TINY}`,
      );
  });

  test("/prompt: a chunked body is refused where it crosses the limit", async () => {
    const got = await send(tiny.url, "/prompt", { size: 3 * LIMIT_TINY, chunked: true });
    expect(got.status).toBe(413);
    expect(got.text).toMatch(TOO_LARGE);
  });

  test.each([
    ["a file of exactly the limit is stored (aiohttp's post: >)", LIMIT_TINY, 200],
    ["a file one byte over is refused", LIMIT_TINY + 1, 413],
  ])("/upload/image: %s", async (_name, size, status) => {
    const got = await send(tiny.url, "/upload/image", {
      head: multipart("image", `exact-${size}.png`),
      size,
      tail: closing,
      headers: form,
    });
    expect(got.status).toBe(status);
    if (status === 413) expect(got.text).toMatch(TOO_LARGE);
  });

  test("/upload/image: the parts' values count together, not the part headers", async () => {
    // A 600 KiB field and a 600 KiB file: each under 1 MiB, together over it.
    const field = Buffer.concat([
      multipart("subfolder"),
      Buffer.alloc(600 * 1024, 0x61),
      Buffer.from("\r\n"),
      multipart("image", "two.png"),
    ]);
    const got = await send(tiny.url, "/upload/image", {
      head: field,
      size: 600 * 1024,
      tail: closing,
      headers: form,
    });
    expect(got.status).toBe(413);
    const [, , actual] = TOO_LARGE.exec(got.text)!;
    expect(Number(actual)).toBeGreaterThan(LIMIT_TINY);
  });

  test("the connection stays open after a 413 once the rest of the body is read", async () => {
    const socket = connect(new URL(tiny.url).port === "" ? 80 : Number(new URL(tiny.url).port));
    await new Promise<void>((r) => socket.once("connect", () => r()));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (received += d));
    const bodySize = 2 * LIMIT_TINY;
    socket.write(
      `POST /prompt HTTP/1.1\r\nHost: x\r\nContent-Length: ${bodySize}\r\n\r\n${" ".repeat(bodySize)}`,
    );
    socket.write("GET /prompt HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise<void>((r, reject) => {
      const check = () => {
        if (received.includes("queue_remaining")) r();
      };
      socket.on("data", check);
      socket.once("close", () => reject(new Error(`closed after: ${received}`)));
    });
    socket.destroy();
    expect(received).toMatch(/^HTTP\/1\.1 413 Request Entity Too Large\r\n/);
    expect(received).toMatch(/HTTP\/1\.1 200 OK\r\n[^]*"queue_remaining":0/);
  });
});
