import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { ComfycError } from "../errors.js";
import type { LaneCounts } from "./queue.js";

/** Run and wait time buckets in seconds: 50 ms … 30 min. */
const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/**
 * The Prometheus metrics of the queue and its workers, on a registry of their own (so several
 * workers in one process, as in tests, do not collide):
 *
 * - `comfyc_queue_jobs{queue,lane,state}`: jobs waiting, prioritized, active, delayed, failed
 *   (read from Redis at scrape time);
 * - `comfyc_job_wait_seconds{workflow}`: enqueued → started, first attempts;
 * - `comfyc_job_run_seconds{workflow,outcome}`: one attempt, started → ended;
 * - `comfyc_jobs_total{workflow,outcome}`: attempts ended (`succeeded`, `failed`, `retried`,
 *   `cancelled`, `handed_back`; a cancel the instance did not take is `failed`, with the code
 *   `CANCEL_UNDELIVERED`);
 * - `comfyc_job_failures_total{code}`: attempts that failed, by error code;
 * - `comfyc_instance_up{instance}`: 1 while the worker's ComfyUI answers, 0 while it does not;
 * - the process's default metrics (`process_*`, `nodejs_*`).
 */
export class ScaleMetrics {
  readonly registry = new Registry();
  readonly queueJobs: Gauge<"queue" | "lane" | "state">;
  readonly waitSeconds: Histogram<"workflow">;
  readonly runSeconds: Histogram<"workflow" | "outcome">;
  readonly jobs: Counter<"workflow" | "outcome">;
  readonly failures: Counter<"code">;
  readonly instanceUp: Gauge<"instance">;

  /** `counts` is read on every scrape to fill `comfyc_queue_jobs`. */
  constructor(queue: string, counts?: () => Promise<readonly LaneCounts[]>) {
    const registers = [this.registry];
    this.queueJobs = new Gauge({
      name: "comfyc_queue_jobs",
      help: "Jobs in the queue by state (waiting, prioritized, active, delayed, failed).",
      labelNames: ["queue", "lane", "state"],
      registers,
      async collect() {
        if (!counts) return;
        const lanes = await counts().catch(() => undefined);
        if (!lanes) return;
        this.reset();
        for (const c of lanes)
          for (const state of ["waiting", "prioritized", "active", "delayed", "failed"] as const)
            this.set({ queue, lane: c.lane, state }, c[state]);
      },
    });
    this.waitSeconds = new Histogram({
      name: "comfyc_job_wait_seconds",
      help: "Time from enqueue to the first start of a job.",
      labelNames: ["workflow"],
      buckets: SECONDS,
      registers,
    });
    this.runSeconds = new Histogram({
      name: "comfyc_job_run_seconds",
      help: "Time one attempt ran, from start to end.",
      labelNames: ["workflow", "outcome"],
      buckets: SECONDS,
      registers,
    });
    this.jobs = new Counter({
      name: "comfyc_jobs_total",
      help: "Attempts ended, by outcome (succeeded, failed, retried, cancelled, handed_back).",
      labelNames: ["workflow", "outcome"],
      registers,
    });
    this.failures = new Counter({
      name: "comfyc_job_failures_total",
      help: "Failed attempts by error code.",
      labelNames: ["code"],
      registers,
    });
    this.instanceUp = new Gauge({
      name: "comfyc_instance_up",
      help: "1 while the ComfyUI instance answers its health probe, 0 while it does not.",
      labelNames: ["instance"],
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Serves `GET /metrics` on `port` (0: a free one) and resolves with the server and URL. */
  async serve(port: number, host = "0.0.0.0"): Promise<{ server: Server; url: string }> {
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("Not found: try /metrics\n");
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (cause) =>
        reject(
          new ComfycError(
            "USAGE",
            `Cannot serve metrics on port ${port}: ${(cause as Error).message}`,
            "Pick a free port with --metrics-port.",
            { cause },
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const shown = host === "0.0.0.0" ? "127.0.0.1" : host;
    return { server, url: `http://${shown}:${address.port}/metrics` };
  }
}
