import { randomUUID } from "node:crypto";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, test, vi } from "vitest";
import {
  CancelledError,
  CancelUndeliveredError,
  ComfyClient,
  DEFAULT_UNREACHABLE_TIMEOUT_MS,
  HttpError,
  JobTimeoutError,
  ServerGoneError,
} from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import { errorOf, freePort, queued, started, until } from "../waits.js";

/** A prompt whose ImageInvert node takes as long as the test server is told. */
const slowPrompt = (w: number) => ({
  "1": { class_type: "EmptyImage", inputs: { width: w, height: 2, batch_size: 1, color: 0 } },
  "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
  "3": { class_type: "PreviewImage", inputs: { images: ["2", 0] } },
});

/** Fast retries (the same count as the defaults), so fault tests take milliseconds. */
const FAST_RETRY = { retries: 4, minDelayMs: 10, maxDelayMs: 40 } as const;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  cleanup.push(() => s.close());
  return s;
}
function client(url: string, options: Partial<ConstructorParameters<typeof ComfyClient>[0]> = {}) {
  const c = new ComfyClient({ url, pollIntervalMs: 50, ...options });
  cleanup.push(() => c.close());
  return c;
}

describe("one retry layer", () => {
  test("503 on every request: the job fails after the transport's budget, naming POST /prompt; nine requests in all", async () => {
    const s = await server();
    s.script.failHttp({ status: 503, count: 1_000_000 });
    const c = client(s.url, { retry: FAST_RETRY });
    const id = randomUUID();
    const before = s.requests.length;
    const error = await errorOf(c.run(slowPrompt(5), { promptId: id }));
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ code: "SERVER_ERROR", method: "POST", status: 503, attempts: 5 });
    expect((error as Error).message).toContain(`POST ${s.url}/api/prompt failed after 5 attempts`);
    // Five POSTs; before each of the four retries one single-attempt history read checks
    // whether the last POST had queued the prompt (it fails too, so the POST is sent again).
    const requests = s.requests.slice(before);
    expect(requests.filter((r) => r === "POST /api/prompt")).toHaveLength(5);
    expect(requests.filter((r) => r === `GET /api/history/${id}`)).toHaveLength(4);
    expect(requests).toHaveLength(9);
  });

  test("nothing listening: SERVER_UNREACHABLE naming the URL and the attempts, within 5 s on the default budget", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const c = client(url);
    const t0 = Date.now();
    const error = await errorOf(c.run(slowPrompt(6)));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(error).toMatchObject({ code: "SERVER_UNREACHABLE", attempts: 5 });
    expect((error as Error).message).toContain(`POST ${url}/api/prompt failed after 5 attempts`);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  test("a slow reply beyond the per-attempt timeout is retried within the budget, then named", async () => {
    const s = await server();
    // undici checks its timeouts about once a second: the reply is much slower than that.
    s.script.latency(4000);
    const c = client(s.url, {
      timeoutMs: 300,
      retry: { retries: 1, minDelayMs: 10, maxDelayMs: 20 },
    });
    const error = await errorOf(c.systemStats());
    expect(error).toMatchObject({ code: "SERVER_UNREACHABLE", method: "GET", attempts: 2 });
    expect((error as Error).message).toContain(
      `GET ${s.url}/api/system_stats failed after 2 attempts`,
    );
    s.script.latency(0);
    expect((await c.systemStats()).system.comfyui_version).toBe(s.comfyuiVersion);
  });
});

describe("a server that goes away", () => {
  test("dies for good mid-job: SERVER_GONE after unreachableTimeoutMs, not a wait forever", async () => {
    const s = await server();
    s.script.node("ImageInvert", { durationMs: 60_000 });
    const c = client(s.url, { retry: FAST_RETRY, unreachableTimeoutMs: 1000 });
    const job = c.submit(slowPrompt(7));
    await started(job);
    await s.script.stop();
    const error = await errorOf(job.result());
    expect(error).toBeInstanceOf(ServerGoneError);
    expect(error).toMatchObject({ code: "SERVER_GONE", promptId: job.promptId });
    expect(job.status).toBe("failed");
  });

  test("a live server silent for longer than the limit (one long node) is asked, not given up on", async () => {
    const s = await server();
    // No message for 1.5 s, five times the limit; the client's own poll would wait 3 s.
    s.script.node("ImageInvert", { durationMs: 1500 });
    const c = client(s.url, { retry: FAST_RETRY, unreachableTimeoutMs: 300 });
    const before = s.requests.length;
    const result = await c.submit(slowPrompt(15)).result();
    expect(result.promptId).toBeDefined();
    // The watchdog's probes were what kept it alive: the poll's list of active jobs (GET /queue
    // before 0.6.0).
    expect(s.requests.slice(before)).toContain("GET /api/jobs");
  });

  test("with no limit set, the default (60 s) bounds the wait: on our clock, with fake timers", async () => {
    expect(DEFAULT_UNREACHABLE_TIMEOUT_MS).toBe(60_000);
    // Only the watchdog's interval and the clock are faked; sockets and HTTP keep real timers.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"], shouldAdvanceTime: true });
    const s = await server();
    s.script.node("ImageInvert", { durationMs: 600_000 });
    const c = client(s.url, { retry: FAST_RETRY, reconnect: { minDelayMs: 10, maxDelayMs: 50 } });
    const job = c.submit(slowPrompt(8));
    await started(job);
    await s.script.stop();
    let settled = false;
    const error = errorOf(job.result()).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(DEFAULT_UNREACHABLE_TIMEOUT_MS - 5000);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await error).toMatchObject({ code: "SERVER_GONE" });
  });

  test("frozen (accepts, never answers): the run timeout fires on our clock; the cancel is reported undelivered", async () => {
    const s = await server();
    s.script.node("ImageInvert", { durationMs: 60_000 });
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 300 });
    const job = c.submit(slowPrompt(9), { timeouts: { runMs: 300 } });
    await started(job);
    s.script.freeze();
    const error = await errorOf(job.result());
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect((error as JobTimeoutError).phase).toBe("run");
    const outcome = await job.cancelOutcome!;
    expect(outcome.state).toBe("undelivered");
    // The budget ran out, not the request's own timeout: TIMEOUT, naming the budget.
    expect(outcome.state === "undelivered" && outcome.error).toMatchObject({ code: "TIMEOUT" });
    expect(outcome.state === "undelivered" && outcome.error.message).toContain(
      "within the cancel budget of 300 ms",
    );
    // Still frozen: all of this happened without one reply from the server.
    s.script.thaw();
  });

  test("close() does not wait for a frozen server's replies", async () => {
    const s = await server();
    s.script.node("ImageInvert", { durationMs: 60_000 });
    const c = client(s.url, { retry: FAST_RETRY, silenceMs: 10 });
    const job = c.submit(slowPrompt(10));
    await started(job);
    const before = s.requests.length;
    s.script.freeze();
    // A poll is now waiting on the frozen server.
    await until(() => s.requests.length > before);
    await c.close();
    s.script.thaw();
  });
});

describe("cancel outcomes", () => {
  test("pending: dequeued; running: interrupted; ended: finished; server dead: undelivered, and the job ends CANCEL_UNDELIVERED", async () => {
    const s = await server();
    // Like ComfyUI, the test server interrupts between nodes (and sampler steps), not inside one.
    s.script.node("ImageInvert", { durationMs: 1500 });
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 1000 });
    const running = c.submit(slowPrompt(11));
    const pending = c.submit(slowPrompt(12));
    await started(running);
    await new Promise((r) => (pending.status === "queued" ? r(null) : pending.on("queued", r)));
    expect(await pending.cancel()).toEqual({ state: "dequeued" });
    expect(pending.status).toBe("cancelled");
    expect(await running.cancel()).toEqual({ state: "interrupted" });
    await expect(running.result()).rejects.toMatchObject({ code: "CANCELLED" });
    expect(await running.cancel()).toEqual({ state: "interrupted" });
    s.script.clearNodes();
    const done = c.submit(slowPrompt(13));
    await done.result();
    expect(await done.cancel()).toEqual({ state: "finished" });

    s.script.node("ImageInvert", { durationMs: 60_000 });
    const orphan = c.submit(slowPrompt(14));
    await started(orphan);
    await s.script.stop();
    const outcome = await orphan.cancel();
    expect(outcome.state).toBe("undelivered");
    expect(outcome.state === "undelivered" && outcome.error.code).toBe("SERVER_UNREACHABLE");
    // Not "cancelled": nothing says the prompt stopped.
    const error = await errorOf(orphan.result());
    expect(error).toBeInstanceOf(CancelUndeliveredError);
    expect(error).toMatchObject({ code: "CANCEL_UNDELIVERED", promptId: orphan.promptId });
    expect(orphan.status).toBe("failed");
  });
});

/**
 * A server that accepts connections and never answers (the test server frozen, as `kill -STOP`
 * leaves a real one, or a bare TCP socket): a cancel resolves within its budget while the server
 * stays silent, and says honestly that the job was not cancelled. Each test waits on the outcome
 * (an event) with the server still frozen; none measures time. The per-test limits only bound a
 * hang: before, a cancel waited for three WebSocket attempts of 10 s, or a POST's 60 s timeout.
 */
describe("a cancel the server does not take", () => {
  test("running on a frozen server: undelivered (TIMEOUT) within the budget while it stays frozen; the job ends CANCEL_UNDELIVERED, not cancelled", async () => {
    const s = await server();
    s.script.node("ImageInvert", { durationMs: 60_000 });
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 300 });
    const job = c.submit(slowPrompt(16));
    await started(job);
    // The routes are decided (GET /system_stats answered) before the freeze.
    await until(() => s.requests.includes("GET /api/system_stats"));
    s.script.freeze();
    const outcome = await job.cancel();
    expect(outcome.state).toBe("undelivered");
    expect(outcome.state === "undelivered" && outcome.error).toMatchObject({ code: "TIMEOUT" });
    const error = await errorOf(job.result());
    expect(error).toBeInstanceOf(CancelUndeliveredError);
    expect(error).toMatchObject({
      code: "CANCEL_UNDELIVERED",
      promptId: job.promptId,
      server: s.url,
    });
    expect((error as Error).message).toContain(`Prompt ${job.promptId} was not cancelled`);
    expect((error as Error).message).toContain(`may still be queued or running on ${s.url}`);
    expect((error as CancelUndeliveredError).hint).toContain(`client.attach("${job.promptId}")`);
    expect(job.status).toBe("failed");
    s.script.thaw();
  }, 30_000);

  test("GET /system_stats never answers: the cancel does not spend its budget on the route choice; the classic routes dequeue the pending job and interrupt the running one", async () => {
    const s = await server();
    // ComfyUI 0.33.0 has the atomic POST /api/jobs/{id}/cancel, but its release is never learnt.
    s.script.hang(/system_stats$/);
    s.script.node("ImageInvert", { durationMs: 60_000 });
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 2000 });
    const running = c.submit(slowPrompt(20));
    const pending = c.submit(slowPrompt(21));
    await started(running);
    await queued(pending);
    // The route choice has asked, and waits for a reply that will not come.
    await until(() => s.requests.includes("GET /api/system_stats"));
    const before = s.requests.length;
    expect(await pending.cancel()).toEqual({ state: "dequeued" });
    expect(await errorOf(pending.result())).toBeInstanceOf(CancelledError);
    expect(pending.status).toBe("cancelled");
    expect(await running.cancel()).toEqual({ state: "interrupted" });
    const sent = s.requests.slice(before);
    expect(sent).toContain("POST /api/queue");
    expect(sent).toContain("POST /api/interrupt");
    expect(sent.some((r) => r.startsWith("POST /api/jobs/"))).toBe(false);
    // The server never ran the dequeued prompt, and the route probe is still unanswered.
    expect(s.executed).not.toContain(pending.promptId);
    s.script.thaw();
  }, 30_000);

  test("while POST /prompt waits for a reply: undelivered within the budget, and the prompt the server queued after the thaw runs (CANCEL_UNDELIVERED was the truth)", async () => {
    const s = await server();
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 300 });
    await c.run(slowPrompt(17));
    // The socket is open: the next submission posts at once.
    s.script.freeze();
    const before = s.requests.length;
    const job = c.submit(slowPrompt(18));
    // The submission reached the server: its POST, or (when a reused keep-alive connection was
    // closed under it) the history check the transport makes before posting again.
    await until(() =>
      s.requests
        .slice(before)
        .some((r) => r === "POST /api/prompt" || r === `GET /api/history/${job.promptId}`),
    );
    const outcome = await job.cancel();
    expect(outcome.state === "undelivered" && outcome.error).toMatchObject({ code: "TIMEOUT" });
    expect(outcome.state === "undelivered" && outcome.error.message).toContain("POST /prompt");
    expect(await errorOf(job.result())).toMatchObject({ code: "CANCEL_UNDELIVERED" });
    s.script.thaw();
    await s.finished(job.promptId);
    expect(await c.history(job.promptId)).toMatchObject({ status: { status_str: "success" } });
  }, 30_000);

  test("before POST /prompt was sent (its socket still connecting to a frozen server): withdrawn at once", async () => {
    const s = await server();
    s.script.freeze();
    const c = client(s.url, { retry: FAST_RETRY, cancelTimeoutMs: 60_000 });
    const job = c.submit(slowPrompt(19));
    expect(await job.cancel()).toEqual({ state: "not-submitted" });
    expect(await errorOf(job.result())).toBeInstanceOf(CancelledError);
    expect(job.status).toBe("cancelled");
    s.script.thaw();
  }, 20_000);

  test("a bare TCP socket that accepts and never replies: the cancel of an attached job is undelivered (TIMEOUT)", async () => {
    const received: string[] = [];
    const sockets = new Set<Socket>();
    const hole = createServer((socket) => {
      sockets.add(socket);
      socket.on("data", (chunk) => received.push(chunk.toString("latin1").split("\r\n")[0]!));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    cleanup.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    });
    const url = `http://127.0.0.1:${(hole.address() as AddressInfo).port}`;
    const c = client(url, { retry: FAST_RETRY, cancelTimeoutMs: 300 });
    const job = c.attach(randomUUID());
    const outcome = await job.cancel();
    expect(outcome.state === "undelivered" && outcome.error).toMatchObject({ code: "TIMEOUT" });
    // Requests reached the socket and got no answer (the route decision's GET /system_stats,
    // which the cancel waits for a quarter of its budget, then the classic routes' requests).
    expect(received).toContain("GET /api/system_stats HTTP/1.1");
    expect(await errorOf(job.result())).toMatchObject({ code: "CANCEL_UNDELIVERED" });
  }, 30_000);
});
