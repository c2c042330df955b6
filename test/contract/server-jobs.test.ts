import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ServerJobDetailSchema,
  JobsCancelReplySchema,
  ServerJobsPageSchema,
} from "../../src/protocol/jobs.js";
import { startTestServer, type TestServer } from "../../src/testing/index.js";
import { get, post, rawSocket, type RawSocket } from "./ws-helper.js";

/**
 * The test server's jobs API (`/api/jobs…`), release by release: ComfyUI 0.33.0's
 * `comfy_execution/jobs.py` and `server.py` (protocol §2.18, changes §A2), with the routes and
 * fields each earlier release had. Every reply is also read with comfyc's own zod schemas.
 */

let colors = 0;
/** A fresh EmptyImage each time (another colour), so no node comes from the cache. */
const image = () => ({
  class_type: "EmptyImage",
  inputs: { width: 8, height: 8, batch_size: 1, color: ++colors },
});
const saved = (prefix: string) => ({
  "1": image(),
  "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: prefix } },
});
const previewed = () => ({
  "1": image(),
  "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
});
const inverted = () => ({
  "1": image(),
  "3": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
  "2": { class_type: "PreviewImage", inputs: { images: ["3", 0] } },
});

interface Started {
  server: TestServer;
  ws: RawSocket;
  clientId: string;
}

async function start(comfyuiVersion: string): Promise<Started> {
  const server = await startTestServer({ comfyuiVersion });
  const clientId = randomUUID();
  return { server, ws: await rawSocket(server.url, clientId), clientId };
}

async function stop(s: Started | undefined): Promise<void> {
  s?.ws.close();
  await s?.server.close();
}

/** Queues a prompt for this client; its id. */
async function queue(s: Started, prompt: object, extra: object = {}): Promise<string> {
  const res = await post(`${s.server.url}/prompt`, { prompt, client_id: s.clientId, ...extra });
  expect(res.status, res.text).toBe(200);
  return res.body.prompt_id as string;
}

/** Resolves when the prompt has finished (success, error or interrupt): `executing null`. */
const finished = (s: Started, id: string) =>
  s.ws.waitFor((m) => m.type === "executing" && m.data.node === null && m.data.prompt_id === id);

describe("jobs API as ComfyUI 0.33.0", () => {
  let s: Started;
  beforeAll(async () => (s = await start("0.33.0")));
  afterAll(() => stop(s));

  test("a finished job: list item and details, as jobs.py builds them", async () => {
    const workflowId = randomUUID();
    const id = await queue(s, saved("jobs/a"), {
      extra_data: { extra_pnginfo: { workflow: { id: workflowId } } },
    });
    await finished(s, id);
    const detail = await get(`${s.server.url}/api/jobs/${id}`);
    expect(detail.status).toBe(200);
    const job = ServerJobDetailSchema.parse(detail.body);
    expect(Object.keys(detail.body)).toEqual([
      "id",
      "status",
      "priority",
      "create_time",
      "execution_start_time",
      "execution_end_time",
      "outputs_count",
      "previewable_outputs_count",
      "preview_output",
      "workflow_id",
      "outputs",
      "execution_status",
      "workflow",
    ]);
    expect(job).toMatchObject({
      id,
      status: "completed",
      outputs_count: 1,
      previewable_outputs_count: 1,
      workflow_id: workflowId,
    });
    expect(job.preview_output).toEqual({
      filename: "a_00001_.png",
      subfolder: "jobs",
      type: "output",
      nodeId: "2",
      mediaType: "images",
    });
    expect(job.execution_end_time!).toBeGreaterThanOrEqual(job.execution_start_time!);
    expect(job.execution_start_time!).toBeGreaterThanOrEqual(job.create_time!);
    // Details: the history entry's outputs, status and the prompt with its extra data.
    const history = (await get(`${s.server.url}/history/${id}`)).body[id];
    expect(job.outputs).toEqual(history.outputs);
    expect(job.execution_status).toEqual(history.status);
    expect(job.workflow).toEqual({ prompt: history.prompt[2], extra_data: history.prompt[3] });
    // The list item is the same job without the details.
    const list = ServerJobsPageSchema.parse(
      (await get(`${s.server.url}/api/jobs?workflow_id=${workflowId}`)).body,
    );
    expect(list.jobs).toHaveLength(1);
    const { outputs: _o, execution_status: _e, workflow: _w, ...item } = job;
    expect(list.jobs[0]).toEqual(item);
    expect(list.pagination).toEqual({ offset: 0, limit: null, total: 1, has_more: false });
  });

  test("a temp preview is the preview when nothing was saved; a node failure is failed with its error", async () => {
    const id = await queue(s, previewed());
    await finished(s, id);
    const job = (await get(`${s.server.url}/api/jobs/${id}`)).body;
    expect(job.preview_output).toMatchObject({ type: "temp", nodeId: "2", mediaType: "images" });

    s.server.script.node("3", { fail: { exceptionType: "RuntimeError", message: "boom" } });
    const failed = await queue(s, inverted());
    await finished(s, failed);
    s.server.script.clearNodes();
    const bad = ServerJobDetailSchema.parse((await get(`${s.server.url}/api/jobs/${failed}`)).body);
    expect(bad.status).toBe("failed");
    expect(bad.execution_error).toMatchObject({
      prompt_id: failed,
      node_id: "3",
      exception_type: "RuntimeError",
      exception_message: "boom\n",
    });
    expect(bad.outputs_count).toBe(0);
    expect(bad).not.toHaveProperty("preview_output");
  });

  test("pending and running jobs, which /history does not show; cancel interrupts or dequeues", async () => {
    // Node 1 of the first prompt takes long enough to hold the queue.
    s.server.script.node("1", { durationMs: 400 });
    const running = await queue(s, inverted());
    const pending = await queue(s, inverted());
    await s.ws.waitFor(
      (m) => m.type === "executing" && m.data.prompt_id === running && m.data.node === "1",
    );
    expect((await get(`${s.server.url}/history/${running}`)).body).toEqual({});
    const runningJob = (await get(`${s.server.url}/api/jobs/${running}`)).body;
    expect(Object.keys(runningJob)).toEqual([
      "id",
      "status",
      "priority",
      "create_time",
      "outputs_count",
      "previewable_outputs_count",
    ]);
    expect(runningJob).toMatchObject({ id: running, status: "in_progress", outputs_count: 0 });
    expect((await get(`${s.server.url}/api/jobs/${pending}`)).body.status).toBe("pending");
    const page = ServerJobsPageSchema.parse(
      (await get(`${s.server.url}/api/jobs?status=pending,in_progress&sort_order=asc`)).body,
    );
    expect(page.jobs.map((j) => [j.id, j.status])).toEqual([
      [running, "in_progress"],
      [pending, "pending"],
    ]);

    const cancelPending = await post(`${s.server.url}/api/jobs/${pending}/cancel`, undefined, true);
    expect(JobsCancelReplySchema.parse(cancelPending.body)).toEqual({ cancelled: true });
    expect((await get(`${s.server.url}/api/jobs/${pending}`)).status).toBe(404);
    const cancelRunning = await post(`${s.server.url}/api/jobs/${running}/cancel`, "", true);
    expect(cancelRunning.body).toEqual({ cancelled: true });
    await finished(s, running);
    s.server.script.clearNodes();
    const ended = (await get(`${s.server.url}/api/jobs/${running}`)).body;
    expect(ended.status).toBe("cancelled");
    expect(ended).not.toHaveProperty("execution_error");
    // Idempotent: a finished or unknown id is not cancelled, and is not an error.
    for (const id of [running, "not-even-a-uuid"])
      expect((await post(`${s.server.url}/api/jobs/${id}/cancel`, "", true)).body).toEqual({
        cancelled: false,
      });
  });

  test("batch cancel checks every id first", async () => {
    const url = `${s.server.url}/api/jobs/cancel`;
    expect(await post(url, { job_ids: [randomUUID()] })).toMatchObject({
      status: 200,
      body: { cancelled: false },
    });
    const upper = randomUUID().toUpperCase();
    expect(await post(url, { job_ids: [upper, 5, null, { a: 1 }] })).toMatchObject({
      status: 400,
      body: {
        error: "job_ids contains invalid id(s)",
        invalid_ids: [upper, "5", "None", "{'a': 1}"],
      },
    });
    expect((await post(url, { job_ids: "x" })).body).toEqual({ error: "job_ids must be a list" });
    expect((await post(url, "{", true)).body).toEqual({
      error: "Request body must be valid JSON",
    });
  });

  test("query errors are 400 with ComfyUI's messages; offset and limit page", async () => {
    const bad = async (query: string) => (await get(`${s.server.url}/api/jobs?${query}`)).body;
    expect(await bad("status=done,failed")).toEqual({
      error:
        "Invalid status value(s): done. Valid values: pending, in_progress, completed, failed, cancelled",
    });
    expect(await bad("sort_by=name")).toEqual({
      error: "sort_by must be 'created_at' or 'execution_duration'",
    });
    expect(await bad("sort_order=up")).toEqual({ error: "sort_order must be 'asc' or 'desc'" });
    expect(await bad("limit=0")).toEqual({ error: "limit must be a positive integer" });
    expect(await bad("limit=x")).toEqual({ error: "limit must be an integer" });
    expect(await bad("offset=1.5")).toEqual({ error: "offset must be an integer" });

    const all = ServerJobsPageSchema.parse((await get(`${s.server.url}/api/jobs`)).body);
    expect(all.pagination.total).toBeGreaterThanOrEqual(4);
    // Newest first by default.
    const times = all.jobs.map((j) => j.create_time!);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const page = ServerJobsPageSchema.parse(
      (await get(`${s.server.url}/api/jobs?limit=2&offset=-3`)).body,
    );
    expect(page.pagination).toEqual({
      offset: 0,
      limit: 2,
      total: all.pagination.total,
      has_more: true,
    });
    expect(page.jobs).toEqual(all.jobs.slice(0, 2));
    const last = ServerJobsPageSchema.parse(
      (await get(`${s.server.url}/api/jobs?limit=2&offset=${all.pagination.total - 1}`)).body,
    );
    expect(last.jobs).toEqual(all.jobs.slice(-1));
    expect(last.pagination.has_more).toBe(false);
  });

  test("literal /api paths: /api/api/jobs answers, /jobs does not; an unknown id is 404", async () => {
    expect((await get(`${s.server.url}/api/api/jobs`)).status).toBe(200);
    expect((await get(`${s.server.url}/jobs`)).status).toBe(404);
    const put = await fetch(`${s.server.url}/prompt`, { method: "PUT" });
    expect([put.status, put.headers.get("allow")]).toEqual([405, "GET,HEAD,POST"]);
    expect(await get(`${s.server.url}/api/jobs/${randomUUID()}`)).toMatchObject({
      status: 404,
      body: { error: "Job not found" },
    });
  });
});

describe("jobs API release by release", () => {
  let s: Started | undefined;
  afterAll(() => stop(s));

  test("0.3.64 has no jobs API", async () => {
    s = await start("0.3.64");
    expect((await get(`${s.server.url}/api/jobs`)).status).toBe(404);
    await stop(s);
    s = undefined;
  });

  test("0.6.0: listing without cancel routes; an interrupt is failed, and cancelled is no status", async () => {
    s = await start("0.6.0");
    expect((await get(`${s.server.url}/api/jobs`)).status).toBe(200);
    // No POST route there: aiohttp's 405 (the GET route of /api/jobs/{id} takes the path).
    const cancel = await fetch(`${s.server.url}/api/jobs/cancel`, { method: "POST", body: "{}" });
    expect([cancel.status, cancel.headers.get("allow"), await cancel.text()]).toEqual([
      405,
      "GET,HEAD",
      "405: Method Not Allowed",
    ]);
    s.server.script.node("3", { interrupt: true });
    const id = await queue(s, inverted());
    await finished(s, id);
    const job = (await get(`${s.server.url}/api/jobs/${id}`)).body;
    expect(job.status).toBe("failed");
    expect(job).not.toHaveProperty("previewable_outputs_count");
    expect((await get(`${s.server.url}/api/jobs?status=cancelled`)).body).toEqual({
      error:
        "Invalid status value(s): cancelled. Valid values: pending, in_progress, completed, failed",
    });
    await stop(s);
    s = undefined;
  });

  test("0.31.0 has cancel and cancelled, 0.32.0 adds previewable_outputs_count", async () => {
    for (const [version, counted] of [
      ["0.31.0", false],
      ["0.32.0", true],
    ] as const) {
      s = await start(version);
      s.server.script.node("3", { interrupt: true });
      const id = await queue(s, inverted());
      await finished(s, id);
      const job = (await get(`${s.server.url}/api/jobs/${id}`)).body;
      expect(job.status, version).toBe("cancelled");
      expect("previewable_outputs_count" in job, version).toBe(counted);
      expect((await post(`${s.server.url}/api/jobs/${id}/cancel`, "", true)).body).toEqual({
        cancelled: false,
      });
      await stop(s);
      s = undefined;
    }
  });
});
