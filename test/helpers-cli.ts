import { runCli } from "../src/cli/main.js";
import type { CliIo } from "../src/cli/io.js";

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
