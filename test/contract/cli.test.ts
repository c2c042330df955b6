import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { cli, cliProcess, spawnCli } from "../helpers-cli.js";
import { ROOT, tempDir } from "../helpers.js";

const example = (name: string) => join(ROOT, "examples", name);

const writePrompt = (prompt: unknown) => {
  const file = join(tempDir(), "prompt.json");
  writeFileSync(file, JSON.stringify(prompt));
  return file;
};
const image = (w: number, h: number) => ({
  "1": { class_type: "EmptyImage", inputs: { width: w, height: h, batch_size: 1, color: 0 } },
  "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
  "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "cli/out" } },
});

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

describe("comfyc run", () => {
  test("runs an example workflow, saves its PNGs, prints JSON lines with --json", async () => {
    const out = tempDir();
    const { code, stdout } = await cli(
      "run",
      example("hires-fix.ts"),
      "--server",
      server.url,
      "--out",
      out,
      "--json",
    );
    expect(code).toBe(0);
    const lines = stdout.split("\n").map((l) => JSON.parse(l));
    const done = lines.at(-1);
    expect(done.event).toBe("run.done");
    expect(done.files.length).toBeGreaterThan(0);
    for (const file of done.files as string[]) {
      expect(file.startsWith(out)).toBe(true);
      const png = PNG.sync.read(readFileSync(file));
      expect(png.width).toBeGreaterThan(0);
    }
    // The job's events came first, one JSON object per line.
    expect(lines.slice(0, -1).some((l) => l.event === "job.progress")).toBe(true);
  });

  test("a prompt file with parameters left out; plain lines when not a terminal", async () => {
    const out = tempDir();
    const { code, stdout, stderr } = await cli(
      "run",
      writePrompt(image(21, 4)),
      "--server",
      server.url,
      "--out",
      out,
    );
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(join(out, "cli", "out_00001_.png"));
    expect(stderr).toMatch(/Done: [0-9a-f-]{36}/);
  });

  test("a saved POST /prompt body runs the outputs its partial_execution_targets names", async () => {
    const out = tempDir();
    const prompt = {
      ...image(13, 5),
      // An output that cannot run: the body leaves it out of partial_execution_targets.
      "4": { class_type: "SaveImage", inputs: { images: ["9", 0], filename_prefix: "cli/x" } },
    };
    const file = join(tempDir(), "body.json");
    writeFileSync(file, JSON.stringify({ prompt, partial_execution_targets: ["3"] }));
    const ran = await cli("run", file, "--server", server.url, "--out", out);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout.trim().split("\n")).toHaveLength(1);
    expect(PNG.sync.read(readFileSync(ran.stdout.trim())).width).toBe(13);
    // validate judges the same body the same way; without the field output 4 fails.
    expect((await cli("validate", file, "--url", server.url)).code).toBe(0);
    writeFileSync(file, JSON.stringify({ prompt, partial_execution_targets: 5 }));
    const refused = await cli("run", file, "--server", server.url, "--out", out);
    expect([refused.code, refused.stderr]).toEqual([
      3,
      expect.stringContaining("partial_execution_targets is 5"),
    ]);
    writeFileSync(file, JSON.stringify({ prompt }));
    expect((await cli("validate", file, "--url", server.url)).code).toBe(1);
  });

  test("--param image=<local file> uploads it for img2img's LoadImage, once", async () => {
    const photo = join(tempDir(), "photo.png");
    const png = new PNG({ width: 40, height: 24 });
    png.data.fill(90);
    writeFileSync(photo, PNG.sync.write(png));
    const uploads = () => server.requests.filter((r) => r.endsWith("/upload/image")).length;
    const before = uploads();
    for (const seed of ["1", "2"]) {
      const out = tempDir();
      const { code, stdout } = await cli(
        "run",
        example("img2img.ts"),
        "--server",
        server.url,
        "--param",
        `image=${photo}`,
        "--param",
        `seed=${seed}`,
        "--out",
        out,
      );
      expect(code).toBe(0);
      const saved = PNG.sync.read(readFileSync(stdout.trim()));
      expect([saved.width, saved.height]).toEqual([40, 24]);
    }
    expect(uploads()).toBe(before + 1);
  });

  test("workflows are validated against the server's own schema: its model files decide", async () => {
    const withLora = await startTestServer({ models: { loras: ["sample_lora.safetensors"] } });
    try {
      const ok = await cli(
        "run",
        example("lora-stack.ts"),
        "--server",
        withLora.url,
        "--out",
        tempDir(),
      );
      expect(ok.code).toBe(0);
    } finally {
      await withLora.close();
    }
    // The default server has no LoRA files: rejected offline, naming the source line, nothing sent.
    const before = server.requests.filter((r) => r.endsWith("/prompt")).length;
    const missing = await cli("run", example("lora-stack.ts"), "--server", server.url);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /PROMPT_INVALID[\s\S]*sample_lora\.safetensors[\s\S]*lora-stack\.ts:\d+/,
    );
    expect(server.requests.filter((r) => r.endsWith("/prompt")).length).toBe(before);
  });

  test("exit codes: execution failure 4, rejection 1, unreachable 8, missing auth 9", async () => {
    server.script.node("ImageInvert", { fail: { message: "boom" } });
    try {
      const failed = await cli("run", writePrompt(image(22, 4)), "--server", server.url);
      expect(failed.code).toBe(4);
      expect(failed.stderr).toContain("boom");
    } finally {
      server.script.clearNodes();
    }
    const rejected = await cli("run", writePrompt(image(0, 4)), "--server", server.url);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain("width: 0 is below the minimum");
    const closed = await startTestServer();
    const url = closed.url;
    await closed.close();
    expect((await cli("run", writePrompt(image(1, 1)), "--server", url)).code).toBe(8);
    expect((await cli("run", writePrompt(image(1, 1)), "--server", guarded.url)).code).toBe(9);
    const out = tempDir();
    const authed = await cli(
      "run",
      writePrompt(image(23, 4)),
      "--server",
      guarded.url,
      "--header",
      "Authorization: Bearer tok",
      "--out",
      out,
    );
    expect(authed.code).toBe(0);
    expect(readdirSync(join(out, "cli"))).toEqual(["out_00001_.png"]);
  });
});

describe("comfyc codegen and validate against a live server", () => {
  test("codegen --url with --header writes the same modules as from the file", async () => {
    const out = tempDir();
    expect((await cli("codegen", "--url", guarded.url, "--out", out)).code).toBe(9);
    const { code } = await cli(
      "codegen",
      "--url",
      guarded.url,
      "--header",
      "Authorization: Bearer tok",
      "--out",
      out,
      "--include",
      "core",
    );
    expect(code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["core.d.ts", "core.js", "index.d.ts", "index.js"]);
    // The repository's generated/core.* comes from the same bundled schema.
    const body = (s: string) => s.slice(s.indexOf("\n\n"));
    expect(body(readFileSync(join(out, "core.d.ts"), "utf8"))).toBe(
      body(readFileSync(join(ROOT, "generated", "core.d.ts"), "utf8")),
    );
  });

  test("validate --url follows the version the server reports", async () => {
    const file = writePrompt({ "1": { class_type: "Nope", inputs: {} } });
    const newest = await cli("validate", file, "--url", server.url, "--json");
    const old = await cli("validate", file, "--url", legacy.url, "--json");
    expect(newest.code).toBe(1);
    expect(JSON.parse(newest.stdout).error.type).toBe("missing_node_type");
    expect(JSON.parse(old.stdout).error.type).toBe("invalid_prompt");
    const valid = await cli("validate", writePrompt(image(5, 5)), "--url", server.url);
    expect(valid.code).toBe(0);
  });

  test("validate --url against a release newer than comfyc models: the newest rules, one warning naming both", async () => {
    // The server's own warning is not the point (the CLI's is): none from it.
    const newer = await startTestServer({ port: 0, comfyuiVersion: "0.41.0", warn: false });
    try {
      // In a process of its own, as a user runs it: its stderr is what is checked.
      const file = writePrompt({ "1": { class_type: "Nope", inputs: {} } });
      const run = await cliProcess(["validate", file, "--url", newer.url, "--json"]);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout).error.type).toBe("missing_node_type");
      expect(run.stderr.split("\n").filter((l) => l.startsWith("warning:"))).toEqual([
        `warning: ${newer.url}/api/object_info (/system_stats): ComfyUI 0.41.0 is newer than the newest release comfyc models (0.33.0): 0.33.0's rules apply, and what 0.41.0 changed is not modelled`,
      ]);
    } finally {
      await newer.close();
    }
  });
});

describe("progress display", () => {
  test("bars on a terminal: nodes done of total, the current node, sampler steps", async () => {
    const { PassThrough } = await import("node:stream");
    const { ComfyClient } = await import("comfyc/runtime");
    const { showProgress } = await import("../../src/cli/progress.js");
    const { default: txt2img } = await import("../../examples/sd15-txt2img.js");
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    let drawn = "";
    terminal.on("data", (chunk: Buffer) => (drawn += chunk.toString()));
    const client = new ComfyClient({ url: server.url });
    try {
      const job = client.submit(txt2img.compileWithReport({ steps: 6, seed: 99 }));
      const quiet = {
        out: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      };
      const stop = showProgress(job, "txt2img", "bars", quiet, (id) => `n${id}`, terminal);
      await job.result();
      stop();
      const total = Object.keys(job.prompt).length;
      expect(drawn).toContain(`${total}/${total} done`);
      expect(drawn).toMatch(/steps\s+\|[█░]+\| 6\/6 n\d+ #\d+/);
      expect(drawn).toContain("txt2img");
    } finally {
      await client.close();
    }
  });
});

describe("Ctrl-C during comfyc run", () => {
  test("cancels the job on the server and exits with code 5", async () => {
    server.script.node("KSampler", { durationMs: 20_000 });
    try {
      const child = spawnCli(
        "run",
        example("sd15-txt2img.ts"),
        "--param",
        "seed=314159",
        "--server",
        server.url,
        "--out",
        tempDir(),
      );
      let stderr = "";
      const promptId = await new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          const id = /queued as ([0-9a-f-]{36})/.exec(stderr)?.[1];
          // Wait until the sampler runs, then press Ctrl-C.
          if (id && /node KSampler #\d+/.test(stderr)) resolve(id);
        });
        child.once("exit", () => reject(new Error(`exited early:\n${stderr}`)));
      });
      child.kill("SIGINT");
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code).toBe(5);
      expect(stderr).toMatch(/Cancelling the job/);
      expect(stderr).toMatch(/CANCELLED/);
      // The sampler was stopped between steps, long before its 20 s: an interrupted entry.
      await server.finished(promptId);
      const res = await fetch(`${server.url}/history/${promptId}`);
      const entry = ((await res.json()) as Record<string, { status?: { status_str?: string } }>)[
        promptId
      ];
      expect(entry?.status?.status_str).toBe("error");
    } finally {
      server.script.clearNodes();
    }
    // Spawns the CLI through tsx; slow to start on a loaded machine.
  }, 180_000);

  test("against a server that freezes (accepts, never answers): exit 8, CANCEL_UNDELIVERED, never 'cancelled'", async () => {
    const frozen = await startTestServer({ port: 0 });
    frozen.script.node("KSampler", { durationMs: 60_000 });
    try {
      const child = spawnCli(
        "run",
        example("sd15-txt2img.ts"),
        "--param",
        "seed=271828",
        "--server",
        frozen.url,
        "--out",
        tempDir(),
      );
      let stderr = "";
      await new Promise<void>((resolve, reject) => {
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          if (/node KSampler #\d+/.test(stderr)) resolve();
        });
        child.once("exit", () => reject(new Error(`exited early:\n${stderr}`)));
      });
      frozen.script.freeze();
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      // The CLI exits on its own, within the cancel budget, while the server is still frozen.
      expect(await exited).toBe(8);
      expect(stderr).toMatch(/Cancelling the job/);
      expect(stderr).toMatch(
        /error \[CANCEL_UNDELIVERED\]: Prompt [0-9a-f-]{36} was not cancelled: \S+ did not answer the cancel of prompt [0-9a-f-]{36} within the cancel budget of 5000 ms/,
      );
      expect(stderr).toContain(`may still be queued or running on ${frozen.url}`);
      expect(stderr).not.toMatch(/CANCELLED/);
    } finally {
      frozen.script.thaw();
      await frozen.close();
    }
  }, 180_000);
});

describe("comfyc serve", () => {
  test("prints its URL, serves the protocol until SIGTERM, then exits 0", async () => {
    const dataDir = tempDir();
    const child = spawnCli("serve", "--port", "0", "--data-dir", dataDir);
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        const line = /^(http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
        if (line) resolve(line[1]!);
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
    });
    const stats = (await (await fetch(`${url}/system_stats`)).json()) as {
      system: { comfyui_version: string };
    };
    expect(stats.system.comfyui_version).toMatch(/^\d+\.\d+\.\d+$/);
    const ok = await cli("run", writePrompt(image(12, 3)), "--server", url, "--out", tempDir());
    expect(ok.code).toBe(0);
    // Its files live in --data-dir.
    expect(readdirSync(join(dataDir, "output", "cli"))).toEqual(["out_00001_.png"]);
    child.kill("SIGTERM");
    expect(await new Promise((r) => child.once("exit", r))).toBe(0);
  });

  test("--tls-keyfile without --tls-certfile is a usage error", async () => {
    const { code, stderr } = await cli("serve", "--port", "0", "--tls-keyfile", "k.pem");
    expect(code).toBe(2);
    expect(stderr).toMatch(/go together/);
  });
});
