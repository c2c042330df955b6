import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { workflow } from "../src/builder/workflow.js";
import { PreviewAny, PrimitiveInt } from "../generated/core.js";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
/** `../shared/data`, the whole real corpus; a bare clone does not have it. */
export const SHARED = resolve(ROOT, "..", "shared", "data");

/** Median wall time in ms of `runs` runs of `fn` (after one warm-up run). */
export async function median(runs: number, fn: () => unknown): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

/**
 * The real object_info dump whose file name contains `name`: from `../shared/data` when it is
 * there, else from `test/fixtures/object_info/`, else the bundled `data/object_info.json` (496
 * classes), saying so on stdout so a figure is never read against the wrong input.
 */
export function dump(name: string): string {
  for (const dir of [join(SHARED, "object_info"), join(ROOT, "test", "fixtures", "object_info")]) {
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.includes(name)) : undefined;
    if (file) return join(dir, file);
  }
  const bundled = join(ROOT, "data", "object_info.json");
  console.log(
    `  (no dump matching "${name}": ${SHARED} is absent; using ${basename(bundled)} (496 classes) instead)`,
  );
  return bundled;
}

/** The `comfyc` CLI from source in a child process (`node --import tsx src/cli/bin.ts …`). */
export function spawnComfyc(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=comfyc-source", join(ROOT, "src/cli/bin.ts"), ...args],
    { cwd: ROOT, ...options },
  );
}

/** A `comfyc` service running in its own process, as it would be deployed. */
export interface ComfycService {
  /** The URL it printed on stdout. */
  readonly url: string;
  readonly proc: ChildProcess;
  /** SIGTERM, resolved once it exited. */
  stop(): Promise<void>;
}

/**
 * Starts a `comfyc` subcommand that prints its URL on stdout (`serve`, `gateway`) and resolves
 * once it has; its stderr goes to ours when `showErrors`.
 */
export async function comfycService(
  args: readonly string[],
  showErrors = false,
): Promise<ComfycService> {
  const proc = spawnComfyc(args, { stdio: ["ignore", "pipe", showErrors ? "inherit" : "ignore"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = /^(http:\S+)\n/m.exec(out);
      if (line) resolve(line[1]!);
    });
    proc.once("exit", (code) => reject(new Error(`comfyc ${args[0]} exited with ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGTERM");
    });
  return { url, proc, stop };
}

/** The `p` quantile (0–1) of `xs`: the value at rank ⌊p·n⌋ of the sorted sample. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** The zero-work graph of the latency figures: PrimitiveInt(value) → PreviewAny, compiled. */
export function zeroWork(value: number): Record<string, unknown> {
  const wf = workflow({ name: "zero" });
  wf.add(PreviewAny, { source: wf.add(PrimitiveInt, { value }) });
  return wf.compile();
}
