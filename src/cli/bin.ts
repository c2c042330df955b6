#!/usr/bin/env node
/**
 * The `comfyc` executable. Kept apart from `main.ts` so it always runs, also when npm's `.bin`
 * symlink, not this file's own path, is what the shell started. It checks for the CLI's
 * packages (optional peer dependencies) before importing anything that needs them.
 */
import { isComfycError, requirePackages } from "../errors.js";
import { EXIT_CODES } from "./exit-codes.js";
import { CLI_PACKAGES } from "./packages.js";

try {
  requirePackages(CLI_PACKAGES, "The comfyc command");
  const { runCli } = await import("./main.js");
  process.exitCode = await runCli(process.argv.slice(2));
} catch (e) {
  if (!isComfycError(e)) throw e;
  process.stderr.write(`error [${e.code}]: ${e.message}\n`);
  process.exitCode = EXIT_CODES[e.code];
}
