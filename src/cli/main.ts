import { createRequire } from "node:module";
import { Command, CommanderError, Help } from "commander";
import { isComfycError, requirePackages } from "../errors.js";
import { EXIT_CODES, EXIT_INTERNAL } from "./exit-codes.js";
import { processIo, type CliIo } from "./io.js";
import { COMMAND_PACKAGES } from "./packages.js";

/** Adds one command, with its options and action, to the program. */
type Register = (program: Command, io: CliIo) => void;

interface LazyCommand {
  /** What `comfyc --help` lists after the name: `[options]` and the positional arguments. */
  readonly usage: string;
  /** The one-line description `comfyc --help` lists. */
  readonly summary: string;
  /** Imports the command's module; only done when the command line names the command. */
  readonly load: () => Promise<Register>;
}

/**
 * The commands, in the order `comfyc --help` lists them.
 *
 * Each command's module (and everything it imports: the code generator, the test server, the
 * runtime client, …) is imported only when the command line names that command, so start-up
 * costs what that one command needs and `comfyc --help` loads none of them. To add a command,
 * write `registerX(program, io)` in `x-command.ts` as usual and add one entry here; `usage`
 * and `summary` must match what `registerX` declares (a unit test compares the lazy
 * `comfyc --help` with the fully loaded one).
 */
const COMMANDS: Readonly<Record<string, LazyCommand>> = {
  codegen: {
    usage: "[options]",
    summary: "Generate typed node modules from a ComfyUI server's /object_info or a saved copy",
    load: async () => (await import("./codegen-command.js")).registerCodegen,
  },
  compile: {
    usage: "[options] <file>",
    summary: "Compile a workflow file (default export) to API-format JSON",
    load: async () => (await import("./compile-command.js")).registerCompile,
  },
  validate: {
    usage: "[options] <prompt.json>",
    summary: "Validate an API-format prompt against a schema with ComfyUI's own rules",
    load: async () => (await import("./validate-command.js")).registerValidate,
  },
  convert: {
    usage: "[options] <file>",
    summary:
      "Convert an editor workflow (UI JSON or an image/video with metadata) to an API prompt",
    load: async () => (await import("./convert-command.js")).registerConvert,
  },
  import: {
    usage: "[options] <file>",
    summary: "Import a workflow (UI/API JSON or an image/video with metadata) as typed TypeScript",
    load: async () => (await import("./import-command.js")).registerImport,
  },
  serve: {
    usage: "[options]",
    summary: "Start the ComfyUI-compatible test server (no GPU) until Ctrl-C",
    load: async () => (await import("./serve-command.js")).registerServe,
  },
  run: {
    usage: "[options] <file>",
    summary: "Run a workflow file or API-format prompt on a ComfyUI server and save its outputs",
    load: async () => (await import("./run-command.js")).registerRun,
  },
  demo: {
    usage: "[options]",
    summary: "Run the examples end to end on the built-in test server (no GPU needed)",
    load: async () => (await import("./demo-command.js")).registerDemo,
  },
  worker: {
    usage: "[options]",
    summary: "Run jobs from the Redis queue on one ComfyUI instance until SIGTERM",
    load: async () => (await import("./scale-commands.js")).registerWorker,
  },
  enqueue: {
    usage: "[options] <file>",
    summary: "Add a workflow file or API-format prompt to the Redis queue; prints the job id",
    load: async () => (await import("./scale-commands.js")).registerEnqueue,
  },
  jobs: {
    usage: "[options] [id]",
    summary: "List jobs of the Redis queue, show one, or cancel one",
    load: async () => (await import("./scale-commands.js")).registerJobs,
  },
  gateway: {
    usage: "[options]",
    summary:
      "Serve typed workflow endpoints (HTTP API with keys, rate limits, webhooks) in front of the queue",
    load: async () => (await import("./gateway-command.js")).registerGateway,
  },
};

/**
 * Builds the `comfyc` program; exported so tests can run commands in-process.
 *
 * Commands named in `argv` (or all of them, with `"all"`) are loaded and registered in full;
 * the others are listed in `--help` by name and summary only.
 */
export async function buildProgram(
  argv: readonly string[] | "all",
  io: CliIo = processIo,
): Promise<Command> {
  const program = new Command("comfyc")
    .description("Typed TypeScript toolkit for ComfyUI")
    .version(packageVersion(), "-V, --version", "print comfyc's version")
    .option("--verbose", "print stack traces of errors")
    .addHelpText(
      "after",
      "\nEnvironment:\n  COMFYUI_URL  the server `comfyc run` uses without --server (default http://127.0.0.1:8188)",
    )
    .showHelpAfterError()
    .exitOverride();
  const stubs = new Map<Command, string>();
  // Any argument equal to a command's name loads that command: `comfyc help codegen` and
  // `comfyc --verbose codegen` need it too, and loading one module too many is harmless.
  const named = argv === "all" ? undefined : new Set(argv);
  const registers = await Promise.all(
    Object.entries(COMMANDS).map(([name, c]) => {
      if (named && !named.has(name)) return undefined;
      requirePackages(COMMAND_PACKAGES[name] ?? [], `comfyc ${name}`);
      return c.load();
    }),
  );
  Object.entries(COMMANDS).forEach(([name, c], i) => {
    const register = registers[i];
    if (register) register(program, io);
    else stubs.set(program.command(name).description(c.summary), c.usage);
  });
  program.configureHelp({
    subcommandTerm: (cmd) =>
      stubs.has(cmd) ? `${cmd.name()} ${stubs.get(cmd)}` : new Help().subcommandTerm(cmd),
  });
  return program;
}

/** This package's version, from its package.json (two levels up from src/cli and dist/cli). */
function packageVersion(): string {
  return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
}

/** Runs the CLI and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let program: Command | undefined;
  try {
    program = await buildProgram(argv, io);
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const verbose = program?.opts<{ verbose?: boolean }>().verbose === true;
    if (isComfycError(e)) {
      io.error(`error [${e.code}]: ${e.message}`);
      if (verbose) printStack(e, io);
      return EXIT_CODES[e.code] ?? EXIT_INTERNAL;
    }
    io.error(
      `internal error: this is a bug in comfyc ${packageVersion()} (Node ${process.version}); ` +
        `please report it with the command you ran and these lines:\n${(e as Error)?.stack ?? String(e)}`,
    );
    return EXIT_INTERNAL;
  }
}

/** A stack trace and its causes' (the user's own error, under a comfyc error). */
function printStack(e: unknown, io: CliIo): void {
  let current: unknown = e;
  for (let depth = 0; current && depth < 5; depth++) {
    const stack = (current as Error).stack ?? String(current);
    io.error(depth === 0 ? stack : `caused by: ${stack}`);
    current = (current as Error).cause;
  }
}
