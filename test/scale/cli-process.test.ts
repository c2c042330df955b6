/**
 * `comfyc worker`, `comfyc enqueue` and `comfyc jobs` as the real processes a shell starts,
 * against a real Redis and test servers: ids, records, exit codes, and SIGTERM's hand-back.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { JobRecord } from "../../src/scale/record.js";
import type { TestServer } from "../../src/testing/app.js";
import { encodePng } from "../../src/testing/images.js";
import { cliProcess as runCliProcess } from "../helpers-cli.js";

/** The CLI as a real process, its arguments spread. */
const cliProcess = (...args: string[]) => runCliProcess(args);
import { ROOT, tempDir } from "../helpers.js";
import { Cluster, imageGraph } from "./cluster.js";

const example = (name: string) => join(ROOT, "examples", name);

// Each CLI process starts through tsx: slow on a loaded machine, so the limits are generous.
describe("comfyc worker, enqueue and jobs as processes", { timeout: 240_000 }, () => {
  let c: Cluster;
  let a: TestServer;
  beforeAll(async () => {
    c = await Cluster.start();
    a = await c.addServer();
  });
  afterAll(async () => c?.close());

  test("enqueue prints the id at once; a worker process runs it; jobs lists and shows the record", async () => {
    const worker = await c.spawnWorker(a);
    const queued = await cliProcess(
      "enqueue",
      example("sd15-txt2img.ts"),
      "--redis",
      c.redis.url,
      "--param",
      "prompt=a red fox",
      "--param",
      "seed=7",
    );
    expect(queued.code, queued.stderr).toBe(0);
    const id = queued.stdout.trim();
    expect(id).toMatch(/^\S+$/);
    const waited = await cliProcess(
      "enqueue",
      example("hires-fix.ts"),
      "--redis",
      c.redis.url,
      "--wait",
      "--json",
    );
    expect(waited.code, waited.stderr).toBe(0);
    const record = JSON.parse(waited.stdout) as JobRecord;
    expect(record.state).toBe("succeeded");
    expect(record.instance).toBe(a.url);
    expect(record.outputs!.length).toBeGreaterThan(0);
    for (const o of record.outputs!) {
      expect(o.key.startsWith(`${record.id}/`)).toBe(true);
      expect((await c.stored(o.key)).length).toBe(o.size);
    }
    const first = await c.queue.waitFor(id);
    expect(first.state).toBe("succeeded");

    const listed = await cliProcess("jobs", "--redis", c.redis.url, "--json");
    expect(listed.code, listed.stderr).toBe(0);
    const ids = listed.stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as JobRecord).id);
    expect(ids).toEqual(expect.arrayContaining([id, record.id]));
    const shown = await cliProcess("jobs", id, "--redis", c.redis.url);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(id);
    expect(shown.stdout).toContain("succeeded");
    expect(shown.stdout).toContain(`output ${first.outputs![0]!.key}`);
    worker.kill("SIGTERM");
    expect(await new Promise((r) => worker.once("exit", r))).toBe(0);
  });

  test("enqueue --storage carries a local image to the worker's instance; without it, USAGE names --storage", async () => {
    const image = join(tempDir(), "photo.png");
    await writeFile(image, encodePng(2, 2, Buffer.alloc(16, 200)));
    const worker = await c.spawnWorker(a);
    const refused = await cliProcess(
      "enqueue",
      example("img2img.ts"),
      "--redis",
      c.redis.url,
      "--param",
      `image=${image}`,
    );
    expect(refused.code).toBe(EXIT_CODES.USAGE);
    expect(refused.stderr).toContain("--storage");
    const before = a.requests.filter((r) => r.endsWith("/upload/image")).length;
    const waited = await cliProcess(
      "enqueue",
      example("img2img.ts"),
      "--redis",
      c.redis.url,
      "--param",
      `image=${image}`,
      "--storage",
      c.storageDir,
      "--wait",
      "--json",
    );
    expect(waited.code, waited.stderr).toBe(0);
    const record = JSON.parse(waited.stdout) as JobRecord;
    expect(record.state).toBe("succeeded");
    expect(a.requests.filter((r) => r.endsWith("/upload/image")).length).toBe(before + 1);
    worker.kill("SIGTERM");
    expect(await new Promise((r) => worker.once("exit", r))).toBe(0);
  });

  test("enqueue judges an incomplete API prompt as validate and run do: {} and a node without class_type exit 1 at once, queueing nothing; a node without inputs is queued and the instance rejects it (--wait: exit 1)", async () => {
    const dir = tempDir();
    const file = async (name: string, prompt: unknown) => {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(prompt));
      return path;
    };
    const worker = await c.addWorker(a);
    try {
      const before = (await c.queue.listJobs()).length;
      for (const prompt of [{}, { prompt: {}, client_id: "x" }]) {
        const empty = await cliProcess(
          "enqueue",
          await file("empty.json", prompt),
          "--redis",
          c.redis.url,
        );
        expect(empty.code, empty.stderr).toBe(EXIT_CODES.PROMPT_INVALID);
        expect(empty.stderr).toMatch(/^error \[PROMPT_INVALID\]/);
        expect(empty.stderr).toMatch(/Prompt has no outputs\n\s+→ Add an output node/);
        expect(empty.stderr).not.toContain("not a ComfyUI workflow");
      }
      const noClass = await cliProcess(
        "enqueue",
        await file("no-class.json", { "1": { inputs: {} } }),
        "--redis",
        c.redis.url,
      );
      expect(noClass.code, noClass.stderr).toBe(EXIT_CODES.PROMPT_INVALID);
      expect(noClass.stderr).toContain('Node "1" of the prompt has no class_type');
      expect((await c.queue.listJobs()).length).toBe(before);

      const noInputs = await cliProcess(
        "enqueue",
        await file("no-inputs.json", { "2": { class_type: "SaveImage" } }),
        "--redis",
        c.redis.url,
        "--wait",
        "--json",
      );
      expect(noInputs.code, noInputs.stderr).toBe(EXIT_CODES.PROMPT_REJECTED);
      const record = JSON.parse(noInputs.stdout) as JobRecord;
      expect(record).toMatchObject({
        state: "failed",
        attempts: 1,
        error: { code: "PROMPT_REJECTED" },
      });
      expect(JSON.stringify(record.error?.details)).toContain("exception_during_validation");
    } finally {
      await worker.close({ graceMs: 0 });
    }
  });

  test("enqueue of a saved POST /prompt body runs only the outputs its partial_execution_targets names, through the queue; a value the server cannot iterate exits 3, queueing nothing", async () => {
    const file = join(tempDir(), "body.json");
    const prompt = {
      "1": { class_type: "EmptyImage", inputs: { width: 12, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "scale/pt" } },
      // An output the instance rejects (its input names no node): the body leaves it out.
      "4": { class_type: "SaveImage", inputs: { images: ["9", 0], filename_prefix: "scale/x" } },
    };
    const worker = await c.addWorker(a);
    try {
      await writeFile(file, JSON.stringify({ prompt, partial_execution_targets: ["3"] }));
      const ran = await cliProcess("enqueue", file, "--redis", c.redis.url, "--wait", "--json");
      expect(ran.code, ran.stderr).toBe(0);
      const record = JSON.parse(ran.stdout) as JobRecord;
      expect(record.state).toBe("succeeded");
      expect(record.outputs!.map((o) => o.node)).toEqual(["3"]);

      const before = (await c.queue.listJobs()).length;
      await writeFile(file, JSON.stringify({ prompt, partial_execution_targets: 5 }));
      const refused = await cliProcess("enqueue", file, "--redis", c.redis.url);
      expect([refused.code, refused.stderr]).toEqual([
        EXIT_CODES.WORKFLOW_INVALID,
        expect.stringContaining("partial_execution_targets is 5"),
      ]);
      expect((await c.queue.listJobs()).length).toBe(before);
    } finally {
      await worker.close({ graceMs: 0 });
    }
  });

  test("jobs cancel takes a queued job off the queue; bad flags and unknown ids exit with their codes", async () => {
    // A worker registers the instance's lane and stops: the job waits there.
    await (await c.addWorker(a)).close({ graceMs: 0 });
    const queued = await cliProcess(
      "enqueue",
      example("sd15-txt2img.ts"),
      "--redis",
      c.redis.url,
      "--priority",
      "3",
    );
    expect(queued.code, queued.stderr).toBe(0);
    const id = queued.stdout.trim();
    const cancelled = await cliProcess("jobs", "cancel", id, "--redis", c.redis.url);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout.trim()).toBe(`${id}: cancelled`);
    expect((await c.queue.getJob(id))?.state).toBe("cancelled");

    const badFlag = await cliProcess("enqueue", example("sd15-txt2img.ts"), "--priority", "soon");
    expect(badFlag.code).toBe(EXIT_CODES.USAGE);
    expect(badFlag.stderr).toContain("--priority");
    const unknown = await cliProcess("jobs", "no-such-job", "--redis", c.redis.url);
    expect(unknown.code).toBe(EXIT_CODES.NOT_FOUND);
    expect(unknown.stderr).toContain("no-such-job");
    // Nothing listens on port 1: ioredis gives up after its retries, a typed error follows.
    const down = await cliProcess("jobs", "--redis", "redis://127.0.0.1:1");
    expect(down.code).toBe(EXIT_CODES.SERVER_UNREACHABLE);
    expect(down.stderr).toContain("redis://127.0.0.1:1");
    const noLane = await cliProcess(
      "enqueue",
      example("sd15-txt2img.ts"),
      "--redis",
      c.redis.url,
      "--param",
      "checkpoint=v1-5-pruned-emaonly.safetensors",
      "--queue",
      "nobody",
    );
    expect(noLane.code).toBe(EXIT_CODES.NO_CAPABLE_SERVER);
    expect(noLane.stderr).toContain("NO_CAPABLE_SERVER");
  });

  test("SIGTERM hands the running job back: the worker exits 0, the next worker follows the run, it runs once", async () => {
    a.script.node("ImageInvert", { durationMs: 3000 });
    try {
      const worker = await c.spawnWorker(a, "--grace", "100");
      const { id } = await c.queue.enqueue(imageGraph(44, "scale/handback"));
      // Once ComfyUI runs the prompt (the worker's "running" line). The server is frozen from
      // then until the job is handed back, so the run cannot end within the 100 ms grace.
      const runningLine = await c.phase(worker, "running", id);
      a.script.freeze();
      const running = (await c.queue.getJob(id))!;
      expect(running.state).toBe("running");
      expect(running.promptId).toBe(runningLine.promptId);
      const exited = new Promise((r) => worker.once("exit", r));
      worker.kill("SIGTERM");
      try {
        expect((await c.phase(worker, "handed_back", id)).promptId).toBe(running.promptId);
      } finally {
        a.script.thaw();
      }
      expect(await exited).toBe(0);
      // Handed back at once (not after a lock expiry): queued again, with its run recorded.
      const back = await c.queue.getJob(id);
      expect(back?.state).toBe("queued");
      expect(back?.promptId).toBe(running.promptId);
      await c.addWorker(a);
      const record = await c.queue.waitFor(id);
      expect(record.state).toBe("succeeded");
      expect(record.promptId).toBe(running.promptId);
      expect(record.recovered).toBe(true);
      expect(c.executions().get(running.promptId!)).toBe(1);
      expect((await c.stored(record.outputs![0]!.key)).length).toBe(record.outputs![0]!.size);
    } finally {
      a.script.clearNodes();
    }
  });
});
