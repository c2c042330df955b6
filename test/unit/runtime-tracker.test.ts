import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  ComfyClient,
  ExecutionFailedError,
  InterruptedError,
  type Job,
  type JobEvent,
  type JobLogLine,
} from "comfyc/runtime";
import { parseWsMessage } from "../../src/protocol/messages.js";
import { PromptAcceptedBodySchema, PromptErrorBodySchema } from "../../src/protocol/prompt.js";
import { startScriptedServer, type ScriptedServer } from "../scripted-server.js";

const ID = "3c2f0000-0000-4000-8000-000000000000";

let server: ScriptedServer;
let client: ComfyClient | undefined;
beforeAll(async () => {
  server = await startScriptedServer();
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  server.history.clear();
  server.running.clear();
});
afterAll(async () => {
  await server.close();
});

/**
 * A job followed by the real client (socket, parser, tracker) on a scripted server: queued,
 * with its socket open since before the POST, so `feed` frames are the whole story.
 */
async function makeJob(expected?: string[]) {
  const logs: JobLogLine[] = [];
  client = new ComfyClient({
    url: server.url,
    retry: { retries: 0 },
    pollIntervalMs: 50,
    silenceMs: 60_000,
    onLog: (l) => logs.push(l),
  });
  const job = client.submit(
    { "9": { class_type: "SaveImage", inputs: {} } },
    { promptId: ID, ...(expected ? { expectedOutputs: expected } : {}) },
  );
  const events: JobEvent[] = [];
  job.on("event", (e) => events.push(e));
  await new Promise((r) => job.on("queued", r));
  return { job, events, logs };
}

/** Sends raw text frames, as a server writes them, down the job's socket. */
function feed(_job: Job, frames: object[]) {
  server.send(...frames);
}

/** `executing: null`: the run is over and its history entry written; the client reads it. */
const DONE = { type: "executing", data: { node: null, prompt_id: ID } };

const file = (filename: string) => ({ filename, subfolder: "", type: "output" });

describe("the tracker, fed the real message sequences of protocol §3", () => {
  test("a fresh run resolves on execution_success with every expected output", async () => {
    const { job, events } = await makeJob(["9"]);
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      { type: "execution_cached", data: { nodes: [], prompt_id: ID, timestamp: 2 } },
      { type: "executing", data: { node: "8", display_node: "8", prompt_id: ID } },
      {
        type: "progress_state",
        data: { prompt_id: ID, nodes: { "8": { value: 0, max: 1, state: "running" } } },
      },
      { type: "progress", data: { value: 3, max: 20, prompt_id: ID, node: "8" } },
      { type: "executing", data: { node: "9", display_node: "9", prompt_id: ID } },
      {
        type: "executed",
        data: { node: "9", display_node: "9", output: { images: [file("a.png")] }, prompt_id: ID },
      },
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    expect(result.files.map((f) => [f.node, f.filename, f.kind])).toEqual([
      ["9", "a.png", "image"],
    ]);
    expect(events.map((e) => e.type)).toEqual([
      "queued",
      "started",
      "cached",
      "executing",
      "progress",
      "executing",
      "executed",
      "success",
    ]);
  });

  test("a blocked branch (ExecutionBlocked) is an event, not a failure", async () => {
    const { job, events } = await makeJob(["9"]);
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      {
        type: "execution_error",
        data: {
          prompt_id: ID,
          node_id: "5",
          node_type: "SomeGate",
          executed: [],
          exception_message: "Execution Blocked: no face found",
          exception_type: "ExecutionBlocked",
          traceback: [],
          current_inputs: [],
          current_outputs: [],
        },
      },
      { type: "executed", data: { node: "9", output: { text: ["ok"] }, prompt_id: ID } },
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    expect(result.texts).toEqual({ "9": ["ok"] });
    expect(events.find((e) => e.type === "blocked")).toEqual({
      type: "blocked",
      node: "5",
      message: "Execution Blocked: no face found",
    });
  });

  test("execution_error fails with node, class, exception and traceback", async () => {
    const { job, logs } = await makeJob();
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      {
        type: "execution_error",
        data: {
          prompt_id: ID,
          node_id: "3",
          node_type: "KSampler",
          executed: ["4", "5"],
          exception_message: "Allocation on device\nThis error means you ran out of memory.\n",
          exception_type: "torch.OutOfMemoryError",
          traceback: ["  File x", "  File y"],
          current_inputs: { seed: [42] },
          current_outputs: ["3", "4", "5"],
          timestamp: 3,
        },
      },
    ]);
    const error = (await job.result().catch((e: unknown) => e)) as ExecutionFailedError;
    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect([error.nodeId, error.nodeType, error.exceptionType]).toEqual([
      "3",
      "KSampler",
      "torch.OutOfMemoryError",
    ]);
    expect(error.traceback).toHaveLength(2);
    expect(error.message).toMatch(/OutOfMemoryError: Allocation on device\nThis error/);
    expect(error.hint).toMatch(/batch size/);
    expect(logs.at(-1)).toMatchObject({ phase: "failed", code: "EXECUTION_FAILED" });
  });

  test("execution_interrupted is InterruptedError naming the node", async () => {
    const { job } = await makeJob();
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      {
        type: "execution_interrupted",
        data: {
          prompt_id: ID,
          node_id: "7",
          node_type: "VAEDecode",
          executed: ["3"],
          timestamp: 2,
        },
      },
    ]);
    const error = (await job.result().catch((e: unknown) => e)) as InterruptedError;
    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.nodeId).toBe("7");
    expect(job.status).toBe("interrupted");
  });

  test("a fully cached rerun: executed re-sends old outputs, null for nodes without UI", async () => {
    const { job } = await makeJob(["9", "10"]);
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      { type: "execution_cached", data: { nodes: ["8", "9", "10"], prompt_id: ID, timestamp: 2 } },
      {
        type: "executed",
        data: {
          node: "9",
          display_node: "9",
          output: { images: [file("old.png")] },
          prompt_id: ID,
        },
      },
      { type: "executed", data: { node: "10", display_node: "10", output: null, prompt_id: ID } },
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    expect(result.cachedNodes).toEqual(["8", "9", "10"]);
    expect(Object.keys(result.outputs)).toEqual(["9"]);
    expect(result.files[0]!.filename).toBe("old.png");
  });

  test("a node that runs several times (expansion, loops) accumulates its files by display node", async () => {
    const { job } = await makeJob(["12"]);
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      {
        type: "executed",
        data: {
          node: "12.0.0.1",
          display_node: "12",
          output: { images: [file("a.png")] },
          prompt_id: ID,
        },
      },
      {
        type: "executed",
        data: {
          node: "12.0.0.2",
          display_node: "12",
          output: { images: [file("b.png")] },
          prompt_id: ID,
        },
      },
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    expect(result.filesOf("12").map((f) => f.filename)).toEqual(["a.png", "b.png"]);
  });

  test("a UI output re-sent at the end of the run is not listed twice", async () => {
    const { job } = await makeJob(["7"]);
    const executed = {
      type: "executed",
      data: {
        node: "7",
        display_node: "7",
        output: { images: [file("x.png")], text: ["hi"] },
        prompt_id: ID,
      },
    };
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      executed,
      executed,
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    expect(result.filesOf("7").map((f) => f.filename)).toEqual(["x.png"]);
    expect(result.texts["7"]).toEqual(["hi", "hi"]);
  });

  test("a typed read checks the UI output's shape; an id reads it as sent", async () => {
    const { job } = await makeJob(["9"]);
    feed(job, [
      { type: "execution_start", data: { prompt_id: ID, timestamp: 1 } },
      { type: "executed", data: { node: "9", output: { images: "oops" }, prompt_id: ID } },
      { type: "execution_success", data: { prompt_id: ID, timestamp: 3 } },
    ]);
    const result = await job.result();
    const handle = { nodeId: "9", classType: "SaveImage" };
    expect(() => result.output(handle)).toThrow(/UiImages/);
    try {
      result.output(handle);
    } catch (e) {
      expect((e as { code: string }).code).toBe("BAD_SERVER_REPLY");
    }
    expect(result.output("9")).toEqual({ images: ["oops"] });
  });

  test("another prompt's messages, unknown types and malformed frames are ignored", () => {
    expect(parseWsMessage('{"type":"crystools.monitor","data":{"cpu":3}}')).toBeUndefined();
    expect(parseWsMessage("not json")).toBeUndefined();
    expect(parseWsMessage('{"type":"executed","data":{"node":5}}')).toBeUndefined();
    expect(
      parseWsMessage('{"type":"progress_state","data":{}}', new Set(["executing"])),
    ).toBeUndefined();
    // The reconnect-time `executing` has no prompt_id (§3.1).
    expect(parseWsMessage('{"type":"executing","data":{"node":"4"}}')).toEqual({
      type: "executing",
      data: { node: "4" },
    });
  });
});

describe("history and /prompt replies from real servers", () => {
  test("an error entry finishes the job with ExecutionFailedError even with an odd message in it", async () => {
    const { job } = await makeJob();
    server.history.set(ID, {
      prompt: [0, ID, {}, {}, ["9"]],
      outputs: {},
      status: {
        status_str: "error",
        completed: false,
        messages: [
          ["execution_start", { prompt_id: ID, timestamp: 1 }],
          ["custom_event", null],
          "garbage",
          [
            "execution_error",
            {
              prompt_id: ID,
              node_id: "3",
              node_type: "KSampler",
              exception_type: "RuntimeError",
              exception_message: "x\n",
              traceback: [],
            },
          ],
        ],
      },
      meta: {},
    });
    server.send(DONE);
    const error = (await job.result().catch((e: unknown) => e)) as ExecutionFailedError;
    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect(error.nodeType).toBe("KSampler");
  });

  test("outputs keep custom nodes' keys, and a bare value is kept as a one-item list", async () => {
    const { job } = await makeJob();
    server.history.set(ID, {
      prompt: [],
      outputs: {
        "4": {
          gifs: [
            {
              filename: "v_00001.mp4",
              subfolder: "",
              type: "output",
              format: "video/h264-mp4",
              frame_rate: 8,
            },
          ],
        },
        "5": { value: "hello" },
      },
      status: { status_str: "success", completed: true, messages: [] },
      meta: {},
    });
    server.send(DONE);
    const result = await job.result();
    expect(result.output("5")).toEqual({ value: ["hello"] });
    expect(result.files).toEqual([
      expect.objectContaining({ node: "4", key: "gifs", kind: "video", filename: "v_00001.mp4" }),
    ]);
  });

  test("the /prompt bodies of every version parse, including node_errors: [] on no_prompt", () => {
    expect(
      PromptErrorBodySchema.parse({
        error: {
          type: "no_prompt",
          message: "No prompt provided",
          details: "No prompt provided",
          extra_info: {},
        },
        node_errors: [],
      }).node_errors,
    ).toEqual({});
    const accepted = PromptAcceptedBodySchema.parse({
      prompt_id: ID,
      number: 3.5,
      node_errors: {
        "3": {
          errors: [
            {
              type: "value_not_in_list",
              message: "Value not in list",
              details: "ckpt",
              extra_info: {},
            },
          ],
          dependent_outputs: ["9"],
          class_type: "CheckpointLoaderSimple",
        },
      },
    });
    expect(Object.keys(accepted.node_errors)).toEqual(["3"]);
  });
});
