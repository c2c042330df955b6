import type { ByteSource } from "./byte-source.js";
import { invalidWorkflow } from "./errors.js";

/**
 * The metadata chunks of a PNG or WebP, gathered without reading the image data: only each
 * chunk's 8-byte header is read to find the next one; the chunks that can carry ComfyUI metadata
 * are kept and re-framed into a small file of the same kind, which the metadata libraries
 * (png-chunks-extract, png-chunk-text, ExifReader) then parse — they need whole files in memory,
 * and none of them reads a file in parts or past a cut. Framing per the PNG specification §5.3
 * (length, type, data, CRC; the CRC is checked by png-chunks-extract) and the RIFF layout of
 * Google's WebP container specification (FourCC, little-endian size, data padded to even).
 */
export interface GatheredChunks {
  /** A complete file holding the kept chunks (PNG: with an `IEND` appended). */
  readonly bytes: Uint8Array;
  /** PNG only: an `acTL` chunk was seen (APNG, whose `comf` metadata follows the image data). */
  readonly animated: boolean;
  /** Where and how the file is cut short, when it is; the chunks before the cut were kept. */
  readonly truncation?: string;
}

/** The largest JSON document read as a workflow (32 MiB); real ones are well under 1 MiB. */
export const MAX_WORKFLOW_JSON_BYTES = 32 * 1024 * 1024;
const MAX_TEXT_CHUNK_BYTES = MAX_WORKFLOW_JSON_BYTES;
/** All kept chunks together: a workflow and a prompt of the largest size, and change. */
const MAX_KEPT_BYTES = 2 * MAX_TEXT_CHUNK_BYTES + 1024 * 1024;

/** PNG chunks kept: the header png-chunks-extract requires first, APNG's marker, and text. */
const PNG_KEPT = new Set(["IHDR", "acTL", "tEXt", "iTXt", "zTXt", "comf"]);
const PNG_TEXT = new Set(["tEXt", "iTXt", "zTXt", "comf"]);
/**
 * The most chunks walked (about 8 s of header reads). A real 1 GiB PNG has some 130,000 (libpng
 * writes 8 KiB IDAT chunks); a file of millions of empty chunks is refused, not walked for minutes.
 */
const MAX_CHUNKS = 4 * 1024 * 1024;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** The whole `IEND` chunk: zero length, type, CRC-32 of "IEND". */
const PNG_IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/**
 * Walks a PNG's chunks and keeps the metadata ones. `enough` is asked once, at the first `IDAT`
 * of a still PNG, with the chunks kept so far: ComfyUI's `SaveImage` (Pillow) writes its text
 * chunks before the image data, so when they already hold the workflow the rest of the file is
 * not read (only its last 12 bytes, to see whether it ends with `IEND` or is cut short). APNG's `comf` chunks follow the image data, so an APNG is walked to its end (headers
 * only). Stops at `IEND`, at the end of the file, or at a chunk the file is too short for.
 *
 * @throws {WorkflowImportError} `too_large`: a text chunk over 32 MiB, or kept chunks over
 *   65 MiB together (refused before they are read).
 */
export async function gatherPngChunks(
  source: ByteSource,
  name: string,
  enough?: (png: Uint8Array) => Promise<boolean>,
): Promise<GatheredChunks> {
  const kept: Uint8Array[] = [Uint8Array.from(PNG_SIGNATURE)];
  let keptBytes = 0;
  let animated = false;
  let askedEnough = false;
  let truncation: string | undefined;
  let at = 8;
  for (let count = 0; ; count++) {
    if (count === MAX_CHUNKS) {
      throw invalidWorkflow(
        "too_large",
        `${name} (PNG) has more than ${MAX_CHUNKS.toLocaleString("en-US")} chunks before its end; no image ComfyUI writes has that many`,
        "Check where the file came from, or use the workflow JSON.",
      );
    }
    if (at + 8 > source.size) {
      truncation = `it ends at byte ${source.size} without an IEND chunk`;
      break;
    }
    const head = await source.read(at, 8);
    const length = new DataView(head.buffer, head.byteOffset, 8).getUint32(0);
    const type = String.fromCharCode(...head.subarray(4, 8));
    if (type === "IEND") break;
    const end = at + 12 + length;
    if (end > source.size) {
      truncation = `its ${JSON.stringify(type)} chunk at byte ${at} declares ${length} bytes, but the file ends ${source.size - at - 12} bytes later`;
      break;
    }
    if (type === "acTL") animated = true;
    if (type === "IDAT" && !animated && !askedEnough && enough) {
      askedEnough = true;
      if (await enough(framePng(kept))) {
        // The rest is not walked, but a cut is still seen: a whole PNG ends with its IEND.
        const tail = await source.read(source.size - 12, 12);
        const ended = tail.length === 12 && tail.every((b, i) => b === PNG_IEND[i]);
        return {
          bytes: framePng(kept),
          animated,
          ...(ended
            ? {}
            : {
                truncation: `it does not end with the IEND chunk a PNG ends with (${source.size} bytes)`,
              }),
        };
      }
    }
    if (PNG_KEPT.has(type)) {
      if (PNG_TEXT.has(type) && length > MAX_TEXT_CHUNK_BYTES) {
        throw invalidWorkflow(
          "too_large",
          `${name} (PNG) has a ${type} chunk of ${(length / 1024 / 1024).toFixed(1)} MiB, more than the ${MAX_TEXT_CHUNK_BYTES / 1024 / 1024} MiB a workflow document may have`,
          "ComfyUI's own workflows are well under 1 MiB; check where the file came from, or use the workflow JSON.",
        );
      }
      keptBytes += 12 + length;
      if (keptBytes > MAX_KEPT_BYTES) throw tooMuchMetadata(name, "PNG");
      kept.push((await source.read(at, 12 + length)).slice());
    }
    at = end;
  }
  return { bytes: framePng(kept), animated, ...(truncation ? { truncation } : {}) };
}

function framePng(kept: readonly Uint8Array[]): Uint8Array {
  return concat([...kept, Uint8Array.from(PNG_IEND)]);
}

/** WebP chunks kept: `VP8X` (the extended-format header) and the metadata chunks. */
const WEBP_KEPT = new Set(["VP8X", "EXIF", "XMP "]);

/**
 * Walks a WebP's RIFF chunks and keeps `VP8X`, `EXIF` and `XMP `. ComfyUI's
 * `SaveAnimatedWEBP` (Pillow, libwebp's muxer) writes `EXIF` after the frames, as the container
 * specification orders it; the walk reads only chunk headers until there and stops after `EXIF`.
 *
 * @throws {WorkflowImportError} `too_large`: a metadata chunk over 32 MiB.
 */
export async function gatherWebpChunks(source: ByteSource, name: string): Promise<GatheredChunks> {
  const kept: Uint8Array[] = [];
  let truncation: string | undefined;
  const header = await source.read(0, 12);
  const riffEnd = 8 + new DataView(header.buffer, header.byteOffset, 12).getUint32(4, true);
  let at = 12;
  for (let count = 0; ; count++) {
    if (at + 8 > source.size || at >= riffEnd) break;
    if (count === MAX_CHUNKS) {
      throw invalidWorkflow(
        "too_large",
        `${name} (WebP) has more than ${MAX_CHUNKS.toLocaleString("en-US")} chunks before its metadata; no image ComfyUI writes has that many`,
        "Check where the file came from, or use the workflow JSON.",
      );
    }
    const head = await source.read(at, 8);
    const type = String.fromCharCode(...head.subarray(0, 4));
    const length = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true);
    // The pad byte after an odd-sized chunk may be missing at the very end of the file.
    if (at + 8 + length > source.size) {
      truncation = `its ${JSON.stringify(type)} chunk at byte ${at} declares ${length} bytes, but the file ends ${source.size - at - 8} bytes later`;
      break;
    }
    if (WEBP_KEPT.has(type)) {
      if (length > MAX_TEXT_CHUNK_BYTES) throw tooMuchMetadata(name, "WebP", type, length);
      const chunk = (await source.read(at, 8 + length)).slice();
      kept.push(length % 2 ? concat([chunk, new Uint8Array(1)]) : chunk);
      if (type === "EXIF") break;
    }
    at += 8 + length + (length % 2);
  }
  if (!truncation && riffEnd > source.size)
    truncation = `its RIFF header declares ${riffEnd} bytes, but the file has ${source.size}`;
  const body = concat(kept);
  const out = new Uint8Array(12 + body.length);
  out.set(header.subarray(0, 12));
  new DataView(out.buffer).setUint32(4, 4 + body.length, true);
  out.set(body, 12);
  return { bytes: out, animated: false, ...(truncation ? { truncation } : {}) };
}

function tooMuchMetadata(name: string, kind: string, type?: string, length?: number) {
  return invalidWorkflow(
    "too_large",
    type
      ? `${name} (${kind}) has a ${JSON.stringify(type)} chunk of ${((length ?? 0) / 1024 / 1024).toFixed(1)} MiB, more than the ${MAX_TEXT_CHUNK_BYTES / 1024 / 1024} MiB a workflow document may have`
      : `${name} (${kind}) has more than ${MAX_KEPT_BYTES / 1024 / 1024} MiB of text chunks, more than a workflow and its prompt may have`,
    "ComfyUI's own workflows are well under 1 MiB; check where the file came from, or use the workflow JSON.",
  );
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
