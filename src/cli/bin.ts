#!/usr/bin/env node
/**
 * The `comfyc` executable. Kept apart from `main.ts` so it always runs, also when npm's `.bin`
 * symlink, not this file's own path, is what the shell started.
 */
import { runCli } from "./main.js";

process.exitCode = await runCli(process.argv.slice(2));
