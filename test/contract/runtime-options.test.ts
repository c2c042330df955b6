import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isComfycError, workflow } from "comfyc";
import { ComfyClient } from "comfyc/runtime";
import { ComfyPool, ComfyWorker } from "comfyc/scale";
import { startTestServer, type TestServer } from "comfyc/testing";
import { EmptyImage, ImageInvert, SaveImage } from "../../generated/core.js";

function imageWorkflow(width: number) {
  const wf = workflow();
  const image = wf.add(EmptyImage, { width, height: 8, batch_size: 1 });
  wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: "options/x" });
  return wf;
}
const graph = (width: number) => imageWorkflow(width).compileWithReport();

/** Timeouts no Node timer can keep: negative, not a number, or beyond 2^31 - 1 ms. */
const BAD: [string, object, RegExp][] = [
  ["negative", { runMs: -5 }, /timeouts\.runMs .* got -5/],
  ["NaN", { runMs: Number.NaN }, /timeouts\.runMs .* got NaN/],
  ["a string", { stallMs: "abc" }, /timeouts\.stallMs .* got string "abc"/],
  ["beyond Node's timers", { queueMs: 1e12 }, /timeouts\.queueMs .* got 1000000000000/],
  ["Infinity", { stallMs: Number.POSITIVE_INFINITY }, /timeouts\.stallMs .* got Infinity/],
];

function usageError(run: () => unknown): Error {
  try {
    run();
  } catch (e) {
    expect(isComfycError(e, "USAGE"), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error("expected a USAGE error");
}

describe("millisecond options are checked where they are given", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  for (const api of ["classic", "v2"] as const)
    test(`${api}: a job timeout no timer can keep is a USAGE error at submit, and nothing is sent`, async () => {
      const client = new ComfyClient({ url: server.url, api });
      try {
        const before = server.executed.length;
        for (const [what, timeouts, message] of BAD) {
          const e = usageError(() => client.submit(graph(8), { timeouts }));
          expect(e.message, what).toMatch(message);
          expect(e.message, what).toContain("2147483647");
        }
        expect(() => client.attach("x", { timeouts: { runMs: -1 } })).toThrow(/timeouts\.runMs/);
        // 0 and unset mean no limit, as before; a big but valid limit does not fire.
        await client.submit(graph(9), { timeouts: { runMs: 0, queueMs: 2 ** 31 - 1 } }).result();
        expect(server.executed.length).toBe(before + 1);
      } finally {
        await client.close();
      }
    });

  test("client options: a bad budget is a USAGE error naming it", () => {
    expect(
      usageError(() => new ComfyClient({ url: server.url, cancelTimeoutMs: -1 })).message,
    ).toMatch(/cancelTimeoutMs .* got -1/);
    expect(
      usageError(() => new ComfyClient({ url: server.url, unreachableTimeoutMs: 1e10 })).message,
    ).toMatch(/unreachableTimeoutMs/);
  });

  test("ComfyPool and ComfyWorker settings: a bad interval is a USAGE error naming it", () => {
    expect(
      usageError(() => new ComfyPool({ servers: [server.url], healthIntervalMs: Number.NaN }))
        .message,
    ).toMatch(/healthIntervalMs .* got NaN/);
    expect(
      usageError(
        () =>
          new ComfyWorker({ redis: "redis://127.0.0.1:1", server: server.url, lockDurationMs: -1 }),
      ).message,
    ).toMatch(/lockDurationMs .* got -1/);
  });

  test("ComfyPool: the job ends with the USAGE error at once, and the pool goes on", async () => {
    const pool = new ComfyPool({ servers: [server.url] });
    try {
      const bad = pool.submit(imageWorkflow(10), { timeouts: { runMs: 1e12 } });
      await expect(bad.result()).rejects.toThrow(/timeouts\.runMs/);
      await pool.run(imageWorkflow(11));
    } finally {
      await pool.close();
    }
  });
});
