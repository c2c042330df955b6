import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ComfyClient, JobTimeoutError, ServerGoneError } from "comfyc/runtime";
import { tempDir } from "../helpers.js";
import {
  blurChain,
  HAS_REAL_COMFYUI,
  startRealComfyui,
  type RealComfyui,
} from "../real-comfyui.js";
import { errorOf, spawnCli, started, until } from "../waits.js";

/**
 * The runtime and `comfyc run` against a real ComfyUI 0.3.64 (`../shared/comfyui-real`, CPU,
 * model-free nodes): the faults the test server imitates, done to the real process (`kill -9`,
 * `kill -STOP`), and the CLI as a real process (signals, exit codes). One server for the whole
 * file, in order; the last test kills it.
 */

/** A {@link blurChain} as a prompt file for `comfyc run`. */
function blurFile(size: number, blurs: number, prefix: string): string {
  const file = join(tempDir(), `${prefix.replace(/\W/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(blurChain(size, blurs, prefix)));
  return file;
}

/** Starting a real server takes ~3 s on an idle machine, much more on a loaded one. */
const START = 300_000;

/** Each test waits on events; this only bounds a hang (child processes start slowly under load). */
const TEST = { timeout: 240_000 };

describe.runIf(HAS_REAL_COMFYUI)("a real ComfyUI 0.3.64", TEST, () => {
  let comfy: RealComfyui;
  let client: ComfyClient;
  beforeAll(async () => {
    comfy = await startRealComfyui("0.3.64");
    client = new ComfyClient({ url: comfy.url, pollIntervalMs: 200 });
  }, START);
  afterAll(async () => {
    await client?.close();
    await comfy?.stop();
  });

  /**
   * The message types of a prompt's history entry, once the server has written it: the
   * client's tracker follows the prompt (socket events, polls) until it ends, and gives up on
   * our clock after 120 s (a bound on a hang: the prompts here are interrupted within seconds).
   */
  async function historyMessages(promptId: string): Promise<string[]> {
    const ended = await errorOf(
      client.attach(promptId, { timeouts: { queueMs: 120_000, runMs: 120_000 } }).result(),
    );
    if (ended instanceof JobTimeoutError) throw ended;
    // ComfyUI writes the entry after the message that ended the job (execution_interrupted),
    // when its executor returns: moments later, longer on a loaded machine.
    let entry: Awaited<ReturnType<ComfyClient["history"]>>;
    await until(async () => (entry = await client.history(promptId)) !== undefined, 30_000, 50);
    return (entry!.status?.messages ?? []).map(([type]) => type);
  }

  /** The prompt id `comfyc run` printed ("queued as <id>"). */
  const promptIdIn = (stderr: string) => /queued as ([0-9a-f-]{36})/.exec(stderr)?.[1] ?? "";

  test("runs a prompt end to end: socket events, the saved PNG, a 64-bit seed digit for digit", async () => {
    const job = client.submit({
      "1": { class_type: "EmptyImage", inputs: { width: 24, height: 16, batch_size: 1, color: 0 } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": {
        class_type: "SaveImage",
        inputs: { images: ["2", 0], filename_prefix: "comfyc-real/e2e" },
      },
      "4": { class_type: "RandomNoise", inputs: { noise_seed: 2n ** 64n - 1n } },
    });
    const nodes: string[] = [];
    job.on("executing", (e) => nodes.push(e.node));
    const result = await job.result();
    expect(nodes).toEqual(["1", "2", "3"]);
    const [path] = await client.saveOutputs(result, tempDir());
    const png = PNG.sync.read(readFileSync(path!));
    expect([png.width, png.height]).toEqual([24, 16]);
    // Node 4 feeds no output, but the server stores the prompt as sent: exactly.
    const raw = await (await fetch(`${comfy.url}/history/${job.promptId}`)).text();
    expect(raw).toContain('"noise_seed": 18446744073709551615');
  });

  test("stallMs: a node silent longer than the limit fails the job and interrupts it on the server", async () => {
    // A 256 px blur reports nothing for seconds; 300 ms of silence is a stall.
    const job = client.submit(blurChain(256, 3, "comfyc-real/stall"), {
      timeouts: { stallMs: 300 },
    });
    const error = await errorOf(job.result());
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect((error as JobTimeoutError).phase).toBe("stall");
    expect(await job.cancelOutcome).toEqual({ state: "interrupted" });
    // It does not go on to succeed: ComfyUI stops before the next node.
    const messages = await historyMessages(job.promptId);
    expect(messages).toContain("execution_interrupted");
    expect(messages).not.toContain("execution_success");
  });

  test("comfyc run --timeout: the prompt is interrupted on the server before the process exits 7", async () => {
    const run = spawnCli(
      "run",
      blurFile(128, 20, "comfyc-real/timeout"),
      "--server",
      comfy.url,
      "--out",
      tempDir(),
      "--timeout",
      "2000",
    );
    expect(await run.exit).toBe(7);
    expect(run.stderr()).toMatch(/TIMEOUT/);
    expect(run.stderr()).toContain(`The job was interrupted on ${comfy.url}`);
    const messages = await historyMessages(promptIdIn(run.stderr()));
    expect(messages).toContain("execution_interrupted");
    expect(messages).not.toContain("execution_success");
  });

  test("SIGTERM: comfyc run interrupts the prompt on the server and exits 5", async () => {
    const run = spawnCli(
      "run",
      blurFile(128, 20, "comfyc-real/sigterm"),
      "--server",
      comfy.url,
      "--out",
      tempDir(),
    );
    await run.waitFor(/node ImageBlur #\d+/);
    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(5);
    expect(run.stderr()).toMatch(/Cancelling the job on the server \(SIGTERM again/);
    expect(run.stderr()).toContain(`The job was interrupted on ${comfy.url}`);
    const messages = await historyMessages(promptIdIn(run.stderr()));
    expect(messages).toContain("execution_interrupted");
  });

  test("kill -STOP: the run timeout fires on our clock, the cancel is reported undelivered; after SIGCONT it works again", async () => {
    const frozenClient = new ComfyClient({
      url: comfy.url,
      pollIntervalMs: 200,
      cancelTimeoutMs: 1000,
    });
    try {
      const job = frozenClient.submit(blurChain(128, 20, "comfyc-real/frozen"), {
        timeouts: { runMs: 1500 },
      });
      await started(job);
      comfy.signal("SIGSTOP");
      try {
        // All of this happens while the server cannot answer at all.
        const error = await errorOf(job.result());
        expect(error).toBeInstanceOf(JobTimeoutError);
        expect((error as JobTimeoutError).phase).toBe("run");
        expect((await job.cancelOutcome!).state).toBe("undelivered");
      } finally {
        comfy.signal("SIGCONT");
      }
      // The prompt ran on after the thaw (the cancel never arrived): stop it for the next test,
      // and wait until it has ended there (an interrupt lands at the next node boundary), or the
      // next test's prompt waits behind it and its --timeout counts that wait.
      await frozenClient.interrupt();
      await frozenClient.clearQueue();
      await historyMessages(job.promptId!);
      expect((await frozenClient.systemStats()).system.comfyui_version).toBe("0.3.64");
    } finally {
      await frozenClient.close();
    }
  });

  test("kill -STOP: comfyc run --timeout exits 7 while the server is still frozen, saying the cancel was not delivered", async () => {
    const run = spawnCli(
      "run",
      blurFile(128, 20, "comfyc-real/frozen-cli"),
      "--server",
      comfy.url,
      "--out",
      tempDir(),
      "--timeout",
      "3000",
    );
    await run.waitFor(/node ImageBlur #\d+/);
    comfy.signal("SIGSTOP");
    try {
      // The server stays frozen until the process has exited: the clock is ours.
      expect(await run.exit).toBe(7);
      expect(run.stderr()).toMatch(/TIMEOUT/);
      expect(run.stderr()).toMatch(/Could not cancel the job on .*It may still run there/);
    } finally {
      comfy.signal("SIGCONT");
    }
    await client.interrupt();
    await client.clearQueue();
  });

  test("kill -9 mid-job, never restarted: a client job and comfyc run both end with SERVER_GONE", async () => {
    const gone = new ComfyClient({
      url: comfy.url,
      pollIntervalMs: 200,
      unreachableTimeoutMs: 3000,
    });
    try {
      const job = gone.submit(blurChain(128, 20, "comfyc-real/killed"));
      await started(job);
      // The CLI's prompt waits in the queue behind it.
      const run = spawnCli(
        "run",
        blurFile(128, 20, "comfyc-real/killed-cli"),
        "--server",
        comfy.url,
        "--out",
        tempDir(),
        "--unreachable-timeout",
        "3000",
      );
      await run.waitFor(/queued as/);
      expect(job.status).toBe("running");
      comfy.signal("SIGKILL");
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(ServerGoneError);
      expect(error).toMatchObject({ code: "SERVER_GONE", promptId: job.promptId });
      expect(await run.exit).toBe(8);
      expect(run.stderr()).toMatch(/SERVER_GONE/);
      expect(run.stderr()).toContain("--unreachable-timeout");
    } finally {
      await gone.close();
    }
  });
});
