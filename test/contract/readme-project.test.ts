import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ROOT, tempDir } from "../helpers.js";
import { install, packComfyc, removeAll } from "../packed.js";

/**
 * README "Use comfyc in your project" and "In five minutes", followed as written in a fresh
 * folder with `npm pack` of this checkout: its shell lines run through bash (the one change: the
 * install line names the tarball instead of the registry's comfyc, and npm reads its cache
 * first), its tsconfig and workflow are written as shown, `comfyc serve` runs in the
 * background as the "second terminal" (on a free port instead of 8188, whose URL replaces
 * 8188's in the commands after it) and is stopped with Ctrl-C's SIGINT. Slow: npm installs
 * from the registry cache and tsc runs on the generated code.
 */

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The text of a `## heading` section of the README, up to the next `## `. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const end = README.indexOf("\n## ", start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The fenced code blocks of `text` in the language `lang`, in order. */
function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** The command lines of a shell block, without comments. */
const commands = (block: string) =>
  block
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line && !line.startsWith("#"));

interface Ran {
  readonly code: number | null;
  readonly output: string;
}

/** Runs one README line in `cwd` through bash, as a user's terminal would. */
function sh(cwd: string, line: string): Ran {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
  };
  delete env["COMFYUI_URL"];
  // Tests run with vitest's own NODE_OPTIONS and the repository's tsx conditions; a user's
  // shell has neither.
  delete env["NODE_OPTIONS"];
  const r = spawnSync("bash", ["-c", line], { cwd, env, encoding: "utf8" });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const setUp = section("Use comfyc in your project");
const fiveMinutes = section("In five minutes");

let tarball: string;
let project: string;
let runtimeOnly: string;

beforeAll(() => {
  tarball = packComfyc();
  project = tempDir("comfyc-readme-");
  runtimeOnly = tempDir("comfyc-runtime-only-");
}, 600_000);

afterAll(() => removeAll(join(tarball, ".."), project, runtimeOnly));

describe("README: Use comfyc in your project, then In five minutes", () => {
  test("works as written in a fresh folder", async () => {
    const installs: string[] = [];
    for (const line of commands(blocks(setUp, "sh")[0]!)) {
      const adapted = line
        .replace(/^npm install comfyc /, `npm install ${tarball} `)
        .replace(/^npm install /, "npm install --prefer-offline --no-audit ");
      const r = sh(project, adapted);
      expect(r.code, `${line}\n${r.output}`).toBe(0);
      if (line.startsWith("npm install")) installs.push(r.output);
    }
    // npm 11 lists packages whose install scripts it has not been allowed to run: never comfyc.
    for (const output of installs)
      expect(output).not.toMatch(/install-scripts[^\n]*comfyc|comfyc@[^\n]*(prepare|install)/);
    const pkg = JSON.parse(readFileSync(join(project, "package.json"), "utf8")) as {
      type?: string;
      dependencies: Record<string, string>;
    };
    expect(pkg.type).toBe("module");
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["comfyc", "zod"]);
    writeFileSync(join(project, "tsconfig.json"), blocks(setUp, "json")[0]!);

    // The "second terminal": comfyc serve in the foreground until Ctrl-C.
    const [serveBlock, codegenBlock, runBlock] = blocks(fiveMinutes, "sh");
    const [serveLine] = commands(serveBlock!);
    expect(serveLine).toBe("npx comfyc serve");
    const server = spawn("bash", ["-c", `exec ${serveLine} --port 0`], {
      cwd: project,
      env: { ...process.env, NODE_OPTIONS: "" },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so the SIGINT below reaches npx and comfyc as Ctrl-C would.
      detached: true,
    });
    let serverErr = "";
    server.stderr.setEncoding("utf8").on("data", (t: string) => (serverErr += t));
    const exited = new Promise<number | null>((resolve) => server.once("exit", resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        server.stdout.setEncoding("utf8").once("data", (t: string) => resolve(t.trim()));
        void exited.then((code) => reject(new Error(`serve exited ${code}: ${serverErr}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const withUrl = (line: string) => line.replaceAll("http://127.0.0.1:8188", url);

      for (const line of commands(codegenBlock!)) {
        const r = sh(project, withUrl(line));
        expect(r.code, `${line}\n${r.output}`).toBe(0);
      }
      const workflow = blocks(fiveMinutes, "ts")[0]!;
      expect(workflow.startsWith("// my-workflow.ts\n")).toBe(true);
      writeFileSync(join(project, "my-workflow.ts"), workflow);
      for (const line of commands(runBlock!)) {
        const r = sh(project, withUrl(line));
        expect(r.code, `${line}\n${r.output}`).toBe(0);
      }
      expect(JSON.parse(readFileSync(join(project, "prompt.json"), "utf8"))).toMatchObject({
        "1": { class_type: "CheckpointLoaderSimple" },
      });
      expect(readdirSync(join(project, "out")).filter((f) => f.endsWith(".png"))).not.toEqual([]);

      // What the workflow's comment promises: ckpt.CLIP wired into `model` fails tsc.
      writeFileSync(
        join(project, "wrong.ts"),
        workflow.replace("model: ckpt.MODEL,", "model: ckpt.CLIP,"),
      );
      const wrong = sh(project, "npx tsc");
      expect(wrong.code).not.toBe(0);
      expect(wrong.output).toMatch(/wrong\.ts\(\d+,\d+\): error TS2322: .*"CLIP".*\n?.*"MODEL"/);
      removeAll(join(project, "wrong.ts"));

      // Without "type": "module", compile says what to add (not Node's require() cycle error).
      expect(sh(project, "npm pkg delete type").code).toBe(0);
      const commonjs = sh(project, "npx comfyc compile my-workflow.ts");
      expect(commonjs.code, commonjs.output).toBe(3);
      expect(commonjs.output).toMatch(/"type": "module"/);
      expect(commonjs.output).not.toMatch(/internal error|^\s+at /m);
      expect(sh(project, "npm pkg set type=module").code).toBe(0);
    } finally {
      process.kill(-server.pid!, "SIGINT");
      await exited;
    }
    // The test server's temporary data folder goes with it.
    const dataDir = /files in (\S+?)\)/.exec(serverErr)?.[1];
    expect(dataDir, serverErr).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
  }, 600_000);

  test("a project that only builds and runs workflows installs no CLI packages and is told which to add", () => {
    install(runtimeOnly, [tarball, "zod"]);
    const modules = readdirSync(join(runtimeOnly, "node_modules"));
    for (const cliOnly of [
      "commander",
      "tsx",
      "esbuild",
      "ws",
      "pngjs",
      "busboy",
      "exifreader",
      "bullmq",
      "@aws-sdk",
    ])
      expect(modules).not.toContain(cliOnly);
    const runtime = sh(
      runtimeOnly,
      `node --input-type=module -e 'const { ComfyClient } = await import("comfyc/runtime"); const { workflow } = await import("comfyc"); console.log(typeof ComfyClient, typeof workflow)'`,
    );
    expect(runtime.output.trim()).toBe("function function");
    const cli = sh(runtimeOnly, "npx comfyc --help");
    expect(cli.code, cli.output).toBe(11);
    expect(cli.output).toMatch(
      /^error \[MISSING_PACKAGE\]: The comfyc command needs the packages commander, fastest-levenshtein[\s\S]*→ .*npm install --save-dev commander fastest-levenshtein/m,
    );
    const testing = sh(
      runtimeOnly,
      `node --input-type=module -e 'try { await import("comfyc/testing") } catch (e) { console.log(e.code, e.message) }'`,
    );
    expect(testing.output).toMatch(/^MISSING_PACKAGE comfyc\/testing .*busboy, pngjs, ws/);
    // The other entry points with optional packages say the same, each naming its own.
    for (const [entry, packages] of [
      ["comfyc/scale", /bullmq, ioredis, pino, prom-client/],
      [
        "comfyc/scale/s3",
        /@aws-sdk\/client-s3, @aws-sdk\/lib-storage, @aws-sdk\/s3-request-presigner/,
      ],
      ["comfyc/gateway", /bullmq, ioredis, pino, prom-client, fastify, .*standardwebhooks/],
    ] as const) {
      const loaded = sh(
        runtimeOnly,
        `node --input-type=module -e 'try { await import("${entry}") } catch (e) { console.log(e.code, e.message) }'`,
      );
      expect(loaded.output, entry).toMatch(new RegExp(`^MISSING_PACKAGE ${entry}`));
      expect(loaded.output, entry).toMatch(packages);
    }
  }, 600_000);
});
