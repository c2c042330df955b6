import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Job } from "../src/runtime/job.js";
import { ROOT } from "./helpers.js";

/**
 * Waits on events and states for the runtime and CLI tests: never a fixed sleep, so a loaded
 * machine makes them slower, not flaky.
 */

/** The error a promise rejects with, or undefined when it resolves. */
export const errorOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

/**
 * Resolves once `condition()` holds (it may be async), checked every `intervalMs` (default
 * 5): a wait on a state, for the few states that have no event to wait on (a request reaching
 * the server, a history entry on a server we have no socket to). Rejects after `deadlineMs`
 * (default 60 s): a bound on a hang, not a timing.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  deadlineMs = 60_000,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`until: not met within ${deadlineMs} ms: ${String(condition)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once the server has accepted the job (or it moved further). */
export const queued = (job: Job): Promise<void> =>
  new Promise((r) => (job.status !== "submitting" ? r() : job.on("queued", () => r())));

/** Resolves once the job runs (its first start event); rejects if it ends before that. */
export const started = (job: Job): Promise<void> =>
  new Promise((resolve, reject) => {
    if (job.status === "running") return resolve();
    job.on("started", () => resolve());
    job
      .result()
      .then(
        () => reject(new Error(`job ${job.promptId} ended before it was seen running`)),
        reject,
      );
  });

/** A free TCP port on 127.0.0.1 (the kernel's pick, released at once): `comfyc/testing`'s. */
export { freePort } from "../src/testing/redis.js";

/** A CLI child process being followed: its live stderr, and its exit. */
export interface CliChild {
  readonly child: ChildProcess;
  /** The exit code, or the signal's conventional 128 + n when a signal ended it. */
  readonly exit: Promise<number | null>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves once stderr matches `pattern`; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<void>;
}

/**
 * `comfyc …` from source in a child process, as a user's shell runs it (signals, exit codes,
 * stdout and stderr not a terminal: progress is plain lines).
 */
export function spawnCli(...args: string[]): CliChild {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=comfyc-source", join(ROOT, "src", "cli", "bin.ts"), ...args],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  let stdout = "";
  const waiters = new Set<() => void>();
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
    for (const w of [...waiters]) w();
  });
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  const exit = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  // A test that times out must not leave its process behind.
  const reap = () => child.kill("SIGKILL");
  process.once("exit", reap);
  void exit.then(() => process.off("exit", reap));
  return {
    child,
    exit,
    stderr: () => stderr,
    stdout: () => stdout,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(stderr)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        void exit.then((code) => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          reject(new Error(`comfyc exited (${code}) before ${pattern}:\n${stderr}`));
        });
      }),
  };
}
