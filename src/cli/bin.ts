#!/usr/bin/env node
/**
 * The `comfyc` executable. Kept apart from `main.ts` so it always runs, also when npm's `.bin`
 * symlink, not this file's own path, is what the shell started. It checks for the CLI's
 * packages (optional peer dependencies) before importing anything that needs them.
 */
import { setFlagsFromString } from "node:v8";
import { isComfycError, requirePackages } from "../errors.js";
import { EXIT_CODES } from "./exit-codes.js";
import { CLI_PACKAGES } from "./packages.js";

// `comfyc codegen` is a one-shot run of about a second. V8's optimizing compiler (TurboFan)
// compiled over a hundred of its functions on a background thread, costing more CPU than
// those functions then saved: on the 1,686-class dump a run without it took about a fifth less
// CPU and wall time, and less memory (bench/codegen.ts). Baseline code (Sparkplug) still runs.
// Only for this process, and only for codegen: the long-running commands (serve, worker,
// gateway) keep the optimizing compiler. Any argument named so counts, as main.ts loads commands.
//
// Nor does its young generation grow (it stays at about 2 MiB where V8 grows it to 32 MiB):
// nearly all codegen allocates is either the parsed schema, which lives to the end, or
// short-lived text. A small young generation is scavenged more often, but it stays in the CPU's
// caches and the process faults in a quarter fewer fresh pages (each a costly trap on this VM):
// on the 1,686-class dump about a tenth less wall time and 15 MiB less peak memory. V8 reads
// the growth factor at every growth decision, so setting it here, after start-up, applies.
if (process.argv.includes("codegen")) {
  setFlagsFromString("--max-opt=1");
  setFlagsFromString("--semi-space-growth-factor=1");
}

try {
  requirePackages(CLI_PACKAGES, "The comfyc command");
  const { runCli } = await import("./main.js");
  process.exitCode = await runCli(process.argv.slice(2));
} catch (e) {
  if (!isComfycError(e)) throw e;
  process.stderr.write(`error [${e.code}]: ${e.message}\n`);
  process.exitCode = EXIT_CODES[e.code];
}
