import { Command, CommanderError } from "commander";
import { isComfycError } from "../errors.js";
import { registerCodegen } from "./codegen-command.js";
import { registerCompile } from "./compile-command.js";
import { registerDemo } from "./demo-command.js";
import { registerRun } from "./run-command.js";
import { registerServe } from "./serve-command.js";
import { registerValidate } from "./validate-command.js";
import { EXIT_CODES, EXIT_INTERNAL } from "./exit-codes.js";
import { processIo, type CliIo } from "./io.js";

/** Builds the `comfyc` program; exported so tests can run commands in-process. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command("comfyc")
    .description("Typed TypeScript toolkit for ComfyUI")
    .option("--verbose", "print stack traces of errors")
    .showHelpAfterError()
    .exitOverride();
  registerCodegen(program, io);
  registerCompile(program, io);
  registerValidate(program, io);
  registerServe(program, io);
  registerRun(program, io);
  registerDemo(program, io);
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
    if (isComfycError(e)) {
      io.error(`error [${e.code}]: ${e.message}`);
      if (verbose && e.stack) io.error(e.stack);
      return EXIT_CODES[e.code];
    }
    io.error(`internal error: ${(e as Error)?.stack ?? String(e)}`);
    return EXIT_INTERNAL;
  }
}
