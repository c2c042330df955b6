import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { cli, cliProcess } from "../helpers-cli.js";
import { ROOT, tempDir } from "../helpers.js";
import { freePort, spawnCli, until } from "../waits.js";

/** A prompt file written as raw text, so integers beyond 2^53 stay exactly as written. */
const promptFile = (text: string) => {
  const file = join(tempDir(), "prompt.json");
  writeFileSync(file, text);
  return file;
};
const slowPrompt = (w: number) =>
  promptFile(
    JSON.stringify({
      "1": { class_type: "EmptyImage", inputs: { width: w, height: 2, batch_size: 1, color: 0 } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": { class_type: "PreviewImage", inputs: { images: ["2", 0] } },
    }),
  );

const running = (s: TestServer) => () => s.wsLog.some(([, type]) => type === "executing");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  // Loaded once here, so the timed test below measures the run, not module loading.
  await import("../../src/cli/run-command.js");
});
afterAll(async () => {
  await server.close();
});

describe("comfyc run against a failing server", () => {
  test("nothing listening: exit 8 within 5 s, naming the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const { code, stderr } = await cli("run", slowPrompt(3), "--server", url, "--out", tempDir());
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(code).toBe(8);
    expect(stderr).toContain(`${url}/api/prompt failed after 5 attempts`);
    expect(stderr).toMatch(/SERVER_UNREACHABLE[\s\S]*ECONNREFUSED/);
  });

  test("503 everywhere: exit 8 naming POST /prompt; five POSTs and four history checks", async () => {
    const s = await startTestServer();
    try {
      s.script.failHttp({ status: 503, count: 1_000_000 });
      const { code, stderr } = await cli("run", slowPrompt(4), "--server", s.url);
      expect(code).toBe(8);
      expect(stderr).toContain(`POST ${s.url}/api/prompt failed after 5 attempts`);
      expect(stderr).toContain("503");
      expect(s.requests.filter((r) => r === "POST /api/prompt")).toHaveLength(5);
      expect(s.requests.filter((r) => r.startsWith("GET /api/history/"))).toHaveLength(4);
      expect(s.requests).toHaveLength(9);
    } finally {
      await s.close();
    }
  });

  test("the server dies for good mid-job: exit 8 with SERVER_GONE after --unreachable-timeout", async () => {
    const s = await startTestServer();
    try {
      s.script.node("ImageInvert", { durationMs: 60_000 });
      const result = cli("run", slowPrompt(5), "--server", s.url, "--unreachable-timeout", "1000");
      await until(running(s));
      await s.script.stop();
      const { code, stderr } = await result;
      expect(code).toBe(8);
      expect(stderr).toMatch(/SERVER_GONE/);
      expect(stderr).toContain(`--unreachable-timeout`);
    } finally {
      await s.close();
    }
  });

  test("--timeout: the job is interrupted on the server before the CLI exits 7", async () => {
    const s = await startTestServer();
    try {
      s.script.node("ImageInvert", { durationMs: 3000 });
      const { code, stderr } = await cli(
        "run",
        slowPrompt(6),
        "--server",
        s.url,
        "--timeout",
        "300",
      );
      expect(code).toBe(7);
      expect(stderr).toMatch(/TIMEOUT/);
      expect(stderr).toContain(`The job was interrupted on ${s.url}`);
      // Sent before the CLI returned, not after: the atomic cancel of this 0.33.0 server
      // (POST /interrupt before 0.26.0, see runtime-jobs-api.test.ts).
      expect(s.requests).toContainEqual(
        expect.stringMatching(/^POST \/api\/jobs\/[0-9a-f-]{36}\/cancel$/),
      );
    } finally {
      await s.close();
    }
  });

  test("--timeout with a frozen server: the process exits 7 while the server is still frozen, saying the cancel could not be delivered", async () => {
    const s = await startTestServer();
    try {
      s.script.node("ImageInvert", { durationMs: 600_000 });
      const run = spawnCli("run", slowPrompt(7), "--server", s.url, "--timeout", "2000");
      await run.waitFor(/node ImageInvert/);
      // Like kill -STOP: nothing answered, not even the WebSocket's close frame, until the
      // process has exited on its own clock.
      s.script.freeze();
      expect(await run.exit).toBe(7);
      expect(run.stderr()).toMatch(/TIMEOUT/);
      expect(run.stderr()).toMatch(/Could not cancel the job on .*It may still run there/);
    } finally {
      await s.close();
    }
  });
});

describe("exact integers from prompt files", () => {
  const noise = (seed: string) =>
    promptFile(
      `{"1": {"class_type": "RandomNoise", "inputs": {"noise_seed": ${seed}}},` +
        ` "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}`,
    );
  const primitive = (value: string) =>
    promptFile(
      `{"1": {"class_type": "PrimitiveInt", "inputs": {"value": ${value}}},` +
        ` "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}`,
    );
  const schema = join(ROOT, "data", "object_info.json");

  test("a seed of 2^64−1 validates and reaches the server digit for digit", async () => {
    const file = noise("18446744073709551615");
    expect((await cli("validate", file, "--schema", schema)).code).toBe(0);
    const { code, stderr } = await cli("run", file, "--server", server.url, "--out", tempDir());
    expect(code).toBe(0);
    const promptId = /Done: ([0-9a-f-]{36})/.exec(stderr)![1]!;
    // The raw reply, not a parse of it: what the server stored, as its own JSON.
    const raw = await (await fetch(`${server.url}/history/${promptId}`)).text();
    expect(raw).toContain('"noise_seed":18446744073709551615');
    expect(await cli("validate", noise("18446744073709551616"), "--schema", schema)).toMatchObject({
      code: 1,
    });
  });

  test("2^63 against a --schema maximum of 2^63−1 is rejected, 2^63−1 accepted (as processes)", async () => {
    // The schema file is read losslessly: PrimitiveInt's max stays 9223372036854775807 (a
    // JSON.parse would round it up to 2^63 and accept 2^63).
    const over = await cliProcess([
      "validate",
      primitive("9223372036854775808"),
      "--schema",
      schema,
    ]);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain(
      "9223372036854775808 is above the maximum (allowed -9223372036854775807 … 9223372036854775807)",
    );
    const at = await cliProcess(["validate", primitive("9223372036854775807"), "--schema", schema]);
    expect(at.code).toBe(0);
  });
});

describe("a user's exception in a workflow", () => {
  const throws = join(ROOT, "test", "fixtures", "workflows", "throws.ts");

  test("is the workflow's error (exit 3), never SERVER_ERROR; --verbose shows its stack", async () => {
    const { code, stderr } = await cli("run", throws, "--server", server.url);
    expect(code).toBe(3);
    expect(stderr).toMatch(/WORKFLOW_INVALID[\s\S]*TypeError/);
    expect(stderr).not.toMatch(/SERVER_/);
    const verbose = await cli("--verbose", "run", throws, "--server", server.url);
    expect(verbose.code).toBe(3);
    expect(verbose.stderr).toMatch(/caused by: TypeError[\s\S]*throws\.ts/);
    // comfyc compile reports it the same way: not an internal error of comfyc (exit 70).
    const compiled = await cli("compile", throws);
    expect(compiled.code).toBe(3);
    expect(compiled.stderr).toMatch(/WORKFLOW_INVALID[\s\S]*TypeError/);
  });
});

describe("signals", () => {
  test("SIGTERM against a dead server: cancels, says it could not, exits 8 (CANCEL_UNDELIVERED, not cancelled) within the cancel budget", async () => {
    const s = await startTestServer();
    try {
      s.script.node("ImageInvert", { durationMs: 60_000 });
      const run = spawnCli("run", slowPrompt(8), "--server", s.url, "--out", tempDir());
      await until(running(s));
      await s.script.stop();
      const t0 = Date.now();
      run.child.kill("SIGTERM");
      const code = await run.exit;
      // The cancel budget (5 s) bounds it, well inside the 10 s grace period.
      expect(Date.now() - t0).toBeLessThan(10_000);
      // The server never took the cancel: nothing says the prompt stopped.
      expect(code).toBe(8);
      expect(run.stderr()).toMatch(/Cancelling the job/);
      expect(run.stderr()).toMatch(
        /error \[CANCEL_UNDELIVERED\]: Prompt [0-9a-f-]{36} was not cancelled: .*cannot reach/,
      );
      expect(run.stderr()).not.toMatch(/\[CANCELLED\]/);
    } finally {
      await s.close();
    }
  });

  test("a second signal exits at once with 143", async () => {
    const s = await startTestServer();
    try {
      s.script.node("ImageInvert", { durationMs: 60_000 });
      const run = spawnCli("run", slowPrompt(9), "--server", s.url, "--out", tempDir());
      await until(running(s));
      s.script.freeze(); // the cancel would wait for its whole budget
      run.child.kill("SIGTERM");
      await until(() => /Cancelling the job/.test(run.stderr()));
      run.child.kill("SIGTERM");
      expect(await run.exit).toBe(143);
      s.script.thaw();
    } finally {
      await s.close();
    }
  });
});
