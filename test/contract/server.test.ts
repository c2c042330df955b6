import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import { startTestServer, type TestServer } from "../../src/testing/index.js";
import { get, post, rawSocket } from "./ws-helper.js";
import { samplerPrompt } from "../sampler-prompt.js";

const image = (w = 16, h = 8, batch = 1, color = 0) => ({
  class_type: "EmptyImage",
  inputs: { width: w, height: h, batch_size: batch, color },
});
const save = (from: string, prefix = "t/img") => ({
  class_type: "SaveImage",
  inputs: { images: [from, 0], filename_prefix: prefix },
});
const previewNode = (from: string) => ({
  class_type: "PreviewImage",
  inputs: { images: [from, 0] },
});
const TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

async function runToEnd(
  prompt: object,
  clientId = randomUUID(),
  extra: Record<string, unknown> = {},
) {
  const ws = await rawSocket(server.url, clientId);
  const res = await post(`${server.url}/prompt`, { prompt, client_id: clientId, ...extra });
  expect(res.status).toBe(200);
  await ws.waitFor(
    (m) =>
      m.type === "executing" && m.data.node === null && m.data.prompt_id === res.body.prompt_id,
  );
  ws.close();
  return { ws, id: res.body.prompt_id as string, res };
}

describe("a long prompt does not block the server", () => {
  test("requests are answered between nodes while a CPU-heavy prompt runs", async () => {
    // 24 inverts of a 512×512 batch of 2: each node is real pixel work on the event loop.
    const prompt: Record<string, unknown> = {
      "1": {
        class_type: "EmptyImage",
        inputs: { width: 512, height: 512, batch_size: 2, color: 0 },
      },
    };
    for (let i = 0; i < 24; i++)
      prompt[String(10 + i)] = {
        class_type: "ImageInvert",
        inputs: { image: [i ? String(9 + i) : "1", 0] },
      };
    prompt["2"] = previewNode("33");
    const clientId = randomUUID();
    const ws = await rawSocket(server.url, clientId);
    try {
      const res = await post(`${server.url}/prompt`, { prompt, client_id: clientId });
      expect(res.status).toBe(200);
      const id = res.body.prompt_id as string;
      await ws.waitFor((m) => m.type === "executing" && m.data.node === "11");
      const stats = await get(`${server.url}/system_stats`);
      expect(stats.status).toBe(200);
      // Answered before the prompt ended: the end message has not arrived yet.
      expect(
        ws.messages.some(
          (m) => m.type === "executing" && m.data.node === null && m.data.prompt_id === id,
        ),
      ).toBe(false);
      await ws.waitFor(
        (m) => m.type === "executing" && m.data.node === null && m.data.prompt_id === id,
      );
    } finally {
      ws.close();
    }
  });
});

describe("POST /prompt", () => {
  test("accepts, numbers from the counter, honours front and an explicit number", async () => {
    const a = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
    });
    expect(a.status).toBe(200);
    expect(a.type).toBe("application/json; charset=utf-8");
    expect(Object.keys(a.body)).toEqual(["prompt_id", "number", "node_errors"]);
    expect(a.body.node_errors).toEqual({});
    const b = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
      front: true,
    });
    expect(b.body.number).toBe(-(a.body.number + 1));
    const c = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
      number: 1000,
    });
    expect(c.body.number).toBe(1000);
  });

  test("no_prompt is a 400 with the exact error; rejected posts still consume numbers", async () => {
    const first = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
    });
    const bad = await post(`${server.url}/prompt`, { nope: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: {
        type: "no_prompt",
        message: "No prompt provided",
        details: "No prompt provided",
        extra_info: {},
      },
      node_errors: {},
    });
    const next = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
    });
    expect(next.body.number).toBe(first.body.number + 2);
  });

  test("malformed JSON is aiohttp's plain-text 500 and consumes no number", async () => {
    const a = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
    });
    const bad = await post(`${server.url}/prompt`, "{not json", true);
    expect(bad.status).toBe(500);
    expect(bad.type).toBe("text/plain; charset=utf-8");
    expect(bad.text).toBe(TEXT_500);
    const b = await post(`${server.url}/prompt`, {
      prompt: { "1": image(), "2": previewNode("1") },
    });
    expect(b.body.number).toBe(a.body.number + 1);
  });

  test("prompt shapes: {} is prompt_no_outputs; [] too before 0.14.0, a 500 after (as on 0.33.0); a number is a 500", async () => {
    const r = await post(`${server.url}/prompt`, { prompt: {} });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe("prompt_no_outputs");
    expect((await post(`${server.url}/prompt`, { prompt: [] })).status).toBe(500);
    expect((await post(`${server.url}/prompt`, { prompt: 5 })).status).toBe(500);
    const old = await startTestServer({ comfyuiVersion: "0.13.0" });
    try {
      expect((await post(`${old.url}/prompt`, { prompt: [] })).body.error.type).toBe(
        "prompt_no_outputs",
      );
    } finally {
      await old.close();
    }
  });

  test("client-chosen ids: canonical UUIDs only (0.25.0+); 409 on duplicates only when asked for", async () => {
    const id = randomUUID();
    const body = { prompt: { "1": image(), "2": previewNode("1") }, prompt_id: id };
    expect((await post(`${server.url}/prompt`, body)).body.prompt_id).toBe(id);
    // 0.33.0 has no duplicate check (the 409 is seen only in an unreleased server.py).
    expect((await post(`${server.url}/prompt`, body)).status).toBe(200);
    const bad = await post(`${server.url}/prompt`, { ...body, prompt_id: "my-job-1" });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: {
        type: "invalid_prompt_id",
        message: "prompt_id must be a valid UUID",
        details:
          "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one",
        extra_info: {},
      },
      node_errors: {},
    });
    expect(
      (await post(`${server.url}/prompt`, { ...body, prompt_id: id.toUpperCase() })).status,
    ).toBe(400);
    const strict = await startTestServer({ unreleased: ["duplicatePromptId"] });
    try {
      expect((await post(`${strict.url}/prompt`, body)).status).toBe(200);
      expect(await post(`${strict.url}/prompt`, body)).toMatchObject({
        status: 409,
        body: { error: "prompt_id already exists" },
      });
    } finally {
      await strict.close();
    }
    const v024 = await startTestServer({ comfyuiVersion: "0.24.0" });
    try {
      expect(
        (await post(`${v024.url}/prompt`, { ...body, prompt_id: "my-job-1" })).body.prompt_id,
      ).toBe("my-job-1");
      expect((await get(`${v024.url}/system_stats`)).body.system.comfyui_version).toBe("0.24.0");
    } finally {
      await v024.close();
    }
  });

  test("prompt text with NaN and Infinity is read, judged and echoed as Python's JSON does", async () => {
    const text =
      '{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": NaN, "height": 64, "batch_size": 1, "color": 0}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}}';
    const r = await post(`${server.url}/prompt`, text, true);
    expect(r.status).toBe(400);
    expect(r.text).toContain('"received_value":NaN');
    const body = parseJsonLossless(r.text) as any;
    expect(body.node_errors["1"].errors[0]).toMatchObject({
      type: "invalid_input_type",
      details: "width, nan, cannot convert float NaN to integer",
    });
    const ok = await post(
      `${server.url}/prompt`,
      '{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}, "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": NaN}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}}',
      true,
    );
    expect(ok.status).toBe(200);
  });

  test("a version that is not a version is refused at start", async () => {
    for (const bad of ["banana", "0.3", "0.33.0-rc1", "00.3.64"])
      await expect(startTestServer({ comfyuiVersion: bad })).rejects.toMatchObject({
        code: "USAGE",
        message: expect.stringContaining(`comfyuiVersion: "${bad}" is not a ComfyUI version`),
      });
  });

  test("a release newer than comfyc models: reported as given, 0.33.0's behaviour, one process warning", async () => {
    // Caught where it is handed to Node, so the test output stays clean.
    const emitted = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const newer = await startTestServer({ comfyuiVersion: "v0.40.0" });
    const warnings = [...emitted.mock.calls];
    emitted.mockRestore();
    try {
      expect(warnings).toEqual([
        [
          "comfyuiVersion: ComfyUI 0.40.0 is newer than the newest release comfyc models (0.33.0): 0.33.0's rules apply, and what 0.40.0 changed is not modelled",
          { code: "COMFYC_UNMODELLED_COMFYUI" },
        ],
      ]);
      expect(newer.comfyuiVersion).toBe("0.40.0");
      const stats = (await (await fetch(`${newer.url}/system_stats`)).json()) as {
        system: { comfyui_version: string };
      };
      expect(stats.system.comfyui_version).toBe("0.40.0");
      // 0.33.0's rules: an unknown class is missing_node_type (0.12.0+), not invalid_prompt.
      const r = await post(`${newer.url}/prompt`, {
        prompt: { "1": { class_type: "Nope", inputs: {} } },
      });
      expect(r.body.error.type).toBe("missing_node_type");
    } finally {
      await newer.close();
    }
  });

  test("a v0.3.64 server accepts any prompt id and reports invalid_prompt for unknown classes", async () => {
    const legacy = await startTestServer({ comfyuiVersion: "0.3.64" });
    try {
      const ok = await post(`${legacy.url}/prompt`, {
        prompt: { "1": image(), "2": previewNode("1") },
        prompt_id: "my-job-1",
      });
      expect(ok.body.prompt_id).toBe("my-job-1");
      const bad = await post(`${legacy.url}/prompt`, {
        prompt: { "1": { class_type: "Nope", inputs: {} } },
      });
      expect(bad.body.error).toEqual({
        type: "invalid_prompt",
        message: "Cannot execute because node Nope does not exist.",
        details: "Node ID '#1'",
        extra_info: {},
      });
    } finally {
      await legacy.close();
    }
  });

  test("a 200 with node_errors runs only the outputs that passed", async () => {
    const { id, res } = await runToEnd({
      "1": image(0),
      "2": previewNode("1"),
      "3": image(),
      "4": save("3", "partial/ok"),
    });
    expect(Object.keys(res.body.node_errors)).toEqual(["1"]);
    const history = (await get(`${server.url}/history/${id}`)).body[id];
    expect(Object.keys(history.outputs)).toEqual(["4"]);
    expect(history.prompt[4]).toEqual(["4"]);
  });

  test("a 400 sends no WebSocket message at all", async () => {
    const ws = await rawSocket(server.url, "silent");
    await ws.waitFor((m) => m.type === "status");
    const before = ws.messages.length;
    const r = await post(`${server.url}/prompt`, {
      prompt: { "1": image(0), "2": previewNode("1") },
      client_id: "silent",
    });
    expect(r.status).toBe(400);
    // Everything the server sent before it read our next message has arrived by its answer.
    await ws.sync();
    expect(ws.messages.slice(before).map((m) => m.type)).toEqual(["feature_flags"]);
    ws.close();
  });
});

describe("WebSocket protocol", () => {
  test("status with sid on connect, feature-flag negotiation", async () => {
    const ws = await rawSocket(server.url, "flags-client");
    const status = await ws.waitFor((m) => m.type === "status");
    expect(status.data).toEqual({
      status: { exec_info: { queue_remaining: expect.any(Number) } },
      sid: "flags-client",
    });
    ws.send({ type: "feature_flags", data: { supports_preview_metadata: true } });
    const flags = await ws.waitFor((m) => m.type === "feature_flags");
    expect(flags.data).toEqual({ supports_preview_metadata: true, max_upload_size: 104857600 });
    ws.close();
    const anon = await rawSocket(server.url);
    expect((await anon.waitFor((m) => m.type === "status")).data.sid).toMatch(/^[0-9a-f]{32}$/);
    anon.close();
  });

  test("a fresh run sends the documented sequence; a rerun is fully cached", async () => {
    const prompt = { "1": image(8, 8), "2": save("1", "seq/run") };
    const { ws, id } = await runToEnd(prompt);
    const types = ws.messages
      .filter((m) => m.type !== "status" || ws.messages.indexOf(m) > 0)
      .map((m) => m.type);
    expect(types).toEqual([
      "status",
      "status",
      "execution_start",
      "execution_cached",
      "progress_state",
      "executing",
      "progress_state",
      "progress_state",
      "executing",
      "executed",
      "progress_state",
      "execution_success",
      "status",
      "executing",
    ]);
    const executed = ws.messages.find((m) => m.type === "executed")!;
    expect(executed.data).toEqual({
      node: "2",
      display_node: "2",
      output: {
        images: [
          {
            filename: expect.stringMatching(/^run_\d{5}_\.png$/),
            subfolder: "seq",
            type: "output",
          },
        ],
      },
      prompt_id: id,
    });
    const again = await runToEnd(prompt);
    const cached = again.ws.messages.find((m) => m.type === "execution_cached")!;
    expect(cached.data.nodes).toEqual(["1", "2"]);
    expect(again.ws.messages.some((m) => m.type === "executing" && m.data.node !== null)).toBe(
      false,
    );
    expect(again.ws.messages.find((m) => m.type === "executed")!.data.output).toEqual(
      executed.data.output,
    );
  });

  test("without client_id only status, progress_state and binary frames reach sockets", async () => {
    const ws = await rawSocket(server.url, "bystander");
    const r = await post(`${server.url}/prompt`, {
      prompt: {
        "1": image(4, 4),
        "2": { class_type: "GetImageSize", inputs: { image: ["1", 0] } },
        "3": { class_type: "PreviewAny", inputs: { source: ["2", 0] } },
      },
    });
    const id = r.body.prompt_id;
    await server.finished(id);
    // The prompt's last frames were sent before the server reads this socket's next message.
    await ws.sync();
    const seen = ws.messages.filter((m) => m.type !== "feature_flags");
    expect(new Set(seen.map((m) => m.type))).toEqual(new Set(["status", "progress_state"]));
    const text = ws.binary.find((b) => b.readUInt32BE(0) === 3)!;
    expect(text.readUInt32BE(4)).toBe(1);
    expect(text.subarray(8).toString()).toBe("2width: 4, height: 4\n batch size: 1");
    const entry = (await get(`${server.url}/history/${id}`)).body[id];
    expect(entry.status.messages.map((m: unknown[]) => m[0])).toEqual([
      "execution_start",
      "execution_cached",
      "execution_success",
    ]);
    expect(entry.outputs["3"]).toEqual({ text: ["4"] });
    ws.close();
  });

  test("execution_error carries the real fields, and history records it", async () => {
    server.script.node("ImageInvert", {
      fail: { exceptionType: "torch.OutOfMemoryError", message: "Allocation on device" },
    });
    try {
      // A size no other test uses, so node 1 really runs (cached nodes are not in `executed`).
      const { ws, id } = await runToEnd({
        "1": image(5, 3),
        "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
        "3": previewNode("2"),
      });
      const err = ws.messages.find((m) => m.type === "execution_error")!;
      expect(Object.keys(err.data).sort()).toEqual(
        [
          "current_inputs",
          "current_outputs",
          "exception_message",
          "exception_type",
          "executed",
          "node_id",
          "node_type",
          "prompt_id",
          "timestamp",
          "traceback",
        ].sort(),
      );
      expect(err.data).toMatchObject({
        node_id: "2",
        node_type: "ImageInvert",
        exception_type: "torch.OutOfMemoryError",
        exception_message: "Allocation on device\n",
        executed: ["1"],
      });
      expect(err.data.current_outputs.sort()).toEqual(["1", "2", "3"]);
      // The release's real execute chain, then one stand-in frame for the scripted raise.
      expect(err.data.traceback).toHaveLength(5);
      expect(err.data.traceback[0]).toMatch(
        /^ {2}File ".*\/execution\.py", line \d+, in execute\n/,
      );
      expect(err.data.traceback[4]).toBe(
        `  File "${resolve(server.folders.root)}/comfyc_testing.py", line 1, in scripted_failure\n`,
      );
      expect(ws.messages.some((m) => m.type === "execution_success")).toBe(false);
      const entry = (await get(`${server.url}/history/${id}`)).body[id];
      expect(entry.status.status_str).toBe("error");
      expect(entry.status.completed).toBe(false);
    } finally {
      server.script.clearNodes();
    }
  });

  test.each(["0.3.64", "0.33.0"])(
    "execution_error tracebacks have the frames the real %s writes, in socket and history",
    async (version) => {
      // Recorded from the real release (test/fixtures/testing/tracebacks.py), root as <root>.
      const real = (
        JSON.parse(
          readFileSync(new URL("../fixtures/testing/tracebacks.json", import.meta.url), "utf8"),
        ) as Record<string, Record<string, { exception_type: string; traceback: string[] }>>
      )[version]!;
      const release = await startTestServer({ comfyuiVersion: version });
      try {
        const clientId = randomUUID();
        const ws = await rawSocket(release.url, clientId);
        const root = resolve(release.folders.root);
        const errorOf = async (prompt: object) => {
          const r = await post(`${release.url}/prompt`, { prompt, client_id: clientId });
          await release.finished(r.body.prompt_id);
          await ws.waitFor(
            (m) => m.type === "execution_error" && m.data.prompt_id === r.body.prompt_id,
          );
          const sent = ws.messages.find(
            (m) => m.type === "execution_error" && m.data.prompt_id === r.body.prompt_id,
          )!.data;
          const entry = (await get(`${release.url}/history/${r.body.prompt_id}`)).body[
            r.body.prompt_id
          ];
          const kept = entry.status.messages.find((m: unknown[]) => m[0] === "execution_error")[1];
          expect(kept.traceback).toEqual(sent.traceback);
          return sent as { exception_type: string; traceback: string[] };
        };
        const want = (name: string) =>
          real[name]!.traceback.map((f) => f.replaceAll('"<root>/', `"${root}/`));
        const saved = await errorOf({
          "1": image(3, 5),
          "2": save("1", "../../outside"),
        });
        expect(saved.traceback).toEqual(want("save_outside SaveImage"));
        writeFileSync(join(release.folders.dir("input"), "bad.png"), "not a png\n");
        const loaded = await errorOf({
          "1": { class_type: "LoadImageMask", inputs: { image: "bad.png", channel: "alpha" } },
          "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
        });
        expect(loaded.exception_type).toBe("PIL.UnidentifiedImageError");
        expect(loaded.traceback).toEqual(want("image_unreadable LoadImageMask"));
        ws.close();
      } finally {
        await release.close();
      }
    },
  );

  test("previews: type 4 with ids for clients declaring supports_preview_metadata, type 1 otherwise", async () => {
    const previews = await startTestServer({ previews: true });
    try {
      for (const declare of [true, false]) {
        const clientId = randomUUID();
        const ws = await rawSocket(previews.url, clientId);
        if (declare) {
          ws.send({ type: "feature_flags", data: { supports_preview_metadata: true } });
          await ws.waitFor((m) => m.type === "feature_flags");
        }
        const r = await post(`${previews.url}/prompt`, { prompt: sampler(), client_id: clientId });
        await ws.waitFor((m) => m.type === "executing" && m.data.node === null);
        const frame = ws.binary.find((b) => [1, 4].includes(b.readUInt32BE(0)))!;
        if (declare) {
          expect(frame.readUInt32BE(0)).toBe(4);
          const meta = JSON.parse(frame.subarray(8, 8 + frame.readUInt32BE(4)).toString());
          expect(meta).toMatchObject({ prompt_id: r.body.prompt_id, image_type: "image/png" });
        } else {
          expect(frame.readUInt32BE(0)).toBe(1);
          expect(frame.readUInt32BE(4)).toBe(2);
          expect(frame.subarray(8, 12).toString("latin1")).toBe("\x89PNG");
        }
        ws.close();
      }
    } finally {
      await previews.close();
    }
  });
});

function sampler(steps = 3) {
  return samplerPrompt(steps, () => save("5", "sampled/s"));
}

describe("queue, interrupt, history", () => {
  test("queue items are 5-tuples, pending in heap order; delete and clear broadcast status", async () => {
    // The running prompt samples for a minute (interruptible between steps) so the queue's
    // shape cannot change while it is inspected, however slow the machine.
    server.script.node("KSampler", { durationMs: 60_000 });
    const ws = await rawSocket(server.url, "watcher");
    await ws.waitFor((m) => m.type === "status");
    const running = await post(`${server.url}/prompt`, { prompt: sampler(100) });
    await ws.waitFor(
      (m) => m.type === "progress" && m.data.prompt_id === running.body.prompt_id,
      60_000,
    );
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (
          await post(`${server.url}/prompt`, {
            prompt: { "1": image(2 + i, 2), "2": previewNode("1") },
            ...(i === 2 ? { front: true } : {}),
          })
        ).body.prompt_id,
      );
    const q = (await get(`${server.url}/queue`)).body;
    expect(q.queue_running).toHaveLength(1);
    expect(q.queue_running[0][1]).toBe(running.body.prompt_id);
    expect(q.queue_running[0]).toHaveLength(5);
    expect(q.queue_pending.map((item: unknown[]) => item[1])[0]).toBe(ids[2]);
    expect((await get(`${server.url}/prompt`)).body).toEqual({ exec_info: { queue_remaining: 4 } });
    const statusBefore = ws.messages.filter((m) => m.type === "status").length;
    const del = await fetch(`${server.url}/queue`, {
      method: "POST",
      body: JSON.stringify({ delete: [ids[0], "unknown"] }),
    });
    expect(del.status).toBe(200);
    expect(del.headers.get("content-type")).toBe("application/octet-stream");
    expect(await del.text()).toBe("");
    await fetch(`${server.url}/queue`, { method: "POST", body: JSON.stringify({ clear: true }) });
    // A status for the delete and one for the clear.
    await ws.waitForNth((m) => m.type === "status", statusBefore + 2);
    const after = (await get(`${server.url}/queue`)).body;
    expect(after.queue_pending).toEqual([]);
    expect(after.queue_running).toHaveLength(1);
    server.script.clearNodes();
    await fetch(`${server.url}/interrupt`, { method: "POST" });
    await ws.waitFor(
      (m) => m.type === "execution_interrupted" && m.data.prompt_id === running.body.prompt_id,
      60_000,
    );
    ws.close();
  });

  test("a client's number is a Python float: written as ComfyUI writes it (5.0) in the reply, /queue, history and the jobs API", async () => {
    // Recorded from the real ComfyUI 0.3.64 and 0.33.0 (the same on both, 30 Nov 2026): the
    // `number` of POST /prompt as sent → the literal in its reply, in /queue, in the history
    // entry's prompt[0] and in the jobs API's priority. server.py keeps float(number).
    const recorded: [string, string][] = [
      ["5", "5.0"],
      ['"5"', "5.0"],
      ["5.5", "5.5"],
      ["-3", "-3.0"],
      ['" 1_5 "', "15.0"],
      ["1e3", "1000.0"],
      ["true", "1.0"],
      ["12345678901234567890", "1.2345678901234567e+19"],
      ["0", "0.0"],
    ];
    // The server's own count stays an int.
    const own = { body: "", literal: /^-?\d+$/ };
    server.script.node("KSampler", { durationMs: 60_000 });
    const ws = await rawSocket(server.url, "numbers");
    const running = await post(`${server.url}/prompt`, { prompt: sampler(100) });
    await ws.waitFor(
      (m) => m.type === "progress" && m.data.prompt_id === running.body.prompt_id,
      60_000,
    );
    const sent: { id: string; want: string | RegExp }[] = [];
    for (const [i, [number, want]] of [...recorded, ["", own.literal] as const].entries()) {
      const prompt = JSON.stringify({ "1": image(30 + i, 2), "2": previewNode("1") });
      const body = number ? `{"prompt": ${prompt}, "number": ${number}}` : `{"prompt": ${prompt}}`;
      const res = await post(`${server.url}/prompt`, body, true);
      expect(res.status, res.text).toBe(200);
      const literal = /"number":\s*([^,}]+)/.exec(res.text)![1]!;
      if (typeof want === "string") expect(literal, `reply to number ${number}`).toBe(want);
      else expect(literal).toMatch(want);
      sent.push({ id: res.body.prompt_id as string, want });
    }
    const literalOf = (text: string, pattern: (id: string) => RegExp, id: string) =>
      pattern(id).exec(text)?.[1];
    const expectLiterals = (text: string, pattern: (id: string) => RegExp, where: string) => {
      for (const { id, want } of sent) {
        const literal = literalOf(text, pattern, id);
        if (typeof want === "string") expect(literal, `${where} of ${id}`).toBe(want);
        else expect(literal, `${where} of ${id}`).toMatch(want);
      }
    };
    const queueText = await (await fetch(`${server.url}/queue`)).text();
    expectLiterals(queueText, (id) => new RegExp(`\\[([^,\\[]+),\\s*"${id}"`), "/queue");
    const jobsText = await (await fetch(`${server.url}/api/jobs?status=pending`)).text();
    expectLiterals(
      jobsText,
      (id) => new RegExp(`"id":\\s*"${id}"[^}]*?"priority":\\s*([^,}]+)`),
      "/api/jobs",
    );
    server.script.clearNodes();
    await fetch(`${server.url}/interrupt`, { method: "POST" });
    ws.close();
    for (const { id } of sent) await server.finished(id);
    for (const { id, want } of sent) {
      const history = await (await fetch(`${server.url}/history/${id}`)).text();
      const job = await (await fetch(`${server.url}/api/jobs/${id}`)).text();
      for (const [where, literal] of [
        ["history prompt[0]", literalOf(history, () => /"prompt":\s*\[([^,]+),/, id)],
        ["job priority", literalOf(job, () => /"priority":\s*([^,}]+)/, id)],
      ] as const) {
        if (typeof want === "string") expect(literal, `${where} of ${id}`).toBe(want);
        else expect(literal, `${where} of ${id}`).toMatch(want);
      }
    }
  });

  test("a targeted interrupt of another prompt does nothing; a global one stops the run", async () => {
    // 200 steps of 300 ms: still running whenever the checks below happen; the global
    // interrupt ends it at the next step.
    server.script.node("KSampler", { durationMs: 60_000 });
    try {
      const clientId = randomUUID();
      const ws = await rawSocket(server.url, clientId);
      const r = await post(`${server.url}/prompt`, { prompt: sampler(200), client_id: clientId });
      await ws.waitFor((m) => m.type === "progress");
      const noop = await fetch(`${server.url}/interrupt`, {
        method: "POST",
        body: JSON.stringify({ prompt_id: randomUUID() }),
      });
      expect(noop.status).toBe(200);
      // The sampler checks for an interrupt before each step's progress message: one the
      // server sent after it handled the targeted interrupt proves the run went on.
      const sent = server.wsLog.filter(([to, type]) => to === clientId && type === "progress");
      await ws.waitForNth((m) => m.type === "progress", sent.length + 1);
      expect(ws.messages.some((m) => m.type === "execution_interrupted")).toBe(false);
      await fetch(`${server.url}/interrupt`, { method: "POST" });
      const interrupted = await ws.waitFor((m) => m.type === "execution_interrupted");
      expect(interrupted.data).toMatchObject({
        prompt_id: r.body.prompt_id,
        node_id: "4",
        node_type: "KSampler",
      });
      await ws.waitFor((m) => m.type === "executing" && m.data.node === null);
      const entry = (await get(`${server.url}/history/${r.body.prompt_id}`)).body[r.body.prompt_id];
      expect(entry.status).toMatchObject({ status_str: "error", completed: false });
      expect(entry.status.messages.at(-1)[0]).toBe("execution_interrupted");
      ws.close();
    } finally {
      server.script.clearNodes();
    }
  });

  test("a scripted interrupt at a node: its executing was sent, it never ran, earlier nodes did", async () => {
    server.script.node("ImageInvert", { interrupt: true });
    try {
      const { ws, id } = await runToEnd({
        "1": image(6, 2),
        "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
        "3": previewNode("2"),
      });
      const interrupted = ws.messages.find((m) => m.type === "execution_interrupted")!;
      expect(interrupted.data).toMatchObject({
        prompt_id: id,
        node_id: "2",
        node_type: "ImageInvert",
        executed: ["1"],
      });
      expect(ws.messages.some((m) => m.type === "executing" && m.data.node === "2")).toBe(true);
      expect(ws.messages.some((m) => m.type === "executed")).toBe(false);
      const entry = (await get(`${server.url}/history/${id}`)).body[id];
      expect(entry.status).toMatchObject({ status_str: "error", completed: false });
      expect(entry.outputs).toEqual({});
    } finally {
      server.script.clearNodes();
    }
  });

  test("history: {} for unknown ids, the four keys, max_items/offset, delete and clear", async () => {
    expect((await get(`${server.url}/history/${randomUUID()}`)).body).toEqual({});
    const { id } = await runToEnd({ "1": image(3, 3), "2": save("1", "h/x") });
    const entry = (await get(`${server.url}/history/${id}`)).body[id];
    expect(Object.keys(entry)).toEqual(["prompt", "outputs", "status", "meta"]);
    expect(entry.meta["2"]).toEqual({
      node_id: "2",
      display_node: "2",
      parent_node: null,
      real_node_id: "2",
    });
    const all = Object.keys((await get(`${server.url}/history`)).body);
    expect(Object.keys((await get(`${server.url}/history?max_items=2`)).body)).toEqual(
      all.slice(-2),
    );
    expect(Object.keys((await get(`${server.url}/history?max_items=1&offset=1`)).body)).toEqual(
      all.slice(1, 2),
    );
    expect((await get(`${server.url}/history?max_items=x`)).status).toBe(500);
    await fetch(`${server.url}/history`, {
      method: "POST",
      body: JSON.stringify({ delete: [id] }),
    });
    expect((await get(`${server.url}/history/${id}`)).body).toEqual({});
  });
});

describe("files", () => {
  test("EmptyImage batch 2 saved by SaveImage gives two PNGs of that size, counter naming, subfolders", async () => {
    const { id } = await runToEnd({ "1": image(24, 16, 2, 0xff0000), "2": save("1", "files/cat") });
    const images = (await get(`${server.url}/history/${id}`)).body[id].outputs["2"].images;
    expect(images.map((i: { filename: string }) => i.filename)).toEqual([
      expect.stringMatching(/^cat_\d{5}_\.png$/),
      expect.stringMatching(/^cat_\d{5}_\.png$/),
    ]);
    const n = Number(images[0].filename.slice(4, 9));
    expect(images[1].filename).toBe(`cat_${String(n + 1).padStart(5, "0")}_.png`);
    const res = await get(
      `${server.url}/view?filename=${images[1].filename}&subfolder=files&type=output`,
    );
    expect(res.type).toBe("image/png");
    expect(res.headers.get("content-disposition")).toBe(`filename="${images[1].filename}"`);
    const png = PNG.sync.read(res.bytes);
    expect([png.width, png.height]).toEqual([24, 16]);
    expect([...png.data.subarray(0, 4)]).toEqual([255, 0, 0, 255]);
    expect(res.bytes.includes(Buffer.from("tEXtprompt"))).toBe(true);
  });

  test("link indices as Python reads them: -1 is the last output, false is 0", async () => {
    // ImageScaleToMaxDimension-free: EmptyImage has one output, so -1, 0 and false are the same.
    const { id } = await runToEnd({
      "1": image(20, 12, 1, 0x00ff00),
      "2": { class_type: "SaveImage", inputs: { images: ["1", -1], filename_prefix: "idx/neg" } },
      "3": {
        class_type: "SaveImage",
        inputs: { images: ["1", false], filename_prefix: "idx/bool" },
      },
    });
    const entry = (await get(`${server.url}/history/${id}`)).body[id];
    expect(entry.status.status_str).toBe("success");
    for (const node of ["2", "3"]) {
      const [saved] = entry.outputs[node].images;
      const res = await get(
        `${server.url}/view?filename=${saved.filename}&subfolder=idx&type=output`,
      );
      const png = PNG.sync.read(res.bytes);
      expect([png.width, png.height, ...png.data.subarray(0, 3)]).toEqual([20, 12, 0, 255, 0]);
    }
  });

  test("PreviewImage writes to temp with a random infix; animated PNG is a real APNG", async () => {
    const { id } = await runToEnd({
      "1": image(8, 8, 3),
      "2": previewNode("1"),
      "3": {
        class_type: "SaveAnimatedPNG",
        inputs: { images: ["1", 0], filename_prefix: "anim", fps: 6, compress_level: 4 },
      },
    });
    const outputs = (await get(`${server.url}/history/${id}`)).body[id].outputs;
    expect(outputs["2"].images[0]).toMatchObject({
      filename: expect.stringMatching(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/),
      subfolder: "",
      type: "temp",
    });
    expect(outputs["3"].animated).toEqual([true]);
    const apng = (await get(`${server.url}/view?filename=${outputs["3"].images[0].filename}`))
      .bytes;
    expect(apng.includes(Buffer.from("acTL"))).toBe(true);
    expect(PNG.sync.read(apng).width).toBe(8);
  });

  test("/view refuses traversal, bad types and escaping subfolders; 404 for missing files; HEAD works", async () => {
    expect((await get(`${server.url}/view?filename=..%2Fsecret.png`)).status).toBe(400);
    expect((await get(`${server.url}/view?filename=%2Fetc%2Fpasswd`)).status).toBe(400);
    expect((await get(`${server.url}/view?filename=x.png&type=models`)).status).toBe(400);
    expect((await get(`${server.url}/view?filename=x.png&subfolder=..%2F..`)).status).toBe(403);
    expect((await get(`${server.url}/view?filename=nope.png`)).status).toBe(404);
    expect((await get(`${server.url}/view`)).status).toBe(404);
    expect(
      (await fetch(`${server.url}/view?filename=example.png&type=input`, { method: "HEAD" }))
        .status,
    ).toBe(200);
    expect((await get(`${server.url}/view?filename=example.png [input]`)).status).toBe(200);
  });

  test("uploads: stored name, identical bytes deduplicated, clashes renamed, overwrite, subfolders", async () => {
    const upload = async (
      bytes: Buffer,
      name: string,
      fields: Record<string, string> = {},
      route = "image",
    ) => {
      const form = new FormData();
      form.append("image", new Blob([bytes]), name);
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      const res = await fetch(`${server.url}/upload/${route}`, { method: "POST", body: form });
      const body: any = res.status === 200 ? await res.json() : await res.text();
      return { status: res.status, body };
    };
    const a = Buffer.from(PNG.sync.write(Object.assign(new PNG({ width: 2, height: 2 }), {})));
    const b = readFileSync(join(server.folders.dir("input"), "example.png"));
    expect((await upload(a, "x.png")).body).toEqual({
      name: "x.png",
      subfolder: "",
      type: "input",
    });
    expect((await upload(a, "x.png")).body.name).toBe("x.png");
    expect((await upload(b, "x.png")).body.name).toBe("x (1).png");
    expect((await upload(b, "x.png", { overwrite: "true" })).body.name).toBe("x.png");
    expect((await upload(a, "y.png", { subfolder: "sub" })).body).toEqual({
      name: "y.png",
      subfolder: "sub",
      type: "input",
    });
    expect((await upload(a, "z.png", { subfolder: "../../etc" })).status).toBe(400);
    expect((await upload(a, "z.png", { type: "models" })).status).toBe(500);
    const info = (await get(`${server.url}/object_info/LoadImage`)).body;
    expect(info.LoadImage.input.required.image[0]).toEqual(
      expect.arrayContaining(["example.png", "x (1).png", "x.png"]),
    );
    // The full reply is serialized once per listing of the input folder: an upload shows up.
    const listed = async (): Promise<string[]> =>
      (await get(`${server.url}/object_info`)).body.LoadImage.input.required.image[0];
    const before = await listed();
    expect(before).toEqual(expect.arrayContaining(["example.png", "x (1).png", "x.png"]));
    expect(await listed()).toEqual(before);
    await upload(a, "fresh.png");
    expect(await listed()).toEqual([...before, "fresh.png"].sort());
    const masked = await upload(
      a,
      "mask.png",
      { original_ref: JSON.stringify({ filename: "example.png", subfolder: "", type: "input" }) },
      "mask",
    );
    expect(masked.status).toBe(200);
    const stored = PNG.sync.read(readFileSync(join(server.folders.dir("input"), masked.body.name)));
    expect(stored.width).toBe(512);
  });

  test("LoadImage: a missing file fails validation, a corrupt one fails at run time like PIL", async () => {
    const missing = await post(`${server.url}/prompt`, {
      prompt: {
        "1": { class_type: "LoadImage", inputs: { image: "nope.png" } },
        "2": previewNode("1"),
      },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.node_errors["1"].errors[0]).toEqual({
      type: "custom_validation_failed",
      message: "Custom validation failed for node",
      details: "image - Invalid image file: nope.png",
      extra_info: { input_name: "image" },
    });
    const form = new FormData();
    form.append("image", new Blob([Buffer.from("not an image")]), "bad.png");
    await fetch(`${server.url}/upload/image`, { method: "POST", body: form });
    const { ws } = await runToEnd({
      "1": { class_type: "LoadImage", inputs: { image: "bad.png" } },
      "2": previewNode("1"),
    });
    const err = ws.messages.find((m) => m.type === "execution_error")!;
    expect(err.data.exception_type).toBe("PIL.UnidentifiedImageError");
    expect(err.data.exception_message).toMatch(/^cannot identify image file '.*bad\.png'\n$/);
  });
});

describe("informational routes and /api twins", () => {
  test.each(["", "/api"])("%s routes", async (prefix) => {
    const base = `${server.url}${prefix}`;
    expect(Object.keys((await get(`${base}/object_info`)).body).length).toBe(
      server.schema.classes.size,
    );
    expect((await get(`${base}/object_info/NoSuchClass`)).body).toEqual({});
    const stats = (await get(`${base}/system_stats`)).body;
    expect(Object.keys(stats)).toEqual(["system", "devices"]);
    expect(stats.devices[0]).toMatchObject({ name: "cpu", type: "cpu", index: null });
    expect((await get(`${base}/features`)).body).toEqual({
      supports_preview_metadata: true,
      max_upload_size: 104857600,
    });
    expect((await get(`${base}/embeddings`)).body).toEqual([]);
    expect((await get(`${base}/models`)).body).toHaveLength(20);
    expect((await get(`${base}/models/checkpoints`)).body).toEqual([]);
    expect((await get(`${base}/models/clip`)).status).toBe(404);
    expect((await get(`${base}/extensions`)).body).toEqual([]);
    expect((await fetch(`${base}/free`, { method: "POST", body: "{}" })).status).toBe(200);
    expect((await fetch(`${base}/free`, { method: "POST", body: "nope" })).status).toBe(500);
  });

  test("a browser Origin different from a loopback Host gets 403", async () => {
    const res = await fetch(`${server.url}/system_stats`, {
      headers: { origin: "http://evil.example" },
    });
    expect(res.status).toBe(403);
  });
});

describe("scripted faults", () => {
  test("HTTP 503 for the next N requests, then normal service", async () => {
    server.script.failHttp({ status: 503, count: 2 });
    expect((await get(`${server.url}/system_stats`)).status).toBe(503);
    expect((await get(`${server.url}/system_stats`)).status).toBe(503);
    expect((await get(`${server.url}/system_stats`)).status).toBe(200);
  });

  test("HTTP faults at a seeded rate, only on matching paths; a reply lost after handling", async () => {
    const statusesWith = async (seed: number) => {
      server.script.failHttp({ status: 500, rate: 0.5, seed, path: /\/system_stats$/ });
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) statuses.push((await get(`${server.url}/system_stats`)).status);
      return statuses;
    };
    const first = await statusesWith(7);
    const failed = first.filter((s) => s === 500).length;
    // The same seed fails the same requests; another seed a different set, at the same rate.
    expect(await statusesWith(7)).toEqual(first);
    expect(await statusesWith(8)).not.toEqual(first);
    expect(failed).toBeGreaterThan(20);
    expect(failed).toBeLessThan(80);
    expect((await get(`${server.url}/queue`)).status).toBe(200);
    server.script.failHttp({ count: 0 });
    expect((await get(`${server.url}/system_stats`)).status).toBe(200);

    server.script.failHttp({ status: 502, afterHandling: true, path: /\/prompt$/ });
    const lost = await post(`${server.url}/prompt`, {
      prompt: { "1": image(3, 5), "2": previewNode("1") },
      prompt_id: "0b7f3c2e-1111-4222-8333-444455556666",
    });
    expect(lost.status).toBe(502);
    // The server did queue it: the reply was lost, not the prompt (it runs to its end).
    await server.finished("0b7f3c2e-1111-4222-8333-444455556666");
    expect(server.executed).toContain("0b7f3c2e-1111-4222-8333-444455556666");
  });

  test("added latency delays every reply", async () => {
    server.script.latency(150);
    try {
      const t = performance.now();
      expect((await get(`${server.url}/queue`)).status).toBe(200);
      expect(performance.now() - t).toBeGreaterThanOrEqual(140);
    } finally {
      server.script.latency(0);
    }
  });

  test("restart loses queue, history and the counter; the port refuses connections meanwhile", async () => {
    const { id } = await runToEnd({ "1": image(2, 2), "2": previewNode("1") });
    let refused: unknown;
    await server.script.restart({
      downtimeMs: 0,
      whileDown: async () => {
        refused = await fetch(`${server.url}/history`).then(
          () => undefined,
          (e: unknown) => e,
        );
      },
    });
    expect(refused).toBeInstanceOf(Error);
    expect((await get(`${server.url}/history/${id}`)).body).toEqual({});
    expect(
      (await post(`${server.url}/prompt`, { prompt: { "1": image(2, 2), "2": previewNode("1") } }))
        .body.number,
    ).toBe(0);
  });

  test("freeze holds replies, socket frames and nodes until thaw; stop refuses connections for good", async () => {
    const frozen = await startTestServer();
    try {
      const ws = await rawSocket(frozen.url, "frozen");
      frozen.script.node("ImageInvert", { durationMs: 100 });
      const id = randomUUID();
      await post(`${frozen.url}/prompt`, {
        prompt: {
          "1": image(3, 3),
          "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
          "3": previewNode("2"),
        },
        client_id: "frozen",
        prompt_id: id,
      });
      await ws.waitFor((m) => m.type === "executing" && m.data.node === "2");
      frozen.script.freeze();
      let answered = false;
      const reply = get(`${frozen.url}/queue`).then((r) => ((answered = true), r));
      while (!frozen.requests.includes("GET /queue")) await new Promise((r) => setImmediate(r));
      const framesWhenFrozen = ws.messages.length;
      // Received but held: no reply, no frame, and the node cannot finish while frozen.
      expect(answered).toBe(false);
      expect(frozen.executed).not.toContain(id);
      frozen.script.thaw();
      expect((await reply).status).toBe(200);
      await ws.waitFor((m) => m.type === "execution_success" && m.data.prompt_id === id);
      expect(ws.messages.length).toBeGreaterThan(framesWhenFrozen);
      expect(frozen.executed).toContain(id);

      await frozen.script.stop();
      // A new connection is refused (pooled ones were cut).
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(frozen.port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve("connected")));
        socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
      expect(refused).toBe("ECONNREFUSED");
    } finally {
      await frozen.close();
    }
  });

  test("dropping WebSockets after N messages", async () => {
    const ws = await rawSocket(server.url, "dropme");
    await ws.waitFor((m) => m.type === "status");
    server.script.dropWebSockets({ afterMessages: 2 });
    await post(`${server.url}/prompt`, {
      prompt: { "1": image(2, 2), "2": previewNode("1") },
      client_id: "dropme",
    });
    // Dropped after the connect status and two more messages.
    await ws.closed;
    expect(ws.messages.length).toBe(3);
  });

  test("auth: 401 without credentials on HTTP and on the WebSocket upgrade", async () => {
    const secured = await startTestServer({
      auth: { bearer: "s3cret", apiKey: "k", basic: { username: "u", password: "p" } },
    });
    try {
      expect((await get(`${secured.url}/system_stats`)).status).toBe(401);
      expect(
        (
          await fetch(`${secured.url}/system_stats`, {
            headers: { authorization: "Bearer s3cret" },
          })
        ).status,
      ).toBe(200);
      expect(
        (await fetch(`${secured.url}/system_stats`, { headers: { "x-api-key": "k" } })).status,
      ).toBe(200);
      expect(
        (
          await fetch(`${secured.url}/system_stats`, {
            headers: { authorization: `Basic ${Buffer.from("u:p").toString("base64")}` },
          })
        ).status,
      ).toBe(200);
      await expect(rawSocket(secured.url, "x")).rejects.toThrow(/401/);
      const ws = await rawSocket(secured.url, "x", { authorization: "Bearer s3cret" });
      ws.close();
    } finally {
      await secured.close();
    }
  });
});

describe("3D outputs", () => {
  test('SaveGLB writes <prefix>_00001_.glb and shows {"3d": [...]}; /view serves a glTF file', async () => {
    const { id } = await runToEnd({
      "1": { class_type: "EmptyLatentHunyuan3Dv2", inputs: { resolution: 64, batch_size: 1 } },
      "2": { class_type: "VAELoader", inputs: { vae_name: "pixel_space" } },
      "3": {
        class_type: "VAEDecodeHunyuan3D",
        inputs: { samples: ["1", 0], vae: ["2", 0], num_chunks: 8000, octree_resolution: 16 },
      },
      "4": { class_type: "VoxelToMeshBasic", inputs: { voxel: ["3", 0], threshold: 0.6 } },
      "5": { class_type: "SaveGLB", inputs: { mesh: ["4", 0], filename_prefix: "mesh/glb" } },
    });
    const entry = (await get(`${server.url}/history/${id}`)).body[id];
    const item = { filename: "glb_00001_.glb", subfolder: "mesh", type: "output" };
    expect(entry.outputs["5"]).toEqual({ "3d": [item] });
    const file = await fetch(`${server.url}/view?${new URLSearchParams(item)}`);
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.subarray(0, 4).toString("latin1")).toBe("glTF");
    expect(bytes.readUInt32LE(8)).toBe(bytes.length);
  });

  test("Preview3D shows [model_file, camera_info], and a third item (bg_image) from 0.4.0", async () => {
    const old = await startTestServer({ comfyuiVersion: "0.3.64" });
    try {
      const prompt = { "1": { class_type: "Preview3D", inputs: { model_file: "sub/a.glb" } } };
      const shown = async (url: string) => {
        const ws = await rawSocket(url, "p3d");
        const res = await post(`${url}/prompt`, { prompt, client_id: "p3d" });
        const done = await ws.waitFor((m) => m.type === "executed" && m.data.node === "1");
        ws.close();
        expect(res.status).toBe(200);
        return done.data.output;
      };
      expect(await shown(old.url)).toEqual({ result: ["sub/a.glb", null] });
      expect(await shown(server.url)).toEqual({ result: ["sub/a.glb", null, null] });
    } finally {
      await old.close();
    }
  });
});
