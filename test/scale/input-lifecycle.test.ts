import { createHash, randomUUID } from "node:crypto";
import { describe, expect, onTestFinished, test } from "vitest";
import { fileBytes, workflow } from "../../src/builder/workflow.js";
import { ImageInvert, LoadImage, SaveImage } from "../../generated/core.js";
import { storeInput } from "../../src/scale/inputs.js";
import { S3Storage } from "../../src/scale/s3-storage.js";
import type { Storage } from "../../src/scale/storage.js";
import { encodePng } from "../../src/testing/images.js";
import { cli } from "../helpers-cli.js";
import { Cluster, nextPhase } from "./cluster.js";
import { errorOf, S3RVER_CREDENTIALS, startS3rver } from "./helpers.js";

/** A 2×2 PNG whose pixels depend on `seed`. */
function png(seed: number): Buffer {
  const rgba = Buffer.alloc(2 * 2 * 4, 255);
  rgba[0] = seed & 255;
  rgba[1] = (seed >> 8) & 255;
  return encodePng(2, 2, rgba);
}

/** Where the queue keeps these bytes: `inputs/<sha256>.png`. */
const keyOf = (bytes: Buffer) => `inputs/${createHash("sha256").update(bytes).digest("hex")}.png`;

/** LoadImage(upload) → ImageInvert → SaveImage. */
function invertUpload(bytes: Buffer) {
  const wf = workflow({ name: "invert-upload" });
  const loaded = wf.add(LoadImage, { image: fileBytes(bytes, "in.png") });
  wf.add(SaveImage, {
    images: wf.add(ImageInvert, { image: loaded.IMAGE }),
    filename_prefix: "up",
  });
  return wf;
}

/** A cluster closed when the test ends. */
async function cluster(storage?: Storage): Promise<Cluster> {
  const c = await Cluster.start(storage ? { storage } : {});
  onTestFinished(() => c.close());
  return c;
}

describe(
  "stored input files: kept while an unfinished job needs them, deleted after",
  {
    timeout: 60_000,
  },
  () => {
    const storages: [string, () => Promise<{ producer?: Storage; worker?: Storage }>][] = [
      ["a local folder", async () => ({})],
      [
        "S3 (s3rver)",
        async () => {
          const started = await startS3rver("life");
          onTestFinished(() => started.server.close());
          const open = () =>
            new S3Storage({
              bucket: "life",
              prefix: "q",
              endpoint: started.endpoint,
              forcePathStyle: true,
              credentials: S3RVER_CREDENTIALS,
            });
          return { producer: open(), worker: open() };
        },
      ],
    ];

    test.each(storages)(
      "%s: a succeeded job's input is deleted once it ends; the outputs stay",
      async (_, open) => {
        const { producer, worker: workerStorage } = await open();
        const c = await cluster(producer);
        const worker = await c.addWorker(
          await c.addServer(),
          workerStorage ? { storage: workerStorage } : {},
        );
        const bytes = png(1);
        const jobId = randomUUID();
        const released = nextPhase(worker, "inputs_released", jobId);
        await c.queue.enqueue(invertUpload(bytes), { jobId });
        expect(await c.storage.stat(keyOf(bytes))).toMatchObject({ size: bytes.length });
        const record = await c.queue.waitFor(jobId);
        expect(record.state).toBe("succeeded");
        expect((await released)["deleted"]).toEqual([keyOf(bytes)]);
        expect(await c.storage.stat(keyOf(bytes))).toBeUndefined();
        expect(await c.storage.stat(record.outputs![0]!.key)).toBeDefined();
      },
    );

    test("a file two jobs share is kept until the last of them ends; a cancelled queued job releases it", async () => {
      const c = await cluster();
      const worker = await c.addWorker(await c.addServer());
      const lane = worker.queue.laneQueue(worker.lane!);
      const bytes = png(2);
      await lane.pause();
      const a = await c.queue.enqueue(invertUpload(bytes));
      const b = await c.queue.enqueue(invertUpload(bytes));
      expect((await c.queue.cancel(b.id)).state).toBe("cancelled");
      // a still needs it.
      expect(await c.storage.stat(keyOf(bytes))).toMatchObject({ size: bytes.length });
      const released = nextPhase(worker, "inputs_released", a.id);
      await lane.resume();
      expect((await c.queue.waitFor(a.id)).state).toBe("succeeded");
      expect((await released)["deleted"]).toEqual([keyOf(bytes)]);
      expect(await c.storage.stat(keyOf(bytes))).toBeUndefined();
    });

    test("a job that fails for good releases its file too; a new job with the same file stores it again", async () => {
      const c = await cluster();
      const server = await c.addServer();
      const worker = await c.addWorker(server);
      const bytes = png(3);
      server.script.node("ImageInvert", { fail: { message: "boom" } });
      const failedId = randomUUID();
      const released = nextPhase(worker, "inputs_released", failedId);
      await c.queue.enqueue(invertUpload(bytes), { jobId: failedId });
      expect((await c.queue.waitFor(failedId)).state).toBe("failed");
      expect((await released)["deleted"]).toEqual([keyOf(bytes)]);
      server.script.clearNodes();
      const again = await c.queue.enqueue(invertUpload(bytes));
      expect(await c.storage.stat(keyOf(bytes))).toMatchObject({ size: bytes.length });
      expect((await c.queue.waitFor(again.id)).state).toBe("succeeded");
    });

    test("a file stored with storeInput() and deleted before enqueue is refused with NOT_FOUND, not queued", async () => {
      const c = await cluster();
      await c.addWorker(await c.addServer());
      const staged = await storeInput(c.storage, png(4), "in.png");
      await c.storage.delete(staged.key);
      const e = await errorOf(
        c.queue.enqueue(
          { "1": { class_type: "LoadImage", inputs: { image: staged.name } } },
          { inputs: [staged], jobId: "gone-input" },
        ),
      );
      expect(e.code).toBe("NOT_FOUND");
      expect(await c.queue.getJob("gone-input")).toBeUndefined();
    });

    test("a file the caller stored itself (storeInput: gateway uploads, v2 assets) outlives every job that uses it", async () => {
      const c = await cluster();
      const worker = await c.addWorker(await c.addServer());
      const bytes = png(7);
      const staged = await storeInput(c.storage, bytes, "in.png");
      const prompt = {
        "1": { class_type: "LoadImage", inputs: { image: staged.name } },
        "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
        "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "p" } },
      };
      const givenId = randomUUID();
      const givenDone = nextPhase(worker, "inputs_released", givenId);
      await c.queue.enqueue(prompt, { inputs: [staged], jobId: givenId });
      expect((await c.queue.waitFor(givenId)).state).toBe("succeeded");
      expect((await givenDone)["deleted"]).toEqual([]);
      // A job that uploads the same bytes itself shares the object and does not delete it either.
      const markerId = randomUUID();
      const markerDone = nextPhase(worker, "inputs_released", markerId);
      await c.queue.enqueue(invertUpload(bytes), { jobId: markerId });
      expect((await c.queue.waitFor(markerId)).state).toBe("succeeded");
      expect((await markerDone)["deleted"]).toEqual([]);
      expect(await c.storage.stat(staged.key)).toMatchObject({ size: bytes.length });
    });

    test("`comfyc jobs clean` deletes files of jobs removed without releasing them and keeps those queued jobs need", async () => {
      const c = await cluster();
      const worker = await c.addWorker(await c.addServer());
      const lane = worker.queue.laneQueue(worker.lane!);
      await lane.pause();
      const leaked = png(5);
      const needed = png(6);
      const gone = await c.queue.enqueue(invertUpload(leaked));
      const queued = await c.queue.enqueue(invertUpload(needed));
      // Removed behind comfyc's back, as BullMQ's own trimming or a dashboard would: no release.
      await lane.remove(gone.id);
      const run = await cli(
        "jobs",
        "clean",
        "--redis",
        c.redis.url,
        "--queue",
        c.queue.name,
        "--storage",
        c.storageDir,
        "--grace",
        "0",
        "--json",
      );
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ released: 1, deleted: [keyOf(leaked)], kept: 1 });
      expect(await c.storage.stat(keyOf(leaked))).toBeUndefined();
      expect(await c.storage.stat(keyOf(needed))).toMatchObject({ size: needed.length });
      await lane.resume();
      expect((await c.queue.waitFor(queued.id)).state).toBe("succeeded");
    });
  },
);
