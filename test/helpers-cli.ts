import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { runCli } from "../src/cli/main.js";
import type { CliIo } from "../src/cli/io.js";
import { ROOT } from "./helpers.js";

/** Runs the CLI in-process and captures what it writes. */
export async function cli(
  ...argv: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    info: (t) => err.push(t),
    warn: (t) => err.push(t),
    error: (t) => err.push(t),
  };
  const code = await runCli(argv, io);
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

/**
 * The CLI from source in a child process (`node --import tsx src/cli/bin.ts …`), for signals,
 * long-running commands and exit codes as a shell sees them.
 */
export function spawnCli(...args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=comfyc-source", join(ROOT, "src", "cli", "bin.ts"), ...args],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
}

/**
 * Runs the CLI from source in a child process, as a user's shell would, and waits for it to
 * exit: exit code and both streams. Kills it and fails after `timeoutMs` (a hang is a bug).
 */
export async function cliProcess(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=comfyc-source", join(ROOT, "src", "cli", "bin.ts"), ...args],
    {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 500_000);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
