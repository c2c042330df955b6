import { openAsBlob, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readWorkflowSource } from "../../src/import/detect.js";
import { WorkflowImportError } from "../../src/import/errors.js";
import { IMPORT_FIXTURES, importFixture, writeLargeOutputFiles } from "../import-helpers.js";

const media = (name: string) => readFileSync(join(IMPORT_FIXTURES, "media", name));
const workflow = importFixture("ui", "media-savers.json");

/** A Blob over a real file that counts the bytes read from it. */
function countingBlob(blob: Blob): { blob: Blob; read: () => number } {
  let read = 0;
  const wrap = (b: Blob): Blob =>
    new Proxy(b, {
      get(target, key) {
        if (key === "slice") {
          return (start?: number, end?: number) => {
            const part = target.slice(start, end);
            read += part.size;
            return part;
          };
        }
        if (key === "stream" || key === "arrayBuffer" || key === "bytes" || key === "text")
          read += target.size;
        const value = Reflect.get(target, key) as unknown;
        return typeof value === "function" ? (value as () => unknown).bind(target) : value;
      },
    });
  return { blob: wrap(blob), read: () => read };
}

const GiB = 1024 * 1024 * 1024;

describe("a 1 GiB output file is read by its metadata, not whole", () => {
  let dir: string;
  let files: Awaited<ReturnType<typeof writeLargeOutputFiles>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "comfyc-large-media-"));
    files = await writeLargeOutputFiles(dir, GiB);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("PNG, text chunks before a 1 GiB IDAT: read up to the IDAT and the last 12 bytes", async () => {
    const { blob, read } = countingBlob(await openAsBlob(files.png));
    expect(blob.size).toBeGreaterThan(GiB);
    const source = await readWorkflowSource(blob, "large.png");
    expect(source.format === "ui" && source.workflow).toEqual(workflow);
    expect(source.warnings).toEqual([]);
    expect(read()).toBeLessThan(256 * 1024);
  });

  test("APNG, comf chunks after 1 GiB of frames: only chunk headers are read in between", async () => {
    const { blob, read } = countingBlob(await openAsBlob(files.apng));
    const source = await readWorkflowSource(blob, "large-apng.png");
    expect(source.container).toBe("apng");
    expect(source.format === "ui" && source.workflow).toEqual(workflow);
    expect(source.warnings).toEqual([]);
    expect(read()).toBeLessThan(512 * 1024);
  });

  test("MP4 with 1 GiB of media data: music-metadata reads the boxes it needs", async () => {
    const { blob, read } = countingBlob(await openAsBlob(files.mp4));
    expect(blob.size).toBeGreaterThan(GiB);
    const source = await readWorkflowSource(blob, "large.mp4");
    expect(source.format === "ui" && source.workflow).toEqual(workflow);
    expect(read()).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("a Blob and the same bytes in memory read alike", () => {
  const files = [
    "comfyui-0.33.0-saveimage.png",
    "comfyui-0.33.0-saveanimatedpng.png",
    "comfyui-0.33.0-saveanimatedwebp.webp",
    "comfyui-0.33.0-savewebm.webm",
    "comfyui-0.33.0-savevideo.mp4",
    "comfyui-0.33.0-saveaudio.flac",
    "comfyui-0.33.0-saveaudiomp3.mp3",
    "comfyui-0.33.0-saveaudioopus.opus",
    "pillow-itxt-compressed.png",
    "pillow-ztxt.png",
    "pillow-prompt-only-nan.png",
  ];
  test.each(files)("%s", async (f) => {
    const fromBytes = await readWorkflowSource(media(f), f);
    const fromBlob = await readWorkflowSource(
      await openAsBlob(join(IMPORT_FIXTURES, "media", f)),
      f,
    );
    expect(fromBlob).toEqual(fromBytes);
  });
});

describe("a PNG or WebP cut short: what is complete is read, with a warning", () => {
  const png = media("comfyui-0.33.0-saveimage.png"); // IHDR, tEXt prompt @33, tEXt workflow @1905, IDAT @6088, IEND
  const apng = media("comfyui-0.33.0-saveanimatedpng.png"); // IHDR, acTL, fcTL, IDAT @91, comf prompt @126, comf workflow @1998, IEND
  const webp = media("comfyui-0.33.0-saveanimatedwebp.webp"); // VP8X @12, "VP8 " @30, EXIF @86

  test("cut inside the image data after both text chunks: the workflow, and a truncated_file warning", async () => {
    const source = await readWorkflowSource(png.subarray(0, 6100), "cut.png");
    expect(source.format === "ui" && source.workflow).toEqual(workflow);
    expect(source.format === "ui" && Object.keys(source.prompt ?? {}).length).toBe(11);
    expect(source.warnings?.map((w) => w.kind)).toEqual(["truncated_file"]);
    expect(source.warnings?.[0]?.message).toMatch(
      /^cut\.png \(PNG\) is cut short: its "IDAT" chunk at byte 6088 declares 28 bytes/,
    );
    // Cut after the whole IDAT: the walk stops there, and the missing IEND tells the cut.
    const atEnd = await readWorkflowSource(png.subarray(0, 6128), "cut.png");
    expect(atEnd.format === "ui" && atEnd.workflow).toEqual(workflow);
    expect(atEnd.warnings?.[0]?.message).toMatch(/cut short: it does not end with the IEND chunk/);
  });

  test("cut inside the workflow chunk: the complete prompt chunk is used, the cut named", async () => {
    const source = await readWorkflowSource(png.subarray(0, 4000), "cut.png");
    expect(source.format).toBe("api");
    expect(source.format === "api" && Object.keys(source.prompt).length).toBe(11);
    expect(source.warnings?.[0]?.message).toMatch(
      /cut short: its "tEXt" chunk at byte 1905 declares 4171 bytes, but the file ends 2083 bytes later; the metadata before the cut was read/,
    );
  });

  test("APNG cut inside the workflow comf chunk: the prompt, with the warning", async () => {
    const source = await readWorkflowSource(apng.subarray(0, 3000), "cut.png");
    expect([source.format, source.container]).toEqual(["api", "apng"]);
    expect(source.warnings?.[0]?.message).toMatch(/"comf" chunk at byte 1998/);
  });

  test("cut before any metadata chunk is complete: refused, naming the cut", async () => {
    for (const [bytes, where] of [
      [
        png.subarray(0, 1000),
        /"tEXt" chunk at byte 33 declares 1860 bytes, but the file ends 955 bytes later/,
      ],
      [apng.subarray(0, 100), /"IDAT" chunk at byte 91 declares 23 bytes/],
      [webp.subarray(0, 3000), /"EXIF" chunk at byte 86 declares 6078 bytes/],
    ] as const) {
      const error = await readWorkflowSource(bytes, "cut").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowImportError);
      expect((error as WorkflowImportError).code).toBe("WORKFLOW_INVALID");
      expect((error as WorkflowImportError).problems[0]!.kind).toBe("unreadable_media");
      expect((error as Error).message).toMatch(where);
    }
  });

  test("a WebP whose EXIF precedes the image data, cut inside the image: the workflow, warned", async () => {
    // Reordered: VP8X, EXIF, then the image chunk (cut in the middle).
    const vp8x = webp.subarray(12, 30);
    const vp8 = webp.subarray(30, 86);
    const exif = webp.subarray(86);
    const body = Buffer.concat([Buffer.from("WEBP"), vp8x, exif, vp8]);
    const whole = Buffer.concat([Buffer.from("RIFF"), Buffer.alloc(4), body]);
    whole.writeUInt32LE(body.length, 4);
    const source = await readWorkflowSource(whole.subarray(0, whole.length - 20), "cut.webp");
    expect(source.format === "ui" && source.workflow).toEqual(workflow);
    expect(source.warnings?.[0]?.message).toMatch(
      /cut\.webp \(WEBP\) is cut short: its RIFF header declares/,
    );
    // Whole, the same file has no warning.
    expect((await readWorkflowSource(whole, "whole.webp")).warnings).toEqual([]);
  });

  test("whole files carry no warning", async () => {
    for (const bytes of [png, apng, webp])
      expect((await readWorkflowSource(bytes)).warnings).toEqual([]);
  });
});
