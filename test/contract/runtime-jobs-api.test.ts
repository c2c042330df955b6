import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ComfyClient, JobTimeoutError, type Job } from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import { errorOf, queued, started } from "../waits.js";

/**
 * The runtime picks its routes per server release (ComfyUI's jobs API, changes §A2): status by
 * id with `GET /api/jobs/{id}` from 0.6.0, the atomic `POST /api/jobs/{id}/cancel` from 0.26.0,
 * `/history` + `/queue` and `/queue {delete}` + `/interrupt` before. Each test counts the
 * requests the test server received, by route, on a server set to each release.
 */

/**
 * A chain of `inverts` ImageInvert nodes, each as slow as the test server is told: the server
 * (like ComfyUI) checks for an interrupt between nodes, so a long chain of short nodes is a long
 * job that stops soon after a cancel. Distinct widths avoid the server's cache.
 */
function chain(w: number, inverts: number): Record<string, unknown> {
  const prompt: Record<string, unknown> = {
    "1": { class_type: "EmptyImage", inputs: { width: w, height: 3, batch_size: 1, color: 0 } },
  };
  let last = "1";
  for (let i = 0; i < inverts; i++) {
    const id = String(10 + i);
    prompt[id] = { class_type: "ImageInvert", inputs: { image: [last, 0] } };
    last = id;
  }
  prompt["2"] = {
    class_type: "SaveImage",
    inputs: { images: [last, 0], filename_prefix: "jobs/img" },
  };
  return prompt;
}

/** Per ImageInvert node, in ms. */
const NODE_MS = 100;
/**
 * A chain far longer than any test waits: 60 s of nodes (600; ComfyUI's validation stops at a
 * depth of about 980 links).
 */
const LONG = 60_000 / NODE_MS;

/** `"GET /api/jobs/3f0c…"` → `"GET /api/jobs/{id}"`: requests counted by route. */
function byRoute(requests: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of requests) {
    const route = r.replace(
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
      "{id}",
    );
    counts[route] = (counts[route] ?? 0) + 1;
  }
  return counts;
}

/** The routes of the classic status path and of the jobs API's. */
const CLASSIC_STATUS = ["GET /api/history/{id}", "GET /api/queue"];
const JOBS_STATUS = ["GET /api/jobs/{id}", "GET /api/jobs"];
const CLASSIC_CANCEL = ["POST /api/queue", "POST /api/interrupt"];
const JOBS_CANCEL = ["POST /api/jobs/{id}/cancel"];

const RELEASES = [
  { version: "0.3.64", jobs: false, cancel: false },
  { version: "0.6.0", jobs: true, cancel: false },
  { version: "0.26.0", jobs: true, cancel: true },
  { version: "0.33.0", jobs: true, cancel: true },
] as const;

describe.each(RELEASES)("a test server set to ComfyUI $version", ({ version, jobs, cancel }) => {
  let server: TestServer;
  let client: ComfyClient;
  let width = 10;
  beforeAll(async () => {
    server = await startTestServer({ comfyuiVersion: version });
    server.script.node("ImageInvert", { durationMs: NODE_MS });
    client = new ComfyClient({
      url: server.url,
      pollIntervalMs: 50,
      silenceMs: 100,
      reconnect: { minDelayMs: 20, maxDelayMs: 100 },
    });
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  /** Runs `fn` and returns the requests the server received meanwhile, counted by route. */
  async function counted(fn: () => Promise<void>): Promise<Record<string, number>> {
    const before = server.requests.length;
    await fn();
    return byRoute(server.requests.slice(before));
  }

  const used = (counts: Record<string, number>, routes: readonly string[]) =>
    routes.filter((r) => (counts[r] ?? 0) > 0);

  test("status: a job whose socket drops mid-run completes from the status route of its release", async () => {
    let job!: Job;
    const counts = await counted(async () => {
      job = client.submit(chain(width++, 6));
      await new Promise((r) => job.on("executing", r));
      server.script.dropWebSockets();
      const result = await job.result();
      expect(result.files.map((f) => f.filename)).toEqual(["img_00001_.png"]);
    });
    expect(server.executed.filter((id) => id === job.promptId)).toHaveLength(1);
    if (jobs) {
      expect(counts["GET /api/jobs/{id}"]).toBeGreaterThanOrEqual(1);
      expect(used(counts, CLASSIC_STATUS)).toEqual([]);
    } else {
      expect(counts["GET /api/history/{id}"]).toBeGreaterThanOrEqual(1);
      expect(used(counts, JOBS_STATUS)).toEqual([]);
    }
  });

  test("attach: a prompt another client queued is followed to its result", async () => {
    const promptId = randomUUID();
    const counts = await counted(async () => {
      const res = await fetch(`${server.url}/prompt`, {
        method: "POST",
        body: JSON.stringify({ prompt: chain(width++, 4), prompt_id: promptId }),
      });
      expect(res.status).toBe(200);
      const job = client.attach(promptId);
      const result = await job.result();
      expect(result.promptId).toBe(promptId);
      expect(result.files).toHaveLength(1);
      expect(job.status).toBe("succeeded");
    });
    // The attached job's events go to no socket of ours: every tick polls it.
    if (jobs) {
      expect(counts["GET /api/jobs/{id}"]).toBeGreaterThanOrEqual(1);
      expect(used(counts, CLASSIC_STATUS)).toEqual([]);
    } else {
      expect(counts["GET /api/history/{id}"]).toBeGreaterThanOrEqual(1);
      expect(used(counts, JOBS_STATUS)).toEqual([]);
    }
  });

  test("cancel: the pending job is dequeued, the running one interrupted, through the release's routes", async () => {
    let running!: Job;
    let pending!: Job;
    const counts = await counted(async () => {
      running = client.submit(chain(width++, LONG));
      pending = client.submit(chain(width++, LONG));
      await started(running);
      await queued(pending);
      expect(await pending.cancel()).toEqual({ state: "dequeued" });
      expect(pending.status).toBe("cancelled");
      expect(await running.cancel()).toEqual({ state: "interrupted" });
      await expect(running.result()).rejects.toMatchObject({ code: "CANCELLED" });
      await server.finished(running.promptId);
    });
    // On the server: the pending prompt never ran, the running one stopped.
    expect(server.executed).not.toContain(pending.promptId);
    const entry = await client.history(running.promptId);
    expect(entry?.status?.messages.map(([type]) => type)).toContain("execution_interrupted");
    if (cancel) {
      expect(counts["POST /api/jobs/{id}/cancel"]).toBe(2);
      expect(used(counts, CLASSIC_CANCEL)).toEqual([]);
    } else {
      expect(counts["POST /api/queue"]).toBe(1);
      expect(counts["POST /api/interrupt"]).toBe(1);
      expect(used(counts, JOBS_CANCEL)).toEqual([]);
    }
  });

  test("a run timeout stops the job on the server through the same cancel", async () => {
    let job!: Job;
    const counts = await counted(async () => {
      job = client.submit(chain(width++, LONG), { timeouts: { runMs: 200 } });
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(JobTimeoutError);
      expect(await job.cancelOutcome).toEqual({ state: "interrupted" });
      await server.finished(job.promptId);
    });
    const entry = await client.history(job.promptId);
    expect(entry?.status?.messages.map(([type]) => type)).toContain("execution_interrupted");
    expect(used(counts, [...JOBS_CANCEL, ...CLASSIC_CANCEL])).toEqual(
      cancel ? JOBS_CANCEL : ["POST /api/interrupt"],
    );
  });

  test("the routes are decided once per client: one GET /system_stats for all its jobs", () => {
    expect(byRoute(server.requests)["GET /api/system_stats"]).toBe(1);
  });
});
