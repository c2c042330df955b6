import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { cliProcess } from "../helpers-cli.js";
import { BUNDLED_SCHEMA, ROOT, tempDir } from "../helpers.js";

/**
 * Every ordinary mistake from issue #10 as a real `comfyc` process: a typed error naming what
 * is wrong with a hint (`error [CODE]: … → …`), the documented exit code, no stack trace and no
 * "internal error", and no hang.
 */

interface Context {
  /** A test server for commands that run something. */
  url: string;
  /** A test server that must never receive a prompt. */
  quietUrl: string;
  /** A test server whose nodes take a minute each. */
  slowUrl: string;
  /** A port something else listens on. */
  busyPort: number;
  /** A scratch folder with the files below. */
  dir: string;
}

interface Case {
  readonly name: string;
  readonly args: (c: Context) => string[];
  readonly code: number;
  /** What stderr must say (besides the common checks). */
  readonly stderr?: RegExp;
  readonly stdout?: RegExp;
  readonly env?: Record<string, string>;
  readonly check?: (c: Context) => void;
}

const example = (name: string) => join(ROOT, "examples", name);
const prompt = {
  "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "cli/x" } },
};

const cases: Case[] = [
  // Output folders: created when missing, refused up front when they cannot be written.
  {
    name: "compile --out into a folder that does not exist yet creates it",
    args: (c) => [
      "compile",
      example("hires-fix.ts"),
      "--out",
      join(c.dir, "new", "deep", "p.json"),
    ],
    code: 0,
    check: (c) =>
      expect(readFileSync(join(c.dir, "new", "deep", "p.json"), "utf8")).toBe(
        readFileSync(example("golden/hires-fix.json"), "utf8"),
      ),
  },
  {
    name: "compile --out below a file",
    args: (c) => ["compile", example("hires-fix.ts"), "--out", join(c.dir, "file.txt", "p.json")],
    code: 3,
    stderr: /IO_ERROR.*--out .*file\.txt.*a file is in the way/,
  },
  {
    name: "run --out somewhere unwritable fails before the job is submitted",
    args: (c) => [
      "run",
      join(c.dir, "prompt.json"),
      "--server",
      c.quietUrl,
      "--out",
      "/proc/comfyc-out",
    ],
    code: 3,
    stderr: /IO_ERROR.*--out \/proc\/comfyc-out/,
  },
  {
    name: "codegen --out somewhere unwritable",
    args: () => ["codegen", "--file", BUNDLED_SCHEMA, "--out", "/proc/comfyc-gen"],
    code: 3,
    stderr: /IO_ERROR.*--out \/proc\/comfyc-gen/,
  },
  // serve
  {
    name: "serve on a port in use",
    args: (c) => ["serve", "--port", String(c.busyPort)],
    code: 2,
    stderr: /USAGE.*port is in use[\s\S]*→ .*--port 0/,
  },
  {
    name: "serve --port abc",
    args: () => ["serve", "--port", "abc"],
    code: 2,
    stderr: /--port: "abc" is not a port number/,
  },
  {
    name: "serve --port 70000",
    args: () => ["serve", "--port", "70000"],
    code: 2,
    stderr: /--port: "70000" is not a port number/,
  },
  {
    name: "serve --data-dir that cannot be created (no hang)",
    args: () => ["serve", "--port", "0", "--data-dir", "/proc/comfyc-data"],
    code: 3,
    stderr: /IO_ERROR.*--data-dir \/proc\/comfyc-data/,
  },
  {
    name: "serve --node-duration abc",
    args: () => ["serve", "--port", "0", "--node-duration", "abc"],
    code: 2,
    stderr: /--node-duration: "abc" is not a whole number/,
  },
  {
    name: "serve --models with a misspelled folder",
    args: () => ["serve", "--port", "0", "--models", "checkpoint=a.safetensors"],
    code: 2,
    stderr: /"checkpoint" is not a ComfyUI model folder \(did you mean "checkpoints"\?\)/,
  },
  // Parameters
  {
    name: "--param with a misspelled name",
    args: () => ["compile", example("sd15-txt2img.ts"), "--param", "stepz=30"],
    code: 2,
    stderr: /no parameter "stepz" \(did you mean "steps"\?\)[\s\S]*→ Its parameters: .*steps/,
  },
  {
    name: "--param on a workflow without parameters",
    args: () => ["compile", example("hires-fix.ts"), "--param", "steps=30"],
    code: 2,
    stderr: /takes no parameters/,
  },
  {
    name: "--param on a prompt file",
    args: (c) => ["run", join(c.dir, "prompt.json"), "--server", c.quietUrl, "--param", "seed=1"],
    code: 2,
    stderr: /takes no parameters/,
  },
  {
    name: "--param with a number that is not one",
    args: () => ["compile", example("sd15-txt2img.ts"), "--param", "steps=many"],
    code: 2,
    stderr: /--param steps: "many" is not a number/,
  },
  {
    name: "--param without a value",
    args: () => ["compile", example("sd15-txt2img.ts"), "--param", "steps"],
    code: 2,
    stderr: /is not name=value/,
  },
  {
    name: "--timeout abc",
    args: (c) => ["run", join(c.dir, "prompt.json"), "--server", c.quietUrl, "--timeout", "abc"],
    code: 2,
    stderr: /--timeout: "abc" is not a whole number/,
  },
  // URLs
  {
    name: "a misspelled scheme is a usage error with the intended URL",
    args: (c) => ["run", join(c.dir, "prompt.json"), "--server", "htp://127.0.0.1:8188"],
    code: 2,
    stderr: /--server: "htp:\/\/127\.0\.0\.1:8188"[\s\S]*Did you mean http:\/\/127\.0\.0\.1:8188\?/,
  },
  {
    name: "a URL without a scheme",
    args: () => ["codegen", "--url", "localhost:8188", "--check"],
    code: 2,
    stderr: /Did you mean http:\/\/localhost:8188\?/,
  },
  {
    name: "$COMFYUI_URL is checked like --server",
    args: (c) => ["run", join(c.dir, "prompt.json")],
    env: { COMFYUI_URL: "ws://127.0.0.1:8188" },
    code: 2,
    stderr: /Did you mean http:\/\/127\.0\.0\.1:8188\?/,
  },
  {
    name: "a server URL ending in /api works; progress lines name the file, not its path",
    args: (c) => [
      "run",
      join(c.dir, "prompt.json"),
      "--server",
      `${c.url}/api`,
      "--out",
      join(c.dir, "api-out"),
    ],
    code: 0,
    stderr: /^\[prompt\] queued as /m,
    stdout: /x_00001_\.png/,
  },
  {
    name: "run takes --url like the other commands, checked like --server",
    args: (c) => ["run", join(c.dir, "prompt.json"), "--url", "htp://127.0.0.1:8188"],
    code: 2,
    stderr: /--url: "htp:\/\/127\.0\.0\.1:8188"[\s\S]*Did you mean http:\/\/127\.0\.0\.1:8188\?/,
  },
  {
    name: "run --url and --server naming different servers",
    args: (c) => [
      "run",
      join(c.dir, "prompt.json"),
      "--url",
      c.url,
      "--server",
      "http://127.0.0.1:9",
    ],
    code: 2,
    stderr: /--url .* and --server http:\/\/127\.0\.0\.1:9 name different servers/,
  },
  {
    name: "run --url reaches the server",
    args: (c) => [
      "run",
      join(c.dir, "prompt.json"),
      "--url",
      c.url,
      "--out",
      join(c.dir, "url-out"),
    ],
    code: 0,
    stdout: /x_00001_\.png/,
  },
  // Workflow files
  {
    name: "a workflow file that does not exist",
    args: () => ["compile", "no-such-workflow.ts"],
    code: 3,
    stderr: /IO_ERROR.*no-such-workflow\.ts: no such file/,
  },
  {
    name: "a folder instead of a workflow file",
    args: () => ["compile", "examples"],
    code: 3,
    stderr: /examples is a folder/,
  },
  {
    name: "compile of a prompt .json points to validate and run",
    args: (c) => ["compile", join(c.dir, "prompt.json")],
    code: 2,
    stderr: /is JSON[\s\S]*comfyc validate/,
  },
  {
    name: "a workflow whose generated/ is missing hints comfyc codegen",
    args: (c) => ["compile", join(c.dir, "needs-generated.ts")],
    code: 3,
    stderr: /WORKFLOW_INVALID[\s\S]*→ .*comfyc codegen --url/,
  },
  {
    name: "a workflow that throws keeps the user's error as the message",
    args: (c) => ["compile", join(c.dir, "throws.ts")],
    code: 3,
    stderr: /WORKFLOW_INVALID.*my own mistake/,
  },
  // The job
  {
    name: "a timeout names --timeout in its hint",
    args: (c) => [
      "run",
      join(c.dir, "prompt.json"),
      "--server",
      c.slowUrl,
      "--timeout",
      "300",
      "--out",
      join(c.dir, "slow"),
    ],
    code: 7,
    stderr: /TIMEOUT[\s\S]*→ .*comfyc run --timeout/,
  },
  // import and convert (editor workflows) share the flags' rules.
  {
    name: "convert --out into a folder that does not exist yet creates it",
    args: (c) => [
      "convert",
      join(ROOT, "test", "fixtures", "import", "ui", "ui_tpl_default.json"),
      "--schema",
      BUNDLED_SCHEMA,
      "--out",
      join(c.dir, "converted", "p.json"),
    ],
    code: 0,
    check: (c) =>
      expect(
        Object.keys(JSON.parse(readFileSync(join(c.dir, "converted", "p.json"), "utf8")) as object)
          .length,
      ).toBeGreaterThan(0),
  },
  {
    name: "import --url with a misspelled scheme",
    args: () => [
      "import",
      join(ROOT, "test", "fixtures", "import", "ui", "ui_tpl_default.json"),
      "--url",
      "htp://127.0.0.1:8188",
    ],
    code: 2,
    stderr: /USAGE.*--url[\s\S]*http:\/\/127\.0\.0\.1:8188/,
  },
  // Help and version
  {
    name: "--version",
    args: () => ["--version"],
    code: 0,
    stdout: new RegExp(
      `^${(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version.replaceAll(".", "\\.")}\\n$`,
    ),
  },
  {
    name: "run --help names $COMFYUI_URL",
    args: () => ["run", "--help"],
    code: 0,
    stdout: /\$COMFYUI_URL/,
  },
  {
    name: "an unknown option",
    args: () => ["compile", example("hires-fix.ts"), "--outt", "x.json"],
    code: 2,
    stderr: /unknown option '--outt'[\s\S]*Did you mean --out\?/,
  },
];

let ctx: Context;
let servers: TestServer[] = [];
let busy: Server;

beforeAll(async () => {
  const dir = tempDir("comfyc-cli-errors-");
  writeFileSync(join(dir, "file.txt"), "not a folder\n");
  writeFileSync(join(dir, "prompt.json"), JSON.stringify(prompt));
  writeFileSync(
    join(dir, "needs-generated.ts"),
    'import { KSampler } from "./generated/core.js";\nexport default KSampler;\n',
  );
  writeFileSync(join(dir, "throws.ts"), 'throw new Error("my own mistake");\nexport {};\n');
  servers = await Promise.all([
    startTestServer(),
    startTestServer(),
    startTestServer({ nodeDurationMs: 60_000 }),
  ]);
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const [main, quiet, slow] = servers;
  ctx = {
    url: main!.url,
    quietUrl: quiet!.url,
    slowUrl: slow!.url,
    busyPort: (busy.address() as { port: number }).port,
    dir,
  };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await new Promise((resolve) => busy.close(resolve));
});

describe("comfyc's ordinary mistakes, as real processes", () => {
  test.concurrent.each(cases.map((c) => [c.name, c] as const))(
    "%s",
    async (_, c) => {
      const env = { ...process.env };
      delete env["COMFYUI_URL"];
      Object.assign(env, c.env);
      const result = await cliProcess(c.args(ctx), { env });
      const output = `exit ${result.code}\n--- stderr\n${result.stderr}\n--- stdout\n${result.stdout}`;
      expect(result.code, output).toBe(c.code);
      expect(result.stderr, output).not.toMatch(/internal error|^\s+at .+:\d+:\d+\)?$/m);
      if (c.code !== 0 && !/unknown option/.test(result.stderr))
        expect(result.stderr, output).toMatch(/^error \[[A-Z_]+\]: .+[\s\S]*\n {2}→ \S/m);
      if (c.stderr) expect(result.stderr, output).toMatch(c.stderr);
      if (c.stdout) expect(result.stdout, output).toMatch(c.stdout);
      c.check?.(ctx);
    },
    600_000,
  ); // each case starts Node with tsx: slow on a loaded machine

  test("nothing was submitted to the server that only saw failing commands", () => {
    expect(servers[1]!.requests.filter((r) => r.includes("/prompt"))).toEqual([]);
  });
});
