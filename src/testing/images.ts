import { crc32 } from "node:zlib";
import { PNG } from "pngjs";

/**
 * Images as the test server sees them: a batch of RGBA frames of one size. Pixels are real
 * where a model-free node can compute them (EmptyImage's color, LoadImage's file, inversion);
 * model nodes produce a deterministic pattern derived from their inputs.
 */
export interface ImageBatch {
  readonly width: number;
  readonly height: number;
  /** One RGBA buffer per image of the batch. */
  readonly frames: readonly Buffer[];
}

/** Largest image the server fills with pixels; bigger ones are rejected like an OOM. */
export const MAX_PIXELS = 64 * 1024 * 1024;

/** A batch filled with one 0xRRGGBB color. */
export function solid(width: number, height: number, batch: number, color: number): ImageBatch {
  assertSize(width, height, batch);
  const frame = Buffer.alloc(width * height * 4);
  const r = (color >> 16) & 255;
  const g = (color >> 8) & 255;
  const b = color & 255;
  for (let i = 0; i < frame.length; i += 4) {
    frame[i] = r;
    frame[i + 1] = g;
    frame[i + 2] = b;
    frame[i + 3] = 255;
  }
  return { width, height, frames: Array.from({ length: batch }, () => Buffer.from(frame)) };
}

/** A deterministic gradient seeded by `seed`: what a sampler "renders". */
export function pattern(width: number, height: number, batch: number, seed: number): ImageBatch {
  assertSize(width, height, batch);
  const frames: Buffer[] = [];
  for (let n = 0; n < batch; n++) {
    const s = (seed + n * 7919) >>> 0;
    const frame = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        frame[i] = (x * 255) / Math.max(1, width - 1) + (s & 63);
        frame[i + 1] = (y * 255) / Math.max(1, height - 1) + ((s >> 6) & 63);
        frame[i + 2] = ((x + y + s) * 3) & 255;
        frame[i + 3] = 255;
      }
    }
    frames.push(frame);
  }
  return { width, height, frames };
}

function assertSize(width: number, height: number, batch: number): void {
  if (width * height * batch > MAX_PIXELS) {
    throw Object.assign(
      new Error(
        `Allocation on device: ${batch}×${width}×${height} is too large for the test server`,
      ),
      {
        pyType: "torch.OutOfMemoryError",
      },
    );
  }
}

/** Each frame with RGB inverted (ImageInvert). */
export function invert(image: ImageBatch): ImageBatch {
  return {
    ...image,
    frames: image.frames.map((f) => {
      const out = Buffer.from(f);
      for (let i = 0; i < out.length; i += 4) {
        out[i] = 255 - out[i]!;
        out[i + 1] = 255 - out[i + 1]!;
        out[i + 2] = 255 - out[i + 2]!;
      }
      return out;
    }),
  };
}

/** Nearest-neighbour resize (ImageScale and friends). */
export function resize(image: ImageBatch, width: number, height: number): ImageBatch {
  assertSize(width, height, image.frames.length);
  return {
    width,
    height,
    frames: image.frames.map((f) => {
      const out = Buffer.alloc(width * height * 4);
      for (let y = 0; y < height; y++) {
        const sy = Math.min(image.height - 1, Math.floor((y * image.height) / height));
        for (let x = 0; x < width; x++) {
          const sx = Math.min(image.width - 1, Math.floor((x * image.width) / width));
          f.copy(
            out,
            (y * width + x) * 4,
            (sy * image.width + sx) * 4,
            (sy * image.width + sx) * 4 + 4,
          );
        }
      }
      return out;
    }),
  };
}

/** PNG bytes of one RGBA frame, with optional tEXt chunks (ComfyUI's prompt metadata). */
export function encodePng(
  width: number,
  height: number,
  rgba: Buffer,
  text: Record<string, string> = {},
): Buffer {
  const png = new PNG({ width, height });
  rgba.copy(png.data);
  const bytes = PNG.sync.write(png);
  const entries = Object.entries(text);
  if (entries.length === 0) return bytes;
  const chunks = entries.map(([k, v]) =>
    chunk(
      "tEXt",
      Buffer.concat([Buffer.from(k, "latin1"), Buffer.from([0]), Buffer.from(v, "utf8")]),
    ),
  );
  // tEXt chunks go right after IHDR (8-byte signature + 25-byte IHDR chunk).
  return Buffer.concat([bytes.subarray(0, 33), ...chunks, bytes.subarray(33)]);
}

/** Decodes a PNG; throws on anything that is not one (the server's PIL error). */
export function decodePng(bytes: Buffer): ImageBatch {
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, frames: [png.data] };
}

/** The alpha channel of each frame as a mask batch (LoadImage's MASK is 1 - alpha). */
export function hasAlpha(image: ImageBatch): boolean {
  return image.frames.some((f) => {
    for (let i = 3; i < f.length; i += 4) if (f[i] !== 255) return true;
    return false;
  });
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function chunksOf(png: Buffer): { type: string; data: Buffer }[] {
  const out: { type: string; data: Buffer }[] = [];
  for (let i = 8; i < png.length;) {
    const length = png.readUInt32BE(i);
    out.push({
      type: png.toString("latin1", i + 4, i + 8),
      data: png.subarray(i + 8, i + 8 + length),
    });
    i += 12 + length;
  }
  return out;
}

/** An animated PNG (APNG) of the frames: a real file browsers play. */
export function encodeApng(image: ImageBatch, fps: number): Buffer {
  const pngs = image.frames.map((f) => encodePng(image.width, image.height, f));
  const first = chunksOf(pngs[0]!);
  const ihdr = first.find((c) => c.type === "IHDR")!;
  let seq = 0;
  const parts: Buffer[] = [pngs[0]!.subarray(0, 8), chunk("IHDR", ihdr.data)];
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(pngs.length, 0);
  actl.writeUInt32BE(0, 4);
  parts.push(chunk("acTL", actl));
  pngs.forEach((png, n) => {
    const fctl = Buffer.alloc(26);
    fctl.writeUInt32BE(seq++, 0);
    fctl.writeUInt32BE(image.width, 4);
    fctl.writeUInt32BE(image.height, 8);
    fctl.writeUInt16BE(1, 20);
    fctl.writeUInt16BE(Math.max(1, Math.round(fps)), 22);
    parts.push(chunk("fcTL", fctl));
    for (const c of chunksOf(png).filter((c) => c.type === "IDAT")) {
      if (n === 0) parts.push(chunk("IDAT", c.data));
      else {
        const seqBuf = Buffer.alloc(4);
        seqBuf.writeUInt32BE(seq++, 0);
        parts.push(chunk("fdAT", Buffer.concat([seqBuf, c.data])));
      }
    }
  });
  parts.push(chunk("IEND", Buffer.alloc(0)));
  return Buffer.concat(parts);
}
