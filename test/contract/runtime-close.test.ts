import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ClientClosedError, ComfyClient } from "comfyc/runtime";
import { ComfyPool } from "comfyc/scale";
import { startTestServer, type TestServer } from "comfyc/testing";
import { errorOf, started } from "../waits.js";

/** A prompt whose ImageInvert node takes as long as the test server is told. */
const slowPrompt = (w: number) => ({
  "1": { class_type: "EmptyImage", inputs: { width: w, height: 2, batch_size: 1, color: 0 } },
  "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
  "3": { class_type: "PreviewImage", inputs: { images: ["2", 0] } },
});

describe("client.close() with jobs in flight", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    server.script.node("ImageInvert", { durationMs: 2000 });
  });
  afterAll(async () => {
    await server.close();
  });

  for (const api of ["classic", "v2"] as const) {
    test(`${api}: a running job ends with ClientClosedError naming the prompt, instead of never settling`, async () => {
      const client = new ComfyClient({ url: server.url, api, pollIntervalMs: 50 });
      const job = client.submit(slowPrompt(3));
      await started(job);
      await client.close();
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(ClientClosedError);
      expect(error).toMatchObject({ code: "USAGE", promptId: job.promptId });
      expect((error as Error).message).toContain("may still be queued or running");
      expect((error as ClientClosedError).hint).toContain(`client.attach("${job.promptId}")`);
      expect(job.status).toBe("failed");
    });

    test(`${api}: a job still being submitted ends the same way`, async () => {
      const client = new ComfyClient({ url: server.url, api, pollIntervalMs: 50 });
      const job = client.submit(slowPrompt(4));
      await client.close();
      expect(await errorOf(job.result())).toBeInstanceOf(ClientClosedError);
      expect(job.status).toBe("failed");
    });
  }
});

describe("ComfyPool.close() with jobs in flight", () => {
  test("a running job and one still waiting for a slot both end with a USAGE error instead of never settling", async () => {
    const server = await startTestServer();
    server.script.node("ImageInvert", { durationMs: 2000 });
    const pool = new ComfyPool({ servers: [server.url], maxJobsPerServer: 1 });
    try {
      const running = pool.submit(slowPrompt(5));
      const waiting = pool.submit(slowPrompt(6));
      await new Promise((r) => running.on("started", r));
      await pool.close();
      const [first, second] = await Promise.all([
        errorOf(running.result()),
        errorOf(waiting.result()),
      ]);
      expect(first).toBeInstanceOf(ClientClosedError);
      expect(second).toMatchObject({ code: "USAGE" });
      expect((second as Error).message).toContain("never ran");
    } finally {
      await server.close();
    }
  });
});
