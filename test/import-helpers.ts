import { readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import type { NodeSchema } from "../src/schema/ir.js";
import { ROOT } from "./helpers.js";

/** The importer's fixtures (see its README). */
export const IMPORT_FIXTURES = join(ROOT, "test", "fixtures", "import");

/** ComfyUI 0.33.0's own `/object_info`, raw. */
export function objectInfo033(): Record<string, unknown> {
  const gz = readFileSync(join(IMPORT_FIXTURES, "object_info-comfyui-0.33.0.json.gz"));
  return JSON.parse(gunzipSync(gz).toString("utf8")) as Record<string, unknown>;
}

let schema: NodeSchema | undefined;
/** ComfyUI 0.33.0's schema, normalized once per test file. */
export function schema033(): NodeSchema {
  schema ??= normalizeObjectInfo(objectInfo033(), "comfyui-0.33.0");
  return schema;
}

/** A fixture's parsed JSON. */
export function importFixture(...parts: string[]): Record<string, unknown> {
  return JSON.parse(readFileSync(join(IMPORT_FIXTURES, ...parts), "utf8")) as Record<
    string,
    unknown
  >;
}

/**
 * The node definitions the shared corpus was converted with by the editor (see
 * `../shared/data/workflows/ui-converted/README.md`): ComfyUI 0.33.0's own, then the dumps of
 * `../shared/data/object_info` in that order, first one wins per class.
 */
export function sharedUnionObjectInfo(sharedData: string): Record<string, unknown> {
  const union: Record<string, unknown> = { ...objectInfo033() };
  for (const dump of [
    "oi_2026-08_mmldx_subset_73.json",
    "oi_2026-05_yuzuki_custom_1686.json",
    "oi_2026-02_autoflow_904.json",
    "oi_2025-10_orchestrator_core_496.json",
    "oi_2024-11_cushystudio_1017.json",
    "oi_2024-04_icefairy_169.json",
    "oi_2024-04_alterate_core_165.json",
  ]) {
    const raw = JSON.parse(readFileSync(join(sharedData, "object_info", dump), "utf8")) as Record<
      string,
      unknown
    >;
    for (const [k, v] of Object.entries(raw)) if (!(k in union)) union[k] = v;
  }
  return union;
}

/** The chunks of a PNG, in file order: type and the whole chunk's bytes (length to CRC). */
export function pngChunks(png: Buffer): { type: string; bytes: Buffer }[] {
  const out: { type: string; bytes: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    out.push({
      type: png.toString("latin1", at + 4, at + 8),
      bytes: png.subarray(at, at + 12 + length),
    });
    at += 12 + length;
  }
  return out;
}

/**
 * Writes `head`, then a chunk or box header `bigHeader` whose data is `bigLength` bytes left as
 * a hole (a sparse file: 1 GiB costs no disk and no time), then `tail`.
 */
async function writeWithHole(
  path: string,
  head: Buffer,
  bigHeader: Buffer,
  bigLength: number,
  tail: Buffer,
): Promise<string> {
  const handle = await open(path, "w");
  try {
    await handle.write(Buffer.concat([head, bigHeader]), 0, head.length + bigHeader.length, 0);
    const at = head.length + bigHeader.length + bigLength;
    await handle.truncate(at);
    await handle.write(tail, 0, tail.length, at);
  } finally {
    await handle.close();
  }
  return path;
}

/**
 * Large output files made from ComfyUI 0.33.0's real ones (`media/`), their image or media data
 * grown to `dataBytes`: a PNG (text chunks, then one big `IDAT`), an APNG (its `comf` metadata
 * chunks after the big `IDAT`, as SaveAnimatedPNG writes them) and an MP4 (`moov` first, then a
 * big `mdat`). The data is a hole in a sparse file (zeros; its CRC is not checked by anything
 * that reads metadata). Each still carries `ui/media-savers.json` as its workflow.
 */
export async function writeLargeOutputFiles(
  dir: string,
  dataBytes: number,
): Promise<{ png: string; apng: string; mp4: string }> {
  const media = (name: string) => readFileSync(join(IMPORT_FIXTURES, "media", name));
  const idat = Buffer.alloc(8);
  idat.writeUInt32BE(dataBytes, 0);
  idat.write("IDAT", 4, "latin1");
  const grown = (file: string) => {
    const bytes = media(file);
    const chunks = pngChunks(bytes);
    const at = chunks.findIndex((c) => c.type === "IDAT");
    const head = Buffer.concat([bytes.subarray(0, 8), ...chunks.slice(0, at).map((c) => c.bytes)]);
    // 4 bytes stand for the CRC of the grown IDAT, then the chunks that followed it.
    const tail = Buffer.concat([Buffer.alloc(4), ...chunks.slice(at + 1).map((c) => c.bytes)]);
    return { head, tail };
  };
  const png = grown("comfyui-0.33.0-saveimage.png");
  const apng = grown("comfyui-0.33.0-saveanimatedpng.png");
  const mp4 = media("comfyui-0.33.0-savevideo.mp4"); // ftyp, moov, free, mdat
  const mdatAt = mp4.indexOf("mdat", 0, "latin1") - 4;
  const mdat = Buffer.alloc(8);
  mdat.writeUInt32BE(8 + dataBytes, 0);
  mdat.write("mdat", 4, "latin1");
  return {
    png: await writeWithHole(join(dir, "large.png"), png.head, idat, dataBytes, png.tail),
    apng: await writeWithHole(join(dir, "large-apng.png"), apng.head, idat, dataBytes, apng.tail),
    mp4: await writeWithHole(
      join(dir, "large.mp4"),
      mp4.subarray(0, mdatAt),
      mdat,
      dataBytes,
      Buffer.alloc(0),
    ),
  };
}
