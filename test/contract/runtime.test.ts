import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fileBytes, isComfycError, localFile, workflow } from "comfyc";
import {
  ComfyClient,
  CancelledError,
  ExecutionFailedError,
  InterruptedError,
  JobLostError,
  JobTimeoutError,
  PromptRejectedError,
  type Job,
  type JobEvent,
  type JobLogLine,
} from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import {
  EmptyImage,
  ImageFlip,
  ImageInvert,
  LoadImage,
  PreviewAny,
  PreviewImage,
  SaveImage,
} from "../../generated/core.js";
import { startTlsTestServer, tempDir } from "../helpers.js";
import { errorOf, queued, started, until } from "../waits.js";

/** Fast retries and polls so fault tests take milliseconds, not seconds. */
const FAST = {
  retry: { retries: 4, minDelayMs: 20, maxDelayMs: 100 },
  reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  pollIntervalMs: 100,
  silenceMs: 300,
} as const;

/** A graph with one SaveImage of a `w`×`h` image (distinct sizes avoid the server's cache). */
function saveGraph(w: number, h: number, prefix = "rt/img", batch = 1) {
  const wf = workflow();
  const image = wf.add(EmptyImage, { width: w, height: h, batch_size: batch });
  const saved = wf.add(SaveImage, {
    images: wf.add(ImageInvert, { image }),
    filename_prefix: prefix,
  });
  return { wf, saved, report: wf.compileWithReport() };
}

/**
 * Waits for these prompts to finish on the test server (its executor's hook), then checks that
 * nothing else is running or queued: no duplicate or withdrawn prompt can run later.
 */
async function settled(server: TestServer, c: ComfyClient, ...promptIds: string[]) {
  await Promise.all(promptIds.map((id) => server.finished(id)));
  const q = await c.queue();
  expect([...q.queue_running, ...q.queue_pending].map((item) => item[1])).toEqual([]);
}

let retryCase = 0;

/**
 * The client's reads of a job: the poll's list and one job's status, by the jobs API or by
 * `/queue` and `/history/{id}` (a cancel's `POST /api/jobs/{id}/cancel` is not one of them).
 */
const JOB_READS = /^\/api\/(jobs(\/[^/]+)?|queue|history\/[^/]+)$/;

const postsOf = (server: TestServer) =>
  server.requests.filter((r) => r === "POST /api/prompt").length;

/**
 * A job with `resubmitOnLoss` runs on `srv`; the server restarts; another client's blocker
 * starts there; the client learns of the loss and posts the prompt again, and the cancel comes
 * while that POST waits for its reply. The new copy is pending behind the blocker when the
 * server takes it: the cancel must take it off the queue and leave the blocker alone.
 */
async function cancelWhileReposted(srv: TestServer, c: ComfyClient, w: number) {
  srv.script.node("ImageInvert", { durationMs: 300 });
  // Long enough to be running still when the held repost is let through.
  srv.script.node("ImageFlip", { durationMs: 1500 });
  const other = new ComfyClient({ url: srv.url, ...FAST });
  try {
    const job = c.submit(saveGraph(w, 9, "rt/repost-cancel").report, { resubmitOnLoss: true });
    await started(job);
    srv.script.hang(JOB_READS);
    await srv.script.restart();
    const blockerGraph = workflow();
    blockerGraph.add(SaveImage, {
      images: blockerGraph.add(ImageFlip, {
        image: blockerGraph.add(EmptyImage, { width: w, height: 10 }),
        flip_method: "x-axis: vertically",
      }),
      filename_prefix: "rt/repost-blocker",
    });
    const blocker = other.submit(blockerGraph.compileWithReport());
    await started(blocker);
    const posts = postsOf(srv);
    const requests = srv.requests.length;
    // Lets the reads through (the client finds the job gone and posts it again); holds that POST.
    srv.script.hang(/^\/api\/prompt$/);
    await until(() => postsOf(srv) > posts);
    const outcome = job.cancel();
    srv.script.thaw();
    expect(await outcome).toEqual({ state: "dequeued" });
    expect(await errorOf(job.result())).toBeInstanceOf(CancelledError);
    expect(job.status).toBe("cancelled");
    expect((await blocker.result()).files).toHaveLength(1);
    await settled(srv, c, blocker.promptId);
    expect(runsOf(srv, job.promptId)).toBe(0);
    // No interrupt at all: the new copy was pending, and a cancel never stops another job.
    expect(srv.requests.slice(requests)).not.toContain("POST /api/interrupt");
  } finally {
    srv.script.thaw();
    srv.script.clearNodes();
    await other.close();
  }
}

const runsOf = (server: TestServer, promptId: string) =>
  server.executed.filter((id) => id === promptId).length;

let server: TestServer;
let client: ComfyClient;
beforeAll(async () => {
  server = await startTestServer();
  client = new ComfyClient({ url: server.url, ...FAST });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

describe("jobs", () => {
  test("a builder graph runs: events in order, typed outputs, files saved intact", async () => {
    const { wf, saved } = saveGraph(24, 12, "rt/basic", 2);
    const job = client.submit(wf.compileWithReport());
    const events: JobEvent[] = [];
    job.on("event", (e) => events.push(e));
    const result = await job.result();
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("queued");
    expect(types).toContain("started");
    expect(types.indexOf("started")).toBeLessThan(types.indexOf("executing"));
    expect(types.at(-1)).toBe("success");
    expect(events.filter((e) => e.type === "executing").map((e) => e.node)).toEqual([
      "1",
      "2",
      "3",
    ]);
    const files = result.filesOf(saved);
    expect(files.map((f) => [f.filename, f.subfolder, f.type, f.kind])).toEqual([
      ["basic_00001_.png", "rt", "output", "image"],
      ["basic_00002_.png", "rt", "output", "image"],
    ]);
    expect(result.output(saved)).toEqual({
      images: files.map(({ filename, subfolder, type }) => ({ filename, subfolder, type })),
    });
    const dir = tempDir();
    const paths = await client.saveOutputs(result, dir);
    expect(paths).toEqual([
      join(dir, "rt", "basic_00001_.png"),
      join(dir, "rt", "basic_00002_.png"),
    ]);
    for (const p of paths) {
      const png = PNG.sync.read(readFileSync(p));
      expect([png.width, png.height]).toEqual([24, 12]);
      // Byte-identical to what the server wrote.
      expect(readFileSync(p)).toEqual(
        readFileSync(join(server.folders.dir("output"), "rt", p.split("/").pop()!)),
      );
    }
    expect(await client.read(files[0]!)).toEqual(readFileSync(paths[0]!));
  });

  test("the async iterator yields every event and ends with the job", async () => {
    const wf = workflow();
    wf.add(PreviewAny, { source: wf.add(EmptyImage, { width: 9, height: 9 }) });
    const job = client.submit(wf.compileWithReport());
    const seen: string[] = [];
    for await (const event of job) seen.push(event.type);
    expect(seen.at(-1)).toBe("success");
    expect(seen).toContain("executed");
    const result = await job.result();
    expect(Object.values(result.texts)).toHaveLength(1);
  });

  test("an API-format prompt resolves from the socket's events, without reading history", async () => {
    const before = server.requests.length;
    const result = await client.run({
      "5": { class_type: "EmptyImage", inputs: { width: 7, height: 5, batch_size: 1, color: 0 } },
      "6": { class_type: "SaveImage", inputs: { images: ["5", 0], filename_prefix: "rt/api" } },
    });
    expect(result.files.map((f) => [f.node, f.filename])).toEqual([["6", "api_00001_.png"]]);
    const requests = server.requests.slice(before);
    expect(requests).toContain("POST /api/prompt");
    expect(requests.filter((r) => r.includes("/history"))).toEqual([]);
  });

  test("many jobs at once on one socket: each sees only its own events and outputs", async () => {
    server.script.node("ImageInvert", { durationMs: 10 });
    try {
      const graphs = Array.from({ length: 12 }, (_, i) => saveGraph(30 + i, 10, `rt/many${i}`));
      // One job in the middle fails: its error must not leak into the others.
      const failing = workflow();
      failing.add(SaveImage, {
        images: failing.add(ImageFlip, {
          image: failing.add(EmptyImage, { width: 3, height: 77 }),
          flip_method: "x-axis: vertically",
        }),
        filename_prefix: "rt/fail",
      });
      server.script.node("ImageFlip", { fail: { message: "boom" } });
      const jobs = graphs.slice(0, 6).map((g) => client.submit(g.report));
      const failed = client.submit(failing.compileWithReport());
      jobs.push(...graphs.slice(6).map((g) => client.submit(g.report)));
      const failedError = errorOf(failed.result());
      const events = new Map<string, JobEvent[]>();
      for (const job of jobs) {
        const list: JobEvent[] = [];
        events.set(job.promptId, list);
        job.on("event", (e) => list.push(e));
      }
      const results = await Promise.all(jobs.map((j) => j.result()));
      results.forEach((result, i) => {
        expect(result.promptId).toBe(jobs[i]!.promptId);
        expect(result.files.map((f) => f.filename)).toEqual([`many${i}_00001_.png`]);
        const png = PNG.sync.read(
          readFileSync(join(server.folders.dir("output"), "rt", result.files[0]!.filename)),
        );
        expect(png.width).toBe(30 + i);
        const executed = events.get(result.promptId)!.filter((e) => e.type === "executed");
        expect(executed).toHaveLength(1);
      });
      for (const job of jobs) expect(runsOf(server, job.promptId)).toBe(1);
      expect(await failedError).toBeInstanceOf(ExecutionFailedError);
      expect(((await failedError) as ExecutionFailedError).nodeType).toBe("ImageFlip");
    } finally {
      server.script.clearNodes();
    }
  });

  test("an execution error in one job fails only that job, with node, class, exception and source", async () => {
    const good = saveGraph(41, 3, "rt/good");
    const bad = workflow();
    const invert = bad.add(ImageInvert, { image: bad.add(EmptyImage, { width: 41, height: 4 }) });
    bad.add(SaveImage, { images: invert, filename_prefix: "rt/bad" });
    const a = client.submit(good.report);
    await a.result();
    server.script.node("ImageInvert", {
      fail: { exceptionType: "RuntimeError", message: "CUDA error: device-side assert" },
    });
    try {
      const b = client.submit(bad.compileWithReport());
      const error = await errorOf(b.result());
      expect(error).toBeInstanceOf(ExecutionFailedError);
      const e = error as ExecutionFailedError;
      expect(e.code).toBe("EXECUTION_FAILED");
      expect([e.nodeId, e.nodeType, e.exceptionType]).toEqual(["2", "ImageInvert", "RuntimeError"]);
      expect(e.exceptionMessage.trim()).toBe("CUDA error: device-side assert");
      expect(e.traceback.length).toBeGreaterThan(0);
      expect(e.message).toContain("runtime.test.ts:");
      expect(b.status).toBe("failed");
      expect(a.status).toBe("succeeded");
    } finally {
      server.script.clearNodes();
    }
  });

  test("a cached rerun still returns its outputs; fresh forces a new execution", async () => {
    const { wf, saved } = saveGraph(19, 19, "rt/cache");
    const first = await client.run(wf);
    const second = await client.run(wf);
    expect(second.cachedNodes).toEqual(expect.arrayContaining(["1", "2", "3"]));
    expect(second.filesOf(saved)).toEqual(first.filesOf(saved));
    const third = await client.run(wf, { fresh: true });
    expect(third.cachedNodes).toEqual([]);
    expect(third.filesOf(saved).map((f) => f.filename)).toEqual(["cache_00002_.png"]);
  });

  test("one JSON log line per phase", async () => {
    const lines: JobLogLine[] = [];
    const logged = new ComfyClient({ url: server.url, ...FAST, onLog: (l) => lines.push(l) });
    try {
      const job = logged.submit(saveGraph(13, 31, "rt/log").report);
      await job.result();
      expect(lines.map((l) => l.phase)).toEqual(["queued", "running", "done"]);
      expect(lines.every((l) => l.promptId === job.promptId && l.event === "comfyc.job")).toBe(
        true,
      );
      expect(lines[2]!.outputs).toBe(1);
      expect(typeof lines[2]!.totalMs).toBe("number");
      for (const l of lines) expect(JSON.parse(JSON.stringify(l))).toEqual(l);
    } finally {
      await logged.close();
    }
  });

  test("attach: a new process follows a prompt by id and gets its outputs", async () => {
    server.script.node("ImageInvert", { durationMs: 150 });
    try {
      const first = new ComfyClient({ url: server.url, ...FAST });
      const job = first.submit(saveGraph(11, 22, "rt/attach").report);
      await new Promise((r) => job.on("started", r));
      await first.close(); // the process "died" while the job ran
      // A long silence window: the attached job is polled every tick anyway, since its events
      // go to the first client's id and this socket never hears them.
      const second = new ComfyClient({ url: server.url, ...FAST, silenceMs: 60_000 });
      try {
        const result = await second.attach(job.promptId).result();
        expect(result.files.map((f) => f.filename)).toEqual(["attach_00001_.png"]);
        expect(runsOf(server, job.promptId)).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      server.script.clearNodes();
    }
  });
});

describe("completion", () => {
  test("does not depend on whether validation ran: the same expected outputs, the same result", async () => {
    const { wf } = saveGraph(171, 3, "rt/novalidate");
    const checked = wf.compileWithReport();
    const unchecked = wf.compileWithReport({ validate: false });
    expect(unchecked.outputs).toEqual(checked.outputs);
    const results = [];
    for (const report of [unchecked, checked]) {
      const job = client.submit(report);
      expect([...job.expectedOutputs!]).toEqual([...checked.outputs]);
      results.push(await job.result());
    }
    expect(results.map((r) => r.files.map((f) => f.node))).toEqual([
      checked.outputs,
      checked.outputs,
    ]);
  });
});

describe("typed routes", () => {
  test("object info, system stats, models, queue and history management, free", async () => {
    const routes = await startTestServer({
      comfyuiVersion: "0.3.64",
      models: { loras: ["a.safetensors", "b.safetensors"] },
      nodeDurationMs: 0,
    });
    const c = new ComfyClient({ url: routes.url, ...FAST });
    try {
      const info = await c.objectInfo();
      expect(Object.keys(info)).toHaveLength(routes.schema.classes.size);
      expect((await c.systemStats()).system.comfyui_version).toBe("0.3.64");
      expect(await c.models("loras")).toEqual(["a.safetensors", "b.safetensors"]);
      const missing = await errorOf(c.models("no-such-folder"));
      expect((missing as { code: string }).code).toBe("NOT_FOUND");

      // Three prompts behind a slow one: delete one, clear the rest.
      // Still running when interrupted below, however loaded the machine.
      routes.script.node("ImageInvert", { durationMs: 20_000 });
      // Submitted one at a time, so the server's numbering follows the array.
      const jobs: Job[] = [];
      for (const i of [1, 2, 3, 4]) {
        const job = c.submit(saveGraph(i, 1, "rt/routes").report);
        await queued(job);
        jobs.push(job);
      }
      let q = await c.queue();
      expect(q.queue_running.map((item) => item[1])).toEqual([jobs[0]!.promptId]);
      const pending = () => q.queue_pending.map((item) => item[1]);
      const ids = (from: number) => jobs.slice(from).map((j) => j.promptId);
      expect(pending()).toEqual(ids(1));
      await c.deleteQueued([jobs[1]!.promptId]);
      q = await c.queue();
      expect(pending()).toEqual(ids(2));
      await c.clearQueue();
      expect((await c.queue()).queue_pending).toEqual([]);
      await c.interrupt(jobs[0]!.promptId);
      expect((await jobs[0]!.result().catch((e: unknown) => e)) instanceof InterruptedError).toBe(
        true,
      );
      // The deleted ones are lost to the client: neither queued nor in history.
      for (const j of jobs.slice(1))
        expect(await j.result().catch((e: unknown) => (e as { code: string }).code)).toBe(
          "JOB_LOST",
        );
      routes.script.clearNodes();

      const done = await c.run(saveGraph(9, 9, "rt/routes").wf);
      expect(Object.keys(await c.historyList())).toEqual([jobs[0]!.promptId, done.promptId]);
      expect(Object.keys(await c.historyList({ maxItems: 1 }))).toEqual([done.promptId]);
      await c.deleteHistory([jobs[0]!.promptId]);
      expect(await c.history(jobs[0]!.promptId)).toBeUndefined();
      await c.clearHistory();
      expect(await c.historyList()).toEqual({});
      // free_memory drops the cache: the same graph runs again instead of being cached.
      await c.free({ freeMemory: true });
      const again = await c.run(saveGraph(9, 9, "rt/routes").wf);
      expect(again.cachedNodes).toEqual([]);
    } finally {
      await c.close();
      await routes.close();
    }
  });

  test("uploadImage and uploadMask store files the server can serve back", async () => {
    const png = new PNG({ width: 4, height: 4 });
    png.data.fill(255);
    const bytes = PNG.sync.write(png);
    const stored = await client.uploadImage(bytes, { name: "routes.png", subfolder: "rt" });
    expect(stored).toEqual({ name: "routes.png", subfolder: "rt", type: "input" });
    expect(await client.read({ filename: "routes.png", subfolder: "rt", type: "input" })).toEqual(
      bytes,
    );
    const mask = await client.uploadMask(bytes, {
      filename: "routes.png",
      subfolder: "rt",
      type: "input",
    });
    expect(mask.type).toBe("input");
    const merged = PNG.sync.read(
      await client.read({ filename: mask.name, subfolder: mask.subfolder, type: "input" }),
    );
    expect([merged.width, merged.height]).toEqual([4, 4]);
  });
});

describe("faults", () => {
  test("WebSocket dropped mid-job: the job completes from history, nothing runs twice", async () => {
    server.script.node("ImageInvert", { durationMs: 200 });
    try {
      const { wf, saved } = saveGraph(50, 5, "rt/drop");
      const job = client.submit(wf.compileWithReport());
      await new Promise((r) => job.on("executing", r));
      const before = server.requests.length;
      server.script.dropWebSockets();
      const result = await job.result();
      // Events sent while the socket was down are lost: the job's status by id (the jobs API of
      // this 0.33.0 server; /history before 0.6.0, see runtime-jobs-api.test.ts) filled the gap.
      expect(server.requests.slice(before)).toContain(`GET /api/jobs/${job.promptId}`);
      expect(result.filesOf(saved).map((f) => f.filename)).toEqual(["drop_00001_.png"]);
      expect(runsOf(server, job.promptId)).toBe(1);
      const png = PNG.sync.read(await client.read(result.files[0]!));
      expect(png.width).toBe(50);
    } finally {
      server.script.clearNodes();
    }
  });

  test("silent queued jobs are polled together: one list of active jobs per tick, no per-job reads", async () => {
    server.script.node("ImageInvert", { durationMs: 1500 });
    const c = new ComfyClient({ url: server.url, ...FAST, pollIntervalMs: 100, silenceMs: 50 });
    try {
      const jobs = Array.from({ length: 20 }, (_, i) =>
        c.submit(saveGraph(160 + i, 1, "rt/poll").report),
      );
      for (const j of jobs) await queued(j);
      const before = server.requests.length;
      // GET /api/jobs?status=in_progress,pending on this 0.33.0 server (GET /queue before 0.6.0).
      const listReads = () => server.requests.slice(before).filter((r) => r === "GET /api/jobs");
      await until(() => listReads().length >= 3);
      // Three ticks: three reads in all. Unbatched, one tick alone would have made twenty.
      expect(listReads().length).toBeLessThanOrEqual(4);
      expect(
        server.requests
          .slice(before)
          .filter((r) => r.includes("/history") || r.startsWith("GET /api/jobs/")),
      ).toEqual([]);
      await c.clearQueue();
      await c.interrupt();
      await Promise.allSettled(jobs.map((j) => j.result()));
    } finally {
      server.script.clearNodes();
      await c.close();
    }
  });

  test("WebSocket dropped after every few messages: jobs still complete", async () => {
    server.script.dropWebSockets({ afterMessages: 3 });
    try {
      const jobs = [0, 1, 2].map((i) => client.submit(saveGraph(60 + i, 6, "rt/flaky").report));
      const results = await Promise.all(jobs.map((j) => j.result()));
      expect(results.map((r) => r.files.length)).toEqual([1, 1, 1]);
      for (const j of jobs) expect(runsOf(server, j.promptId)).toBe(1);
    } finally {
      server.script.dropWebSockets({ afterMessages: Infinity });
    }
  });

  test.each([
    ["503 before handling", { status: 503 as const, count: 2 }],
    ["500 before handling", { status: 500 as const, count: 1 }],
    ["502 after the server accepted (reply lost)", { status: 502 as const, afterHandling: true }],
    [
      "connection reset after the server accepted",
      { status: "reset" as const, afterHandling: true },
    ],
  ])("POST /prompt fails with %s, then succeeds: exactly one execution", async (_name, fault) => {
    server.script.failHttp({ ...fault, path: /\/prompt$/ });
    // A size no other test uses: the server's cache must not serve it.
    const job = client.submit(saveGraph(70 + ++retryCase, 7, "rt/retry").report);
    const result = await job.result();
    expect(result.files).toHaveLength(1);
    await settled(server, client, job.promptId);
    expect(runsOf(server, job.promptId)).toBe(1);
  });

  test("retries are bounded: a server that keeps failing gives a typed error", async () => {
    server.script.failHttp({ status: 503, count: 100, path: /\/prompt$/ });
    try {
      const error = await errorOf(client.run(saveGraph(81, 8).wf));
      expect(isComfycError(error)).toBe(true);
      expect((error as { code: string }).code).toBe("SERVER_ERROR");
      expect((error as Error).message).toContain("503");
    } finally {
      server.script.failHttp({ count: 0 });
    }
  });

  test("restart with one job running and one queued: both fail with JobLostError within seconds", async () => {
    server.script.node("ImageInvert", { durationMs: 2000 });
    try {
      const running = client.submit(saveGraph(91, 9, "rt/lost").report);
      const waiting = client.submit(saveGraph(92, 9, "rt/lost").report);
      await new Promise((r) => running.on("started", r));
      await queued(waiting);
      expect(waiting.status).toBe("queued");
      const t0 = Date.now();
      await server.script.restart({ downtimeMs: 300 });
      const errors = await Promise.all([running, waiting].map((j) => errorOf(j.result())));
      expect(Date.now() - t0).toBeLessThan(5000);
      for (const e of errors) {
        expect(e).toBeInstanceOf(JobLostError);
        expect((e as JobLostError).code).toBe("JOB_LOST");
      }
      expect(running.status).toBe("lost");
    } finally {
      server.script.clearNodes();
    }
  });

  test("restart with resubmitOnLoss: the job is submitted again and completes once", async () => {
    server.script.node("ImageInvert", { durationMs: 300 });
    try {
      const job = client.submit(saveGraph(93, 9, "rt/resubmit").report, { resubmitOnLoss: true });
      await new Promise((r) => job.on("started", r));
      await server.script.restart({ downtimeMs: 200 });
      const result = await job.result();
      expect(result.files.map((f) => f.filename)).toEqual(["resubmit_00001_.png"]);
      expect(runsOf(server, job.promptId)).toBe(1);
    } finally {
      server.script.clearNodes();
    }
  });

  test("restart with resubmitOnLoss, then a cancel before the client saw the loss: cancelled, never posted again", async () => {
    server.script.node("ImageInvert", { durationMs: 300 });
    try {
      const job = client.submit(saveGraph(94, 9, "rt/resubmit-cancel").report, {
        resubmitOnLoss: true,
      });
      await started(job);
      // The client's reads of the job wait, so the cancel comes before it learns of the loss.
      server.script.hang(JOB_READS);
      await server.script.restart();
      const posts = postsOf(server);
      const outcome = job.cancel();
      // The cancel has reached the restarted server, which does not know the prompt: by the
      // atomic route, or by the classic interrupt (before the client has read the release).
      await until(
        () =>
          server.requests.includes(`POST /api/jobs/${job.promptId}/cancel`) ||
          server.requests.includes("POST /api/interrupt"),
      );
      server.script.thaw();
      // Whichever route the cancel took (the client may not have learnt the server's release
      // before the restart): the atomic cancel found nothing, the classic interrupt by id did
      // nothing.
      expect(["finished", "interrupted"]).toContain((await outcome).state);
      expect(await errorOf(job.result())).toBeInstanceOf(CancelledError);
      expect(job.status).toBe("cancelled");
      // A later job runs to its end: a copy posted after the cancel would have been queued first.
      await client.run(saveGraph(95, 9, "rt/resubmit-cancel").wf);
      expect(postsOf(server)).toBe(posts + 1);
      expect(runsOf(server, job.promptId)).toBe(0);
    } finally {
      server.script.thaw();
      server.script.clearNodes();
    }
  });

  test("restart with resubmitOnLoss, a cancel while the prompt is posted again: dequeued once the server has it, another client's job untouched", async () => {
    // The newest ComfyUI: the cancel is POST /api/jobs/{id}/cancel once the client has read the
    // server's release (the classic routes before that).
    await cancelWhileReposted(server, client, 96);
  });

  test("the same on ComfyUI 0.3.64 (classic cancel: GET /queue, POST /queue {delete})", async () => {
    const classic = await startTestServer({ comfyuiVersion: "0.3.64" });
    const c = new ComfyClient({ url: classic.url, ...FAST });
    try {
      await cancelWhileReposted(classic, c, 97);
      // Taken off the queue by its id (the classic cancel reads the queue after a repost).
      expect(classic.requests.filter((r) => r === "POST /api/queue")).toHaveLength(1);
    } finally {
      await c.close();
      await classic.close();
    }
  });

  test("an unreachable server is a typed error after bounded retries", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = new ComfyClient({ url: `http://127.0.0.1:${port}`, ...FAST });
    try {
      const error = await errorOf(dead.systemStats());
      expect((error as { code: string }).code).toBe("SERVER_UNREACHABLE");
      const jobError = await errorOf(dead.run(saveGraph(1, 1).wf));
      expect((jobError as { code: string }).code).toBe("SERVER_UNREACHABLE");
    } finally {
      await dead.close();
    }
  });
});

describe("timeouts and cancel", () => {
  test("queue, run and stall timeouts fail the job and stop the server's work", async () => {
    server.script.node("ImageInvert", { durationMs: 600 });
    try {
      const blocker = client.submit(saveGraph(101, 1, "rt/t").report);
      // Two jobs submitted at once reach the queue in no set order (two POSTs on two
      // connections: after a restart, when no kept-alive one is left, either may arrive first).
      await queued(blocker);
      const waiting = client.submit(saveGraph(102, 1, "rt/t").report, {
        timeouts: { queueMs: 150 },
      });
      const queueError = await errorOf(waiting.result());
      expect(queueError).toBeInstanceOf(JobTimeoutError);
      expect((queueError as JobTimeoutError).phase).toBe("queue");
      await blocker.result();
      await settled(server, client, blocker.promptId);
      expect(runsOf(server, waiting.promptId)).toBe(0); // deleted from the queue

      const slow = client.submit(saveGraph(103, 1, "rt/t").report, { timeouts: { runMs: 150 } });
      const runError = await errorOf(slow.result());
      expect((runError as JobTimeoutError).phase).toBe("run");
      expect(await slow.cancelOutcome).toEqual({ state: "interrupted" });
      // The interrupt takes effect when the node ends: an error entry, not a success.
      await server.finished(slow.promptId);
      const entry = await client.history(slow.promptId);
      expect(entry?.status?.status_str).toBe("error");

      const stalled = client.submit(saveGraph(104, 1, "rt/t").report, {
        timeouts: { stallMs: 200 },
      });
      const stallError = await errorOf(stalled.result());
      expect((stallError as JobTimeoutError).phase).toBe("stall");
      expect((stallError as JobTimeoutError).code).toBe("TIMEOUT");
      // Cancelled on the server too: it ends there, and nothing is left queued.
      await settled(server, client, stalled.promptId);
    } finally {
      server.script.clearNodes();
    }
  });

  test("cancel a pending job: deleted from the queue, never runs", async () => {
    server.script.node("ImageInvert", { durationMs: 300 });
    try {
      const running = client.submit(saveGraph(111, 1, "rt/c").report);
      const pending = client.submit(saveGraph(112, 1, "rt/c").report);
      await new Promise((r) => running.on("started", r));
      await new Promise((r) => (pending.status === "queued" ? r(null) : pending.on("queued", r)));
      await pending.cancel();
      await expect(pending.result()).rejects.toBeInstanceOf(CancelledError);
      expect(pending.status).toBe("cancelled");
      const q = await client.queue();
      expect(q.queue_pending.some((item) => item[1] === pending.promptId)).toBe(false);
      await running.result();
      await settled(server, client, running.promptId);
      expect(runsOf(server, pending.promptId)).toBe(0);
    } finally {
      server.script.clearNodes();
    }
  });

  test("cancel right after submit, before the server has it: never runs", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const job = client.submit(saveGraph(141 + i, 1, "rt/early").report);
      ids.push(job.promptId);
      await job.cancel();
      await expect(job.result()).rejects.toBeInstanceOf(CancelledError);
      expect(job.status).toBe("cancelled");
    }
    // A later job runs to its end: anything cancelled but still queued would have run first.
    await client.run(saveGraph(150, 1, "rt/early").wf);
    for (const id of ids) expect(runsOf(server, id)).toBe(0);
  });

  test("cancel while the POST is in flight: withdrawn once the server accepts it", async () => {
    server.script.latency(100);
    server.script.node("ImageInvert", { durationMs: 300 });
    try {
      const job = client.submit(saveGraph(151, 1, "rt/inflight").report);
      // The POST has reached the server, whose reply is 100 ms late.
      await until(
        () => server.requests.includes("POST /api/prompt") && job.status === "submitting",
      );
      expect(job.status).toBe("submitting");
      await job.cancel();
      await expect(job.result()).rejects.toBeInstanceOf(CancelledError);
      server.script.latency(0);
      // Dequeued (no history) or interrupted (an error entry): never a success with outputs.
      const entry = await client.history(job.promptId);
      expect(entry === undefined || entry.status?.status_str === "error").toBe(true);
      expect((await client.queue()).queue_pending.map((item) => item[1])).not.toContain(
        job.promptId,
      );
    } finally {
      server.script.latency(0);
      server.script.clearNodes();
    }
  });

  test("cancel a running job: interrupted by its id, the next job is untouched", async () => {
    server.script.node("ImageInvert", { durationMs: 400 });
    try {
      const running = client.submit(saveGraph(121, 1, "rt/c").report);
      const next = client.submit(saveGraph(122, 1, "rt/c").report);
      await new Promise((r) => running.on("executing", r));
      await running.cancel();
      await expect(running.result()).rejects.toBeInstanceOf(CancelledError);
      expect((await next.result()).files).toHaveLength(1);
    } finally {
      server.script.clearNodes();
    }
  });

  test("an AbortSignal cancels; an interrupt by someone else is InterruptedError", async () => {
    server.script.node("ImageInvert", { durationMs: 400 });
    try {
      const controller = new AbortController();
      const aborted = client.submit(saveGraph(131, 1, "rt/a").report, {
        signal: controller.signal,
      });
      await new Promise((r) => aborted.on("executing", r));
      controller.abort();
      await expect(aborted.result()).rejects.toBeInstanceOf(CancelledError);

      const other = client.submit(saveGraph(132, 1, "rt/a").report);
      await new Promise((r) => other.on("executing", r));
      server.script.interrupt();
      const error = await errorOf(other.result());
      expect(error).toBeInstanceOf(InterruptedError);
      expect(other.status).toBe("interrupted");
    } finally {
      server.script.clearNodes();
    }
  });
});

describe("rejections", () => {
  test("a 400 is PromptRejectedError with ComfyUI's body and the builder's source lines", async () => {
    const wf = workflow();
    wf.add(SaveImage, { images: wf.add(EmptyImage, { width: 8 }), filename_prefix: "x" });
    // The bundled schema caps width at 16384; compile without local validation to reach the server.
    const prompt = wf.compile({ validate: false });
    (prompt["1"]!.inputs as Record<string, unknown>)["width"] = 999999;
    const error = await errorOf(client.run(prompt));
    expect(error).toBeInstanceOf(PromptRejectedError);
    const e = error as PromptRejectedError;
    expect(e.partial).toBe(false);
    expect(e.error?.type).toBe("prompt_outputs_failed_validation");
    expect(e.nodeErrors["1"]?.errors[0]?.type).toBe("value_bigger_than_max");
    expect(e.nodeErrors["1"]?.dependent_outputs).toEqual(["2"]);
    expect(e.message).toContain("999999");
  });

  test("a 200 with node_errors (part of the graph dropped) is rejected unless allowPartial", async () => {
    const prompt = {
      "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "rt/part" } },
      "3": { class_type: "SaveImage", inputs: { images: ["1", 5], filename_prefix: "rt/part" } },
    };
    const error = await errorOf(client.run(prompt));
    expect(error).toBeInstanceOf(PromptRejectedError);
    expect((error as PromptRejectedError).partial).toBe(true);
    expect(Object.keys((error as PromptRejectedError).nodeErrors)).toEqual(["3"]);
    const partial = await client.run(prompt, { allowPartial: true, fresh: true });
    expect(partial.files.map((f) => f.node)).toEqual(["2"]);
  });

  test("a builder graph that fails local validation is never sent", async () => {
    const before = server.requests.length;
    const wf = workflow();
    wf.add(SaveImage, { images: wf.add(EmptyImage, { width: -5 }), filename_prefix: "x" });
    // run() compiles first, outside any job: the error is the builder's, nothing is posted.
    const error = await errorOf(client.run(wf));
    expect((error as { code: string }).code).toBe("PROMPT_INVALID");
    expect((error as Error).message).toContain("runtime.test.ts:");
    expect(client.jobs).toEqual([]);
    expect(server.requests.length).toBe(before);
  });
});

describe("uploads", () => {
  test("a local file is uploaded once under its content hash, then reused", async () => {
    const dir = tempDir();
    const png = new PNG({ width: 6, height: 4 });
    png.data.fill(200);
    const path = join(dir, "photo.png");
    writeFileSync(path, PNG.sync.write(png));
    const graph = () => {
      const wf = workflow();
      const loaded = wf.add(LoadImage, { image: localFile(path) });
      wf.add(PreviewImage, { images: loaded.IMAGE });
      return wf;
    };
    const uploads = () => server.requests.filter((r) => r.endsWith("/upload/image")).length;
    const before = uploads();
    const result = await client.run(graph());
    expect(uploads()).toBe(before + 1);
    const stored = readdirSync(server.folders.dir("input")).filter((f) => f.startsWith("comfyc-"));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/^comfyc-[0-9a-f]{24}\.png$/);
    expect(readFileSync(join(server.folders.dir("input"), stored[0]!))).toEqual(readFileSync(path));
    const preview = PNG.sync.read(await client.read(result.files[0]!));
    expect([preview.width, preview.height]).toEqual([6, 4]);
    await client.run(graph(), { fresh: true });
    expect(uploads()).toBe(before + 1);
    // Another process (a new client) finds it on the server with HEAD /view and skips the upload.
    const other = new ComfyClient({ url: server.url, ...FAST });
    try {
      await other.run(graph(), { fresh: true });
      expect(uploads()).toBe(before + 1);
      // Bytes given directly work the same way.
      const wf = workflow();
      wf.add(PreviewImage, {
        images: wf.add(LoadImage, { image: fileBytes(readFileSync(path), "x.png") }).IMAGE,
      });
      await other.run(wf, { fresh: true });
      expect(uploads()).toBe(before + 1);
    } finally {
      await other.close();
    }
  });

  test("a missing local file is a typed IO error", async () => {
    const wf = workflow();
    wf.add(PreviewImage, {
      images: wf.add(LoadImage, { image: localFile("/nonexistent/x.png") }).IMAGE,
    });
    const error = await errorOf(client.run(wf));
    expect((error as { code: string }).code).toBe("IO_ERROR");
  });
});

describe("auth", () => {
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startTestServer({ auth: { bearer: "s3cret" } });
  });
  afterAll(async () => {
    await guarded.close();
  });

  test("missing credentials: AUTH_FAILED with a hint, not retried", async () => {
    const anonymous = new ComfyClient({ url: guarded.url, ...FAST });
    try {
      const before = guarded.requests.length;
      const error = await errorOf(anonymous.systemStats());
      expect((error as { code: string }).code).toBe("AUTH_FAILED");
      expect((error as { hint?: string }).hint).toContain("bearer");
      expect(guarded.requests.length - before).toBe(1);
      const jobError = await errorOf(anonymous.run(saveGraph(2, 2).wf));
      expect((jobError as { code: string }).code).toBe("AUTH_FAILED");
    } finally {
      await anonymous.close();
    }
  });

  test("credentials go on HTTP and on the WebSocket upgrade", async () => {
    const authed = new ComfyClient({ url: guarded.url, ...FAST, auth: { bearer: "s3cret" } });
    try {
      const job = authed.submit(saveGraph(3, 3, "rt/auth").report);
      const progress: string[] = [];
      job.on("executing", (e) => progress.push(e.node));
      const result = await job.result();
      expect(result.files).toHaveLength(1);
      // Node events arrived over the socket, which needed the credentials too.
      expect(progress).toEqual(["1", "2", "3"]);
      expect(guarded.wsLog.some(([id]) => id === authed.clientId)).toBe(true);
    } finally {
      await authed.close();
    }
  });
});

describe("a hostile server", () => {
  let hostile: Server;
  let url: string;
  const replies = new Map<string, () => [number, string]>();
  let upgrades = 0;
  beforeAll(async () => {
    hostile = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname.replace(/^\/api/, "");
      const reply =
        replies.get(path) ?? (path.startsWith("/history/") ? replies.get("/history/*") : undefined);
      if (!reply) {
        res.writeHead(404).end();
        return;
      }
      const [status, body] = reply();
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
    // No WebSocket support, like some proxies.
    hostile.on("upgrade", (_req, socket) => {
      upgrades++;
      (socket as { destroy(): void }).destroy();
    });
    await new Promise<void>((r) => hostile.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    hostile.closeAllConnections();
    await new Promise((r) => hostile.close(r));
  });

  test("without WebSocket support jobs complete by polling, and the socket is not retried per job", async () => {
    const c = new ComfyClient({ url, ...FAST });
    let currentId = "";
    replies.set("/queue", () => [200, JSON.stringify({ queue_running: [], queue_pending: [] })]);
    replies.set("/history/*", () => [
      200,
      JSON.stringify({
        [currentId]: {
          prompt: [],
          outputs: { "2": { text: ["done"] } },
          status: { status_str: "success", completed: true, messages: [] },
          meta: {},
        },
      }),
    ]);
    replies.set("/prompt", () => [
      200,
      JSON.stringify({ prompt_id: currentId, number: 1, node_errors: {} }),
    ]);
    try {
      const before = upgrades;
      for (let i = 0; i < 4; i++) {
        currentId = randomUUID();
        const result = await c.run(
          { "2": { class_type: "PreviewAny", inputs: { source: "x" } } },
          { promptId: currentId },
        );
        expect(result.texts).toEqual({ "2": ["done"] });
      }
      // The first submission tried (1 + 3 retries); the next three did not try again.
      expect(upgrades - before).toBeLessThanOrEqual(4);
    } finally {
      await c.close();
    }
  });

  test("invalid JSON and wrong shapes are typed errors naming the route", async () => {
    const c = new ComfyClient({ url, ...FAST });
    try {
      replies.set("/system_stats", () => [200, "{not json"]);
      const a = await errorOf(c.systemStats());
      expect((a as { code: string }).code).toBe("BAD_SERVER_REPLY");
      expect((a as Error).message).toContain("/system_stats");
      replies.set("/system_stats", () => [200, JSON.stringify({ system: "x", devices: 5 })]);
      const b = await errorOf(c.systemStats());
      expect((b as { code: string }).code).toBe("BAD_SERVER_REPLY");
      replies.set("/queue", () => [200, JSON.stringify({ queue_running: [[1, 2]] })]);
      const q = await errorOf(c.queue());
      expect((q as { code: string }).code).toBe("BAD_SERVER_REPLY");
    } finally {
      await c.close();
    }
  });

  test("an output file name with ../ never leaves the output folder", async () => {
    const c = new ComfyClient({ url, ...FAST });
    const promptId = randomUUID();
    replies.set("/prompt", () => [
      200,
      JSON.stringify({ prompt_id: promptId, number: 1, node_errors: {} }),
    ]);
    replies.set("/queue", () => [200, JSON.stringify({ queue_running: [], queue_pending: [] })]);
    const outputs = {
      "9": {
        images: [
          { filename: "../../evil.png", subfolder: "", type: "output" },
          { filename: "ok.png", subfolder: "../..", type: "output" },
          { filename: "/etc/passwd", subfolder: "", type: "output" },
          { filename: "fine.png", subfolder: "sub", type: "output" },
        ],
      },
    };
    replies.set("/history/*", () => [
      200,
      JSON.stringify({
        [promptId]: {
          prompt: [1, promptId, {}, {}, ["9"]],
          outputs,
          status: { status_str: "success", completed: true, messages: [] },
          meta: {},
        },
      }),
    ]);
    replies.set("/view", () => [200, "PWNED"]);
    try {
      const result = await c.run(
        { "9": { class_type: "SaveImage", inputs: { images: ["1", 0] } } },
        { promptId },
      );
      expect(result.files).toHaveLength(4);
      const root = tempDir();
      const out = join(root, "out");
      for (const file of result.files.slice(0, 3)) {
        const error = await errorOf(c.save(file, out));
        expect((error as { code: string }).code).toBe("UNSAFE_PATH");
      }
      expect(existsSync(join(root, "evil.png"))).toBe(false);
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
      // saveOutputs saves what is safe, then names everything it refused.
      const error = await errorOf(c.saveOutputs(result, out));
      expect((error as { code: string }).code).toBe("UNSAFE_PATH");
      expect((error as Error).message).toMatch(/Saved 1 file\(s\).*refused 3/);
      expect(readFileSync(join(out, "sub", "fine.png"), "utf8")).toBe("PWNED");
      expect(readdirSync(root)).toEqual(["out"]);
      expect(readdirSync(out)).toEqual(["sub"]);
    } finally {
      await c.close();
    }
  });

  test("a prompt id the server did not echo, or a reply missing fields, is BAD_SERVER_REPLY", async () => {
    const c = new ComfyClient({ url, ...FAST, retry: { retries: 0 } });
    replies.set("/prompt", () => [200, JSON.stringify({ number: "one" })]);
    try {
      const error = await errorOf(c.run({ "1": { class_type: "X", inputs: {} } }));
      expect((error as { code: string }).code).toBe("BAD_SERVER_REPLY");
    } finally {
      await c.close();
    }
  });
});

describe("TLS", () => {
  let secure: TestServer;
  let ca: Buffer;
  beforeAll(async () => {
    ({ server: secure, ca } = await startTlsTestServer());
  });
  afterAll(async () => {
    await secure.close();
  });

  test("https and wss with a custom CA: jobs run with socket events", async () => {
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const c = new ComfyClient({ url: secure.url, ...FAST, tls: { ca } });
    try {
      const job = c.submit(saveGraph(5, 6, "rt/tls").report);
      const nodes: string[] = [];
      job.on("executing", (e) => nodes.push(e.node));
      const result = await job.result();
      expect(nodes).toEqual(["1", "2", "3"]);
      const png = PNG.sync.read(await c.read(result.files[0]!));
      expect([png.width, png.height]).toEqual([5, 6]);
    } finally {
      await c.close();
    }
  });

  test("an untrusted certificate is a typed error naming the certificate problem", async () => {
    const c = new ComfyClient({ url: secure.url, ...FAST });
    try {
      const before = secure.requests.length;
      const error = await errorOf(c.systemStats());
      expect((error as { code: string }).code).toBe("SERVER_UNREACHABLE");
      expect((error as Error).message).toMatch(/certificate/i);
      expect(secure.requests.length).toBe(before);
    } finally {
      await c.close();
    }
  });
});
