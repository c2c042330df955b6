import { crc32 } from "node:zlib";
import { PNG } from "pngjs";

/**
 * Images as the test server sees them, as ComfyUI's IMAGE tensors are: a batch of RGB frames of
 * one size, each pixel three float32 values in [0, 1] (`[B, H, W, 3]`, row-major). Pixels are
 * real where a model-free node can compute them (EmptyImage's color, LoadImage's file,
 * inversion), with float32 arithmetic as torch and numpy do it, so saved files match a real
 * server byte for byte; model nodes produce a deterministic pattern derived from their inputs.
 */
export interface ImageBatch {
  readonly width: number;
  readonly height: number;
  /** One RGB float32 array (`width × height × 3`) per image of the batch. */
  readonly frames: readonly Float32Array[];
}

/** The batch as torch holds it: one `[batch, height, width, 3]` float32 tensor. */
export function imageTensor(image: ImageBatch): { shape: number[]; data: Float32Array } {
  const size = image.width * image.height * 3;
  const data = new Float32Array(size * image.frames.length);
  image.frames.forEach((frame, i) => data.set(frame, i * size));
  return { shape: [image.frames.length, image.height, image.width, 3], data };
}

/** Largest image the server fills with pixels; bigger ones are rejected like an OOM. */
export const MAX_PIXELS = 64 * 1024 * 1024;

const f32 = Math.fround;

/**
 * A batch filled with one 0xRRGGBB color: `torch.full(…, ((color >> 16) & 0xFF) / 0xFF)` per
 * channel (`nodes.py` `EmptyImage.generate`), a double rounded to float32.
 */
export function solid(width: number, height: number, batch: number, color: number): ImageBatch {
  assertSize(width, height, batch);
  const rgb = [(color >> 16) & 255, (color >> 8) & 255, color & 255].map((c) => f32(c / 255));
  const frame = new Float32Array(width * height * 3);
  for (let i = 0; i < frame.length; i += 3) frame.set(rgb, i);
  return { width, height, frames: Array.from({ length: batch }, () => frame.slice()) };
}

/** A deterministic gradient seeded by `seed`: what a sampler "renders". */
export function pattern(width: number, height: number, batch: number, seed: number): ImageBatch {
  assertSize(width, height, batch);
  const frames: Float32Array[] = [];
  for (let n = 0; n < batch; n++) {
    const s = (seed + n * 7919) >>> 0;
    const frame = new Float32Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        frame[i] = f32((((x * 255) / Math.max(1, width - 1) + (s & 63)) & 255) / 255);
        frame[i + 1] = f32((((y * 255) / Math.max(1, height - 1) + ((s >> 6) & 63)) & 255) / 255);
        frame[i + 2] = f32((((x + y + s) * 3) & 255) / 255);
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

/** `1.0 - image` in float32 (`nodes.py` `ImageInvert.invert`). */
export function invert(image: ImageBatch): ImageBatch {
  return { ...image, frames: image.frames.map((f) => f.map((v) => f32(1 - v))) };
}

/** Nearest-neighbour resize (ImageScale and friends). */
export function resize(image: ImageBatch, width: number, height: number): ImageBatch {
  assertSize(width, height, image.frames.length);
  return {
    width,
    height,
    frames: image.frames.map((f) => {
      const out = new Float32Array(width * height * 3);
      for (let y = 0; y < height; y++) {
        const sy = Math.min(image.height - 1, Math.floor((y * image.height) / height));
        for (let x = 0; x < width; x++) {
          const sx = Math.min(image.width - 1, Math.floor((x * image.width) / width));
          const from = (sy * image.width + sx) * 3;
          out.set(f.subarray(from, from + 3), (y * width + x) * 3);
        }
      }
      return out;
    }),
  };
}

/**
 * The 8-bit RGBA pixels of a frame as ComfyUI saves it:
 * `np.clip(255. * image, 0, 255).astype(np.uint8)` (float32 product, truncated; `nodes.py`
 * `SaveImage.save_images`), opaque.
 */
export function toRgba(frame: Float32Array): Buffer {
  const out = Buffer.alloc((frame.length / 3) * 4);
  for (let i = 0, o = 0; i < frame.length; i += 3, o += 4) {
    for (let c = 0; c < 3; c++) {
      const v = f32(255 * frame[i + c]!);
      // NaN casts to 0 here, as numpy's uint8 cast of NaN does on x86.
      out[o + c] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
    out[o + 3] = 255;
  }
  return out;
}

/**
 * A saved image: an RGB PNG (PIL's `Image.fromarray` of a `[H, W, 3]` uint8 array), with the
 * `tEXt` chunks ComfyUI adds (`prompt`, `workflow`, …).
 */
export function encodeImage(
  image: ImageBatch,
  index: number,
  text: Record<string, string> = {},
): Buffer {
  return encodePng(image.width, image.height, toRgba(image.frames[index]!), text, false);
}

/**
 * PNG bytes of one RGBA frame (RGB when `alpha` is false), with optional tEXt chunks (ComfyUI's
 * prompt metadata).
 */
export function encodePng(
  width: number,
  height: number,
  rgba: Buffer,
  text: Record<string, string> = {},
  alpha = true,
): Buffer {
  const png = new PNG({ width, height });
  rgba.copy(png.data);
  const bytes = PNG.sync.write(png, alpha ? {} : { colorType: 2 });
  const entries = Object.entries(text);
  if (entries.length === 0) return bytes;
  const chunks = entries.map(([k, v]) =>
    chunk(
      "tEXt",
      Buffer.concat([Buffer.from(k, "latin1"), Buffer.from([0]), Buffer.from(v, "latin1")]),
    ),
  );
  // tEXt chunks go right after IHDR (8-byte signature + 25-byte IHDR chunk).
  return Buffer.concat([bytes.subarray(0, 33), ...chunks, bytes.subarray(33)]);
}

/**
 * Decodes a PNG as LoadImage does: RGB as `np.array(i.convert("RGB")).astype(np.float32) / 255.0`,
 * and the alpha channel (`alpha`, 8-bit, one per pixel; absent when the file has none).
 * Throws on anything that is not a PNG (the server's PIL error).
 */
export function decodePng(bytes: Buffer): { image: ImageBatch; alpha?: Uint8Array } {
  const png = PNG.sync.read(bytes);
  const pixels = png.width * png.height;
  const frame = new Float32Array(pixels * 3);
  const alpha = new Uint8Array(pixels);
  let opaque = true;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) frame[p * 3 + c] = f32(png.data[p * 4 + c]! / 255);
    alpha[p] = png.data[p * 4 + 3]!;
    if (alpha[p] !== 255) opaque = false;
  }
  return {
    image: { width: png.width, height: png.height, frames: [frame] },
    ...(opaque && !png.alpha ? {} : { alpha }),
  };
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
  const pngs = image.frames.map((_, i) => encodeImage(image, i));
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
