import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { ComfyClient, parseObjectInfoReply } from "comfyc/runtime";
import { rememberedSchemaHash } from "../../src/codegen/source-hashes.js";
import { cli } from "../helpers-cli.js";
import { tempDir } from "../helpers.js";
import { freePort } from "../waits.js";

// One way to read a server: codegen --url, validate --url and import --url go through the
// runtime client, so they get its retry budget, auth headers and typed errors.

let server: TestServer;
let guarded: TestServer;
let legacy: TestServer;
beforeAll(async () => {
  [server, guarded, legacy] = await Promise.all([
    startTestServer(),
    startTestServer({ auth: { bearer: "tok" } }),
    // Older than comfyc models on purpose: its warning is not what these tests are about.
    startTestServer({ comfyuiVersion: "0.3.60", warn: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([server.close(), guarded.close(), legacy.close()]);
});

const gets = (s: TestServer, path: string) => s.requests.filter((r) => r === `GET ${path}`).length;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("the runtime client's raw /object_info", () => {
  test("objectInfoText() is the reply's exact text; parsing it keeps 64-bit limits exact", async () => {
    const client = new ComfyClient({ url: server.url });
    try {
      const text = await client.objectInfoText();
      expect(text).toBe(await (await fetch(`${server.url}/api/object_info`)).text());
      const raw = parseObjectInfoReply(text, `${server.url}/api/object_info`);
      expect(raw).toEqual(await client.objectInfo());
      const seed = (
        raw["KSampler"] as { input: { required: { seed: [string, { max: unknown }] } } }
      ).input.required.seed[1].max;
      expect(seed).toBe(18446744073709551615n);
    } finally {
      await client.close();
    }
  });

  test("a reply that is not JSON is BAD_SERVER_REPLY naming the request", () => {
    expect(() => parseObjectInfoReply("<html>", "http://h/api/object_info")).toThrow(
      expect.objectContaining({
        code: "BAD_SERVER_REPLY",
        message: expect.stringContaining("GET http://h/api/object_info"),
      }),
    );
  });
});

describe("comfyc codegen --url", () => {
  test("retries a failing /object_info within the budget, then remembers the text's hash", async () => {
    const out = tempDir();
    server.script.failHttp({ status: 503, count: 2, path: /object_info/ });
    const before = gets(server, "/api/object_info");
    const first = await cli("codegen", "--url", server.url, "--out", out, "--include", "core");
    expect(first.code).toBe(0);
    expect(gets(server, "/api/object_info") - before).toBe(3);
    // The hash remembered for the unchanged re-run is the sha256 of the bytes the server sent.
    const text = await (await fetch(`${server.url}/api/object_info`)).text();
    const header = /object_info \(sha256 ([0-9a-f]{64})\)/.exec(
      readFileSync(join(out, "index.d.ts"), "utf8"),
    )![1];
    expect(await rememberedSchemaHash(out, sha256(text))).toBe(header);
    const again = await cli("codegen", "--url", server.url, "--out", out, "--include", "core");
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/is up to date with http:\/\/127\.0\.0\.1:\d+\/api\/object_info/);
  });

  test("nothing listening: SERVER_UNREACHABLE (exit 8) naming the request and its attempts", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { code, stderr } = await cli("codegen", "--url", url, "--out", tempDir());
    expect(code).toBe(8);
    expect(stderr).toContain(`GET ${url}/api/object_info failed after 5 attempts`);
  });

  test("401 without the header is AUTH_FAILED (exit 9); a URL naming /object_info reads the same server", async () => {
    expect((await cli("codegen", "--url", guarded.url, "--out", tempDir())).code).toBe(9);
    const { code } = await cli(
      "codegen",
      "--url",
      `${guarded.url}/api/object_info`,
      "--header",
      "Authorization: Bearer tok",
      "--out",
      tempDir(),
      "--include",
      "core",
    );
    expect(code).toBe(0);
  });
});

describe("validate --url and import --url", () => {
  test("validate --url's version probe is retried: a 503 on /system_stats still gets 0.3.60's rules", async () => {
    const file = join(tempDir(), "prompt.json");
    writeFileSync(file, JSON.stringify({ "1": { class_type: "Nope", inputs: {} } }));
    legacy.script.failHttp({ status: 503, count: 1, path: /system_stats/ });
    const before = gets(legacy, "/api/system_stats");
    const { code, stdout } = await cli("validate", file, "--url", legacy.url, "--json");
    expect(code).toBe(1);
    expect(gets(legacy, "/api/system_stats") - before).toBe(2);
    // 0.3.60 reports an unknown class as invalid_prompt; newer versions as missing_node_type.
    expect((JSON.parse(stdout) as { error: { type: string } }).error.type).toBe("invalid_prompt");
  });

  test("import --url sends --header and retries like run", async () => {
    const file = join(tempDir(), "prompt.json");
    writeFileSync(
      file,
      JSON.stringify({
        "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      }),
    );
    expect((await cli("import", file, "--url", guarded.url)).code).toBe(9);
    guarded.script.failHttp({ status: 502, count: 1, path: /object_info/ });
    const { code, stdout } = await cli(
      "import",
      file,
      "--url",
      guarded.url,
      "--header",
      "Authorization: Bearer tok",
    );
    expect(code).toBe(0);
    expect(stdout).toContain("EmptyImage");
  });
});
