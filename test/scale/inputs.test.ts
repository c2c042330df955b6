import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import S3rver from "@20minutes/s3rver";
import { afterEach, describe, expect, test } from "vitest";
import { fileBytes, localFile, workflow } from "../../src/builder/workflow.js";
import { ImageInvert, LoadImage, SaveImage } from "../../generated/core.js";
import { LocalStorage } from "../../src/scale/local-storage.js";
import { ComfyQueue } from "../../src/scale/queue.js";
import { S3Storage } from "../../src/scale/s3-storage.js";
import type { JobRecord } from "../../src/scale/record.js";
import { decodePng, encodePng, invert, toRgba } from "../../src/testing/images.js";
import type { TestServer } from "../../src/testing/app.js";
import { tempDir } from "../helpers.js";
import { Cluster, nextPhase } from "./cluster.js";
import { errorOf, S3RVER_CREDENTIALS, startS3rver } from "./helpers.js";

/** A 4×4 PNG whose pixels depend on `seed`. */
function png(seed: number): Buffer {
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = (seed * 37 + i) & 255;
    rgba[i + 1] = (seed * 11 + 2 * i) & 255;
    rgba[i + 2] = (seed * 5 + 3 * i) & 255;
    rgba[i + 3] = 255;
  }
  return encodePng(4, 4, rgba);
}

/** LoadImage(upload) → ImageInvert → SaveImage. */
function invertUpload(image: ReturnType<typeof fileBytes>) {
  const wf = workflow({ name: "invert-upload" });
  const loaded = wf.add(LoadImage, { image });
  wf.add(SaveImage, {
    images: wf.add(ImageInvert, { image: loaded.IMAGE }),
    filename_prefix: "up",
  });
  return wf;
}

const uploads = (s: TestServer) =>
  s.requests.filter((r) => /^POST (\/api)?\/upload\/image$/.test(r)).length;

/** The output is the input inverted: the worker uploaded exactly these bytes. */
async function expectInverted(c: Cluster, record: JobRecord, input: Buffer): Promise<void> {
  expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
  const chunks: Buffer[] = [];
  for await (const chunk of await c.storage.get(record.outputs![0]!.key)) chunks.push(chunk);
  // Saved as ComfyUI saves 1.0 - x: the float32 product truncated (see src/testing/images.ts).
  const out = toRgba(decodePng(Buffer.concat(chunks)).image.frames[0]!);
  expect(out).toEqual(toRgba(invert(decodePng(input).image).frames[0]!));
}

describe("queued jobs with upload inputs", { timeout: 60_000 }, () => {
  let c: Cluster | undefined;
  let s3: S3rver | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
    await s3?.close();
    s3 = undefined;
  });

  test("fileBytes() goes through local storage and is uploaded to the worker's instance once", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    await c.addWorker(a);
    const bytes = png(1);
    const first = await c.queue.enqueue(invertUpload(fileBytes(bytes, "cat.png")));
    const record = await c.queue.waitFor(first.id);
    await expectInverted(c, record, bytes);
    expect(uploads(a)).toBe(1);
    // The same file again: the instance has it under its content-hash name, nothing is sent.
    const again = await c.queue.waitFor(
      (await c.queue.enqueue(invertUpload(fileBytes(bytes, "x.png")))).id,
    );
    await expectInverted(c, again, bytes);
    expect(uploads(a)).toBe(1);
    // A file the instance lost is uploaded again from storage.
    const names = a.folders.inputFiles().filter((f) => f.startsWith("comfyc-"));
    expect(names).toHaveLength(1);
    await rm(join(a.folders.dir("input"), names[0]!));
    const third = await c.queue.waitFor(
      (await c.queue.enqueue(invertUpload(fileBytes(bytes, "y.png")))).id,
    );
    await expectInverted(c, third, bytes);
    expect(uploads(a)).toBe(2);
  });

  test("localFile() is read at enqueue: the job does not need the file afterwards", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const worker = await c.addWorker(a);
    const path = join(tempDir(), "photo.png");
    const bytes = png(2);
    await writeFile(path, bytes);
    // Held until the file is gone: the worker must get it from storage, not the path.
    await worker.queue.laneQueue(worker.lane!).pause();
    const { id } = await c.queue.enqueue(invertUpload(localFile(path)));
    await rm(path);
    await worker.queue.laneQueue(worker.lane!).resume();
    await expectInverted(c, await c.queue.waitFor(id), bytes);
  });

  test("ComfyUI restarted mid-job: the retry finds the file on the instance and does not upload it again", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    a.script.node("ImageInvert", { durationMs: 60_000 });
    const worker = await c.addWorker(a);
    const running = nextPhase(worker, "running");
    const bytes = png(3);
    const { id } = await c.queue.enqueue(invertUpload(fileBytes(bytes, "cat.png")), {
      backoffMs: 100,
    });
    await running;
    a.script.clearNodes();
    const retried = nextPhase(worker, "retried", id);
    await a.script.restart();
    await retried;
    const record = await c.queue.waitFor(id);
    await expectInverted(c, record, bytes);
    expect(record.attempts).toBeGreaterThan(1);
    expect(uploads(a)).toBe(1);
  });

  test("a job handed back at shutdown is followed by the next worker on the instance: nothing is uploaded again", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    // Long enough that the hand-back surely comes while it runs; the next worker follows it.
    a.script.node("ImageInvert", { durationMs: 3000 });
    const first = await c.addWorker(a);
    const running = nextPhase(first, "running");
    const bytes = png(8);
    const { id } = await c.queue.enqueue(invertUpload(fileBytes(bytes, "cat.png")));
    await running;
    const handed = nextPhase(first, "handed_back", id);
    await Promise.all([first.close({ graceMs: 0 }), handed]);
    await c.addWorker(a);
    const record = await c.queue.waitFor(id);
    await expectInverted(c, record, bytes);
    expect(record.recovered).toBe(true);
    expect(c.executions().get(record.promptId!)).toBe(1);
    expect(uploads(a)).toBe(1);
  });

  test("an instance stopped for good: the job's file reaches the instance that takes it over", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const b = await c.addServer();
    a.script.node("ImageInvert", { durationMs: 60_000 });
    const wa = await c.addWorker(a);
    const running = nextPhase(wa, "running");
    const bytes = png(4);
    const { id } = await c.queue.enqueue(invertUpload(fileBytes(bytes, "cat.png")), {
      backoffMs: 100,
    });
    await running;
    await c.addWorker(b);
    await a.close();
    const record = await c.queue.waitFor(id);
    expect(record.instance).toBe(b.url);
    await expectInverted(c, record, bytes);
    expect(uploads(b)).toBe(1);
  });

  test("without storage, enqueue refuses an upload input with USAGE naming the option and flag", async () => {
    c = await Cluster.start();
    await c.addWorker(await c.addServer());
    const bare = new ComfyQueue({ redis: c.redis.url });
    try {
      const e = await errorOf(bare.enqueue(invertUpload(fileBytes(png(5), "cat.png"))));
      expect(e.code).toBe("USAGE");
      expect(e.message).toContain('node "1" input image');
      expect(e.message).toContain("--storage");
      expect((await bare.listJobs()).length).toBe(0);
    } finally {
      await bare.close();
    }
  });

  test("a worker whose storage lacks the file fails the job with NOT_FOUND naming both storages", async () => {
    c = await Cluster.start();
    const a = await c.addServer();
    const elsewhere = new LocalStorage(tempDir("comfyc-other-"));
    await c.addWorker(a, { storage: elsewhere });
    const { id } = await c.queue.enqueue(invertUpload(fileBytes(png(6), "cat.png")), {
      attempts: 1,
    });
    const record = await c.queue.waitFor(id);
    expect(record.state).toBe("failed");
    expect(record.error?.code).toBe("NOT_FOUND");
    expect(record.error?.message).toContain(elsewhere.location);
    expect(record.error?.message).toContain(c.storage.location);
    expect(uploads(a)).toBe(0);
  });

  test("S3 storage (s3rver): the file goes through the bucket to the instance", async () => {
    const started = await startS3rver("jobs");
    s3 = started.server;
    const storage = () =>
      new S3Storage({
        bucket: "jobs",
        prefix: "q",
        endpoint: started.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      });
    c = await Cluster.start({ storage: storage() });
    const a = await c.addServer();
    const worker = await c.addWorker(a, { storage: storage() });
    const bytes = png(7);
    const key = `inputs/${await sha256(bytes)}.png`;
    await worker.queue.laneQueue(worker.lane!).pause();
    const { id } = await c.queue.enqueue(invertUpload(fileBytes(bytes, "cat.png")));
    expect(await c.storage.stat(key)).toMatchObject({ size: bytes.length });
    const released = nextPhase(worker, "inputs_released", id);
    await worker.queue.laneQueue(worker.lane!).resume();
    const record = await c.queue.waitFor(id);
    await expectInverted(c, record, bytes);
    expect(uploads(a)).toBe(1);
    // The job has ended: nothing needs the file in the bucket any more.
    expect((await released)["deleted"]).toEqual([key]);
    expect(await c.storage.stat(key)).toBeUndefined();
  });
});

async function sha256(bytes: Buffer): Promise<string> {
  const { createHash } = await import("node:crypto");
  return createHash("sha256").update(bytes).digest("hex");
}
