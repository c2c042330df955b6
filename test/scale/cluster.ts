import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { workflow } from "../../src/builder/workflow.js";
import { LocalStorage } from "../../src/scale/local-storage.js";
import { ComfyQueue } from "../../src/scale/queue.js";
import type { Storage } from "../../src/scale/storage.js";
import { ComfyWorker, type ComfyWorkerOptions } from "../../src/scale/worker.js";
import { startRedisServer, type RedisServer } from "../../src/testing/redis.js";
import { startTestServer, type TestServer, type TestServerOptions } from "../../src/testing/app.js";
import { EmptyImage, ImageInvert, SaveImage } from "../../generated/core.js";
import { ROOT, tempDir } from "../helpers.js";

/** Timings that keep failover fast in tests (locks of 2 s, probes every 200 ms). */
export const FAST_WORKER = {
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
  healthIntervalMs: 200,
  logger: false,
} as const satisfies Partial<ComfyWorkerOptions>;

/** A small image graph: EmptyImage → ImageInvert → SaveImage. */
export function imageGraph(width = 8, prefix = "scale/img") {
  const wf = workflow({ name: "invert" });
  const image = wf.add(EmptyImage, { width, height: 8, batch_size: 1 });
  wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: prefix });
  return wf;
}

/** Redis, test servers, workers and a producer, torn down together. */
export class Cluster {
  readonly servers: TestServer[] = [];
  readonly workers: ComfyWorker[] = [];
  readonly processes: ChildProcess[] = [];
  readonly storageDir = tempDir("comfyc-storage-");
  /** Where workers copy outputs and the producer keeps input files (a local folder by default). */
  storage: Storage = new LocalStorage(this.storageDir);
  queue!: ComfyQueue;
  redis!: RedisServer;

  static async start(options: { persistence?: boolean; storage?: Storage } = {}): Promise<Cluster> {
    const c = new Cluster();
    if (options.storage) c.storage = options.storage;
    c.redis = await startRedisServer({ persistence: options.persistence === true });
    c.queue = new ComfyQueue({ redis: c.redis.url, storage: c.storage });
    return c;
  }

  async addServer(options: TestServerOptions = {}): Promise<TestServer> {
    const server = await startTestServer(options);
    this.servers.push(server);
    return server;
  }

  async addWorker(
    server: TestServer | string,
    options: Partial<ComfyWorkerOptions> = {},
  ): Promise<ComfyWorker> {
    const worker = new ComfyWorker({
      redis: this.redis.url,
      server: typeof server === "string" ? server : server.url,
      storage: this.storage,
      ...FAST_WORKER,
      ...options,
    });
    this.workers.push(worker);
    await worker.start();
    return worker;
  }

  /**
   * `comfyc worker` for `server` in a process of its own (so a test can SIGKILL or SIGTERM it),
   * with a 2 s lock; resolves once it logs that it serves its lane. Killed by `close()`.
   */
  async spawnWorker(server: TestServer | string, ...args: string[]): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=comfyc-source",
        join(ROOT, "src", "cli", "bin.ts"),
        "worker",
        "--redis",
        this.redis.url,
        "--server",
        typeof server === "string" ? server : server.url,
        "--storage",
        this.storageDir,
        "--lock-duration",
        "2000",
        ...args,
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.processes.push(child);
    this.#followPhases(child);
    await new Promise<void>((resolve, reject) => {
      let err = "";
      const onData = (d: Buffer) => {
        err += d.toString();
        if (err.includes("serving")) {
          child.stderr!.off("data", onData);
          child.off("exit", onExit);
          resolve();
        }
      };
      const onExit = (code: number | null) =>
        reject(new Error(`comfyc worker exited with ${code}: ${err}`));
      child.stderr!.on("data", onData);
      child.once("exit", onExit);
    });
    child.stderr!.resume();
    return child;
  }

  /** Per worker process: its job phase lines so far, and who waits for the next ones. */
  readonly #phases = new WeakMap<
    ChildProcess,
    { lines: PhaseLine[]; waiters: Set<() => void>; exited: boolean }
  >();

  /** Reads a worker process's stdout: pino's JSON lines, of which the job phases are kept. */
  #followPhases(child: ChildProcess): void {
    const state = { lines: [] as PhaseLine[], waiters: new Set<() => void>(), exited: false };
    this.#phases.set(child, state);
    const wake = () => {
      for (const w of [...state.waiters]) w();
    };
    createInterface({ input: child.stdout! }).on("line", (text) => {
      let line: unknown;
      try {
        line = JSON.parse(text);
      } catch {
        return;
      }
      const l = line as Partial<PhaseLine> & { event?: unknown };
      if (l.event !== "comfyc.job" || typeof l.phase !== "string") return;
      state.lines.push(l as PhaseLine);
      wake();
    });
    child.once("close", () => {
      state.exited = true;
      wake();
    });
  }

  /**
   * Resolves with the first log line of job phase `phase` (for `jobId`, when given) that a
   * worker process from {@link spawnWorker} writes, at once if it has already; rejects if the
   * process ends first. An event to wait on, from the process's own output.
   */
  phase(child: ChildProcess, phase: string, jobId?: string): Promise<PhaseLine> {
    const state = this.#phases.get(child);
    if (!state) return Promise.reject(new Error("not a worker process from spawnWorker"));
    const find = () => state.lines.find((l) => l.phase === phase && (!jobId || l.jobId === jobId));
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = find();
        if (!line && !state.exited) return;
        state.waiters.delete(check);
        if (line) resolve(line);
        else reject(new Error(`comfyc worker exited before logging phase "${phase}"`));
      };
      state.waiters.add(check);
      check();
    });
  }

  /** How many times each prompt id ran, over every server. */
  executions(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const s of this.servers)
      for (const id of s.executed) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  async stored(key: string): Promise<Buffer> {
    return readFile(join(this.storageDir, ...key.split("/")));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.processes
        .filter((p) => p.exitCode === null && p.signalCode === null)
        .map((p) => {
          const exited = new Promise((resolve) => p.once("exit", resolve));
          p.kill("SIGKILL");
          return exited;
        }),
    );
    await Promise.all(this.workers.map((w) => w.close({ graceMs: 0 }).catch(() => undefined)));
    await this.queue?.close();
    await Promise.all(this.servers.map((s) => s.close().catch(() => undefined)));
    await this.redis?.stop();
  }
}

/** One job phase line of `comfyc worker`'s log (pino JSON): `{ event: "comfyc.job", phase, jobId, … }`. */
export interface PhaseLine {
  readonly event: "comfyc.job";
  readonly phase: string;
  readonly jobId: string;
  readonly promptId?: string;
  readonly [field: string]: unknown;
}

/** Resolves with the first event `name` a worker emits for `jobId`. */
export function nextPhase(
  worker: ComfyWorker,
  name: string,
  jobId?: string,
): Promise<{ jobId: string } & Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (e: { jobId: string } & Record<string, unknown>) => {
      if (jobId !== undefined && e.jobId !== jobId) return;
      worker.events.off(name, on);
      resolve(e);
    };
    worker.events.on(name, on);
  });
}
