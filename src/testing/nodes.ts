import { createHash, randomInt, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeClassIR } from "../schema/ir.js";
import { parseJsonLossless, stringifyJson } from "../protocol/json.js";
import type { ComfyuiRules } from "../protocol/comfyui-version.js";
import { pyJsonDumps, pyRepr, pyStr } from "../schema/python-format.js";
import { counterName, savePath, type Folders, type FolderType } from "./files.js";
import {
  decodePng,
  encodeApng,
  encodeImage,
  imageTensor,
  invert,
  pattern,
  resize,
  solid,
  type ImageBatch,
} from "./images.js";
import { torchRepr } from "./torch-repr.js";
import { missingImageExceptionType, type FailureSite } from "./tracebacks.js";

/** A value flowing along a link, symbolic unless a model-free node computed real pixels. */
export type Value =
  | { readonly kind: "IMAGE"; readonly image: ImageBatch }
  | {
      readonly kind: "LATENT";
      readonly width: number;
      readonly height: number;
      readonly batch: number;
      readonly seed: number;
    }
  | {
      readonly kind: "MASK";
      readonly width: number;
      readonly height: number;
      readonly batch: number;
    }
  | { readonly kind: "opaque"; readonly type: string; readonly from: string }
  | string
  | number
  | bigint
  | boolean
  | null
  | Readonly<Record<string, unknown>>;

/** A Python exception raised by a simulated node: becomes `execution_error`. */
export class NodeFailure extends Error {
  constructor(
    readonly exceptionType: string,
    message: string,
    /** Where the real node would have raised it: picks the traceback's frames. */
    readonly site?: FailureSite,
  ) {
    super(message);
  }
}

/** What a node run can use and report. */
export interface RunContext {
  readonly nodeId: string;
  readonly cls: Omit<NodeClassIR, "identifier">;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly folders: Folders;
  /** The release the server imitates (file names, SaveText). */
  readonly rules: ComfyuiRules;
  readonly prompt: Record<string, unknown>;
  readonly extraPngInfo: Record<string, unknown> | undefined;
  /** Reports sampler progress; throws when the prompt was interrupted. */
  progress(value: number, max: number): Promise<void>;
  /** Sends a binary text frame (type 3), as GetImageSize does. */
  text(text: string): void;
}

/** What a node returns: one value per output, and its UI dict for output nodes. */
export interface RunResult {
  readonly outputs: readonly Value[];
  readonly ui?: Record<string, unknown[]>;
}

const isImage = (v: unknown): v is Extract<Value, { kind: "IMAGE" }> =>
  typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "IMAGE";
const isLatent = (v: unknown): v is Extract<Value, { kind: "LATENT" }> =>
  typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "LATENT";
const isMask = (v: unknown): v is Extract<Value, { kind: "MASK" }> =>
  typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "MASK";

const num = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v) ? v : typeof v === "bigint" ? Number(v) : fallback;

function seedOf(ctx: RunContext): number {
  const text = JSON.stringify(ctx.inputs, (_k, v: unknown) =>
    typeof v === "bigint" ? v.toString() : isImage(v) ? `${v.image.width}x${v.image.height}` : v,
  );
  return createHash("sha256")
    .update(ctx.cls.classType)
    .update(text ?? "")
    .digest()
    .readUInt32BE(0);
}

/** Pixel size and batch of the first image-like input, or of width/height widgets. */
function geometry(ctx: RunContext): { width: number; height: number; batch: number } {
  for (const v of Object.values(ctx.inputs)) {
    if (isImage(v))
      return { width: v.image.width, height: v.image.height, batch: v.image.frames.length };
    if (isLatent(v) || isMask(v)) return { width: v.width, height: v.height, batch: v.batch };
  }
  return {
    width: num(ctx.inputs["width"], 512),
    height: num(ctx.inputs["height"], 512),
    batch: num(ctx.inputs["batch_size"], 1),
  };
}

function isSampler(cls: RunContext["cls"]): boolean {
  return (
    cls.outputs.some((o) => o.type === "LATENT") &&
    (cls.inputs.some((i) => i.name === "steps") || /sampler/i.test(cls.classType))
  );
}

const AUDIO_EXT: Record<string, string> = {
  SaveAudio: ".flac",
  SaveAudioMP3: ".mp3",
  SaveAudioOpus: ".opus",
};

/** Runs one node. Unknown classes derive outputs from their types and their inputs. */
export async function runNode(ctx: RunContext): Promise<RunResult> {
  const { cls, inputs } = ctx;
  const g = geometry(ctx);
  switch (cls.classType) {
    case "EmptyImage":
      return {
        outputs: [
          { kind: "IMAGE", image: solid(g.width, g.height, g.batch, num(inputs["color"], 0)) },
        ],
      };
    case "LoadImage":
    case "LoadImageMask":
    case "LoadImageOutput":
      return loadImage(ctx);
    case "ImageInvert":
      return { outputs: [{ kind: "IMAGE", image: invert(requireImage(inputs["image"])) }] };
    case "ImageScale": {
      const image = requireImage(inputs["image"]);
      let width = num(inputs["width"], image.width);
      let height = num(inputs["height"], image.height);
      if (width === 0) width = Math.max(1, Math.round((image.width * height) / image.height));
      if (height === 0) height = Math.max(1, Math.round((image.height * width) / image.width));
      return { outputs: [{ kind: "IMAGE", image: resize(image, width, height) }] };
    }
    case "ImageScaleBy": {
      const image = requireImage(inputs["image"]);
      const s = num(inputs["scale_by"], 1);
      return {
        outputs: [
          {
            kind: "IMAGE",
            image: resize(
              image,
              Math.max(1, Math.round(image.width * s)),
              Math.max(1, Math.round(image.height * s)),
            ),
          },
        ],
      };
    }
    case "GetImageSize": {
      const image = requireImage(inputs["image"]);
      ctx.text(
        `width: ${image.width}, height: ${image.height}\n batch size: ${image.frames.length}`,
      );
      return { outputs: [image.width, image.height, image.frames.length] };
    }
    case "SaveImage":
      return saveImages(ctx, "output", String(inputs["filename_prefix"] ?? "ComfyUI"));
    case "PreviewImage":
      return saveImages(ctx, "temp", `ComfyUI_temp_${randomLetters(5)}`);
    case "SaveAnimatedPNG":
    case "SaveAnimatedWEBP":
      return saveAnimated(ctx);
    case "StringConcatenate":
      // `delimiter.join((string_a, string_b))` (comfy_extras/nodes_string.py).
      return {
        outputs: [
          [inputs["string_a"], inputs["string_b"]]
            .map((v) => pyStr(v ?? ""))
            .join(pyStr(inputs["delimiter"] ?? "")),
        ],
      };
    case "SaveGLB":
      // `{"3d": [{filename, subfolder, type}]}`, `<prefix>_00001_.glb` (nodes_save_3d.py; 0.3.64's
      // nodes_hunyuan3d.py names and shows it the same way).
      return saveFile(
        ctx,
        "3d",
        String(inputs["filename_prefix"] ?? "3d/ComfyUI"),
        ".glb",
        placeholderGlb(),
      );
    case "Preview3D":
    case "Preview3DAnimation":
      return { outputs: [], ui: { result: preview3d(ctx) } };
    case "PreviewAny":
      return { outputs: [], ui: { text: [previewText(inputs["source"], ctx.rules)] } };
    case "SaveLatent":
      return saveFile(
        ctx,
        "latents",
        String(inputs["filename_prefix"] ?? "latents/ComfyUI"),
        ".latent",
        Buffer.from(JSON.stringify(inputs["samples"] ?? {})),
      );
  }
  if (AUDIO_EXT[cls.classType]) {
    return saveFile(
      ctx,
      "audio",
      String(inputs["filename_prefix"] ?? "audio/ComfyUI"),
      AUDIO_EXT[cls.classType]!,
      placeholder("audio"),
      !ctx.rules.has("audioNamesNoTrailingUnderscore"),
    );
  }
  if (cls.classType === "SaveText") return saveText(ctx);
  if (cls.classType === "SaveVideo" || cls.classType === "SaveWEBM") {
    const ext = cls.classType === "SaveWEBM" ? ".webm" : ".mp4";
    const result = await saveFile(
      ctx,
      "images",
      String(inputs["filename_prefix"] ?? "video/ComfyUI"),
      ext,
      placeholder("video"),
    );
    return { ...result, ui: { ...result.ui, animated: [true] } };
  }
  if (isSampler(cls)) {
    const steps = Math.max(1, Math.min(10_000, num(inputs["steps"], 1)));
    for (let i = 1; i <= steps; i++) await ctx.progress(i, steps);
  }
  return { outputs: cls.outputs.map((o) => deriveOutput(ctx, o.type, g)) };
}

function deriveOutput(
  ctx: RunContext,
  type: string,
  g: { width: number; height: number; batch: number },
): Value {
  const seed = seedOf(ctx);
  const inputs = Object.values(ctx.inputs);
  switch (type) {
    case "IMAGE": {
      const latent = inputs.find(isLatent);
      if (latent)
        return {
          kind: "IMAGE",
          image: pattern(latent.width, latent.height, latent.batch, latent.seed),
        };
      const image = inputs.find(isImage);
      if (image) return image;
      return { kind: "IMAGE", image: pattern(g.width, g.height, g.batch, seed) };
    }
    case "LATENT": {
      const scale = num(ctx.inputs["scale_by"], 1);
      if (ctx.cls.classType === "LatentUpscale") {
        return {
          kind: "LATENT",
          width: num(ctx.inputs["width"], g.width),
          height: num(ctx.inputs["height"], g.height),
          batch: g.batch,
          seed,
        };
      }
      return {
        kind: "LATENT",
        width: Math.round(g.width * scale),
        height: Math.round(g.height * scale),
        batch: g.batch,
        seed,
      };
    }
    case "MASK":
      return { kind: "MASK", width: g.width, height: g.height, batch: g.batch };
    case "INT":
    case "FLOAT":
    case "BOOLEAN":
    case "STRING": {
      const widget = ctx.cls.inputs.find(
        (i) => i.kind === type.toLowerCase() || (type === "INT" && i.kind === "int"),
      );
      const v = widget ? ctx.inputs[widget.name] : undefined;
      if (v !== undefined) return v as Value;
      return type === "STRING" ? "" : type === "BOOLEAN" ? false : 0;
    }
    default:
      return { kind: "opaque", type, from: `${ctx.cls.classType}#${ctx.nodeId}` };
  }
}

function requireImage(v: unknown): ImageBatch {
  if (isImage(v)) return v.image;
  throw new NodeFailure("AttributeError", "'NoneType' object has no attribute 'shape'");
}

function loadImage(ctx: RunContext): RunResult {
  const value = String(ctx.inputs["image"] ?? "");
  const path = ctx.folders.annotatedPath(value);
  if (!path) {
    // Validation saw the file; it went away since. The message names the path as
    // folder_paths.get_annotated_filepath joins it.
    const m = /^(.*) \[(input|output|temp)\]$/.exec(value);
    const full = `${ctx.folders.dir((m?.[2] as FolderType | undefined) ?? "input")}/${m?.[1] ?? value}`;
    throw new NodeFailure(
      missingImageExceptionType(ctx.rules),
      `[Errno 2] No such file or directory: '${full}'`,
      "image_missing",
    );
  }
  let image: ImageBatch;
  try {
    ({ image } = decodePng(readFileSync(path)));
  } catch {
    throw new NodeFailure(
      "PIL.UnidentifiedImageError",
      `cannot identify image file '${path}'`,
      "image_unreadable",
    );
  }
  const mask: Value = { kind: "MASK", width: image.width, height: image.height, batch: 1 };
  if (ctx.cls.classType === "LoadImageMask") return { outputs: [mask] };
  return { outputs: [{ kind: "IMAGE", image }, mask] };
}

/** The `tEXt` chunks of a saved PNG: `json.dumps` of the prompt and of each extra_pnginfo key. */
function pngText(ctx: RunContext): Record<string, string> {
  const text: Record<string, string> = { prompt: pyJsonDumps(ctx.prompt) };
  for (const [k, v] of Object.entries(ctx.extraPngInfo ?? {})) text[k] = pyJsonDumps(v);
  return text;
}

const bigintSafe = (_k: string, v: unknown) => (typeof v === "bigint" ? Number(v) : v);

function saveImages(ctx: RunContext, type: "output" | "temp", prefix: string): RunResult {
  const image = requireImage(ctx.inputs["images"]);
  const at = target(ctx, type, prefix, image.width, image.height);
  const images = image.frames.map((_, i) => {
    const filename = counterName(at.filename, at.counter + i, ".png");
    writeFileSync(
      join(at.folder, filename),
      encodeImage(image, i, type === "output" ? pngText(ctx) : {}),
    );
    return { filename, subfolder: at.subfolder, type };
  });
  return { outputs: [], ui: { images } };
}

function saveAnimated(ctx: RunContext): RunResult {
  const image = requireImage(ctx.inputs["images"]);
  const fps = num(ctx.inputs["fps"], 6);
  const webp = ctx.cls.classType === "SaveAnimatedWEBP";
  const at = target(
    ctx,
    "output",
    String(ctx.inputs["filename_prefix"] ?? "ComfyUI"),
    image.width,
    image.height,
  );
  const filename = counterName(at.filename, at.counter, webp ? ".webp" : ".png");
  writeFileSync(join(at.folder, filename), webp ? placeholder("webp") : encodeApng(image, fps));
  return {
    outputs: [],
    ui: { images: [{ filename, subfolder: at.subfolder, type: "output" }], animated: [true] },
  };
}

async function saveFile(
  ctx: RunContext,
  key: string,
  prefix: string,
  ext: string,
  bytes: Buffer,
  underscore = true,
): Promise<RunResult> {
  const g = geometry(ctx);
  const at = target(ctx, "output", prefix, g.width, g.height);
  const filename = counterName(at.filename, at.counter, ext, underscore);
  writeFileSync(join(at.folder, filename), bytes);
  return { outputs: [], ui: { [key]: [{ filename, subfolder: at.subfolder, type: "output" }] } };
}

/**
 * SaveText (0.28.0, `comfy_extras/nodes_text.py`): writes `<prefix>_00001.<format>` (JSON that
 * parses is re-indented by two spaces), outputs the text and shows
 * `{"text": [text], "files": [{filename, subfolder, type}]}`.
 */
function saveText(ctx: RunContext): RunResult {
  const text = pyStr(ctx.inputs["text"] ?? "");
  const format = String(ctx.inputs["format"] ?? "txt");
  if (!["txt", "csv", "md", "json"].includes(format))
    throw new NodeFailure("ValueError", `Unsupported text format: ${pyRepr(format)}`);
  const at = target(ctx, "output", String(ctx.inputs["filename_prefix"] ?? "ComfyUI"), 1, 1);
  const filename = counterName(at.filename, at.counter, `.${format}`, false);
  let body = text;
  if (format === "json") {
    try {
      body = stringifyJson(parseJsonLossless(text), 2);
    } catch {
      // Not JSON: saved as it is, as the node does.
    }
  }
  writeFileSync(join(at.folder, filename), body, "utf8");
  return {
    outputs: [text],
    ui: { text: [text], files: [{ filename, subfolder: at.subfolder, type: "output" }] },
  };
}

function target(
  ctx: RunContext,
  type: "output" | "temp",
  prefix: string,
  width: number,
  height: number,
) {
  try {
    return savePath(ctx.folders.dir(type), prefix, width, height, {
      commonpathInError: !ctx.rules.has("saveOutsideErrorWithoutCommonpath"),
    });
  } catch (e) {
    const message = (e as Error).message;
    const outside = message.startsWith("**** ERROR: Saving image outside");
    throw new NodeFailure("Exception", message, outside ? "save_outside" : undefined);
  }
}

/** Files the server cannot really encode: a recognisable container header and a note. */
/**
 * Preview3D's `result` (`comfy_extras/nodes_load_3d.py`): `[model_file, camera_info]`, and from
 * 0.4.0 (`previewUI3DBackground`) a third item, the `temp/bg_<hex>.png` its `bg_image` input was
 * saved as, or null.
 */
function preview3d(ctx: RunContext): unknown[] {
  const camera = ctx.inputs["camera_info"];
  const result: unknown[] = [
    ctx.inputs["model_file"] ?? "",
    camera === undefined || isImage(camera) ? null : camera,
  ];
  if (!ctx.rules.has("previewUI3DBackground")) return result;
  const bg = ctx.inputs["bg_image"];
  if (!isImage(bg)) return [...result, null];
  const filename = `bg_${randomUUID().replaceAll("-", "")}.png`;
  writeFileSync(join(ctx.folders.dir("temp"), filename), encodeImage(bg.image, 0));
  return [...result, `temp/${filename}`];
}

/** A minimal valid binary glTF 2.0 file (header and one JSON chunk), as SaveGLB's stand-in. */
function placeholderGlb(): Buffer {
  let json = JSON.stringify({ asset: { version: "2.0", generator: "comfyc test server" } });
  while (json.length % 4 !== 0) json += " ";
  const body = Buffer.from(json, "utf8");
  const header = Buffer.alloc(20);
  header.write("glTF", 0, "latin1");
  header.writeUInt32LE(2, 4);
  header.writeUInt32LE(20 + body.length, 8);
  header.writeUInt32LE(body.length, 12);
  header.write("JSON", 16, "latin1");
  return Buffer.concat([header, body]);
}

function placeholder(kind: "audio" | "video" | "webp"): Buffer {
  const note = Buffer.from(`comfyc test server placeholder ${kind}\n`);
  if (kind === "webp") {
    const header = Buffer.alloc(12);
    header.write("RIFF", 0, "latin1");
    header.writeUInt32LE(4 + note.length, 4);
    header.write("WEBP", 8, "latin1");
    return Buffer.concat([header, note]);
  }
  if (kind === "video")
    return Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]),
      Buffer.from("ftypisom", "latin1"),
      Buffer.alloc(12),
      note,
    ]);
  return Buffer.concat([Buffer.from("fLaC", "latin1"), note]);
}

/**
 * PreviewAny's text (`comfy_extras/nodes_preview_any.py`): a string as it is, a number or a
 * boolean as Python's `str()`, an IMAGE as torch prints the tensor (with 6 edge items from the
 * release that sets `edgeitems=6`, rule `previewAnySixEdgeItems`), anything else as JSON.
 */
function previewText(v: unknown, rules: ComfyuiRules): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return pyStr(v);
  if (isImage(v))
    return torchRepr(imageTensor(v.image), {
      edgeitems: rules.has("previewAnySixEdgeItems") ? 6 : 3,
    });
  return JSON.stringify(v, bigintSafe) ?? "None";
}

function randomLetters(n: number): string {
  return Array.from({ length: n }, () => String.fromCharCode(97 + randomInt(26))).join("");
}
