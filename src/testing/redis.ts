import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComfycError } from "../errors.js";

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * Keep data across restarts with an append-only file synced on every write
   * (`appendonly yes`, `appendfsync always`): an acknowledged write survives even `kill -9`.
   * Off by default, for speed: no RDB snapshots, no AOF.
   */
  readonly persistence?: boolean;
  /** The `redis-server` executable (default: the one on `PATH`, Debian's `redis-server`). */
  readonly executable?: string;
  /** How long to wait for "Ready to accept connections", in ms (default 10000). */
  readonly startTimeoutMs?: number;
}

/** A `redis-server` process on a free loopback port, owned by the caller. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The folder holding the append-only file (persistence) and nothing else. */
  readonly dir: string;
  /** The server's process id, while it runs. */
  readonly pid: number | undefined;
  /**
   * Stops the process and starts it again on the same port and folder. With `kill: true` it is
   * SIGKILLed (a crash); otherwise it shuts down cleanly. Without persistence the data is gone.
   */
  restart(options?: { kill?: boolean }): Promise<void>;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a real Redis (the `redis-server` binary, as Debian packages it) on a free loopback
 * port, for tests, benchmarks and demos. Resolves once the server logs that it accepts
 * connections; rejects with `IO_ERROR` when the binary is missing or the server does not start.
 *
 * @example
 * const redis = await startRedisServer();
 * // … new ComfyQueue({ redis: redis.url }) …
 * await redis.stop();
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "comfyc-redis-"));
  const executable = options.executable ?? "redis-server";
  let port = 0;
  let child: ChildProcess | undefined;

  const args = (): string[] => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    options.persistence ? "yes" : "no",
    ...(options.persistence ? ["--appendfsync", "always"] : []),
    "--daemonize",
    "no",
    // BullMQ needs keys that never get evicted.
    "--maxmemory-policy",
    "noeviction",
  ];

  const launch = async (): Promise<void> => {
    const proc = spawn(executable, args(), { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = options.startTimeoutMs ?? 10_000;
      const timer = setTimeout(
        () => fail(new Error(`no "Ready to accept connections" after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("Ready to accept connections")) {
          clearTimeout(timer);
          proc.stdout?.off("data", onData);
          proc.off("exit", onExit);
          proc.off("error", fail);
          // Keep draining the pipes so the server never blocks on a full one.
          proc.stdout?.resume();
          proc.stderr?.resume();
          resolve();
        }
      };
      const onExit = (code: number | null) =>
        fail(new Error(`exited with code ${code} before it was ready:\n${log.slice(-2000)}`));
      function fail(cause: Error) {
        clearTimeout(timer);
        proc.kill("SIGKILL");
        reject(
          new ComfycError(
            "IO_ERROR",
            `Cannot start ${executable} on 127.0.0.1:${port}: ${cause.message}`,
            (cause as NodeJS.ErrnoException).code === "ENOENT"
              ? "Install Redis (Debian: apt-get install redis-server)."
              : "Check the log above; is another Redis using this folder or port?",
            { cause },
          ),
        );
      }
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", (c: Buffer) => (log += c.toString()));
      proc.once("exit", onExit);
      proc.once("error", fail);
    });
  };

  const exited = (proc: ChildProcess): Promise<void> =>
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => proc.once("exit", () => resolve()));

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    const done = exited(proc);
    proc.kill(signal);
    const force = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await done;
    clearTimeout(force);
  };

  // Another process may take the port between our probe and Redis binding it: try again.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 3 || !String((e as Error).message).includes("Address already in use")) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    get pid() {
      return child?.pid;
    },
    async restart({ kill = false } = {}) {
      await halt(kill ? "SIGKILL" : "SIGTERM");
      await launch();
    },
    async stop() {
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port that was free on loopback a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
