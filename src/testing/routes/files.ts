import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, join } from "node:path";
import { PNG } from "pngjs";
import type { App } from "../app.js";
import { contentTypeOf, FOLDER_TYPES, uploadTarget, type FolderType } from "../files.js";
import { HttpStatus, readMultipart, sendEmpty, sendJson, type Route } from "../http.js";

/** `GET /view` (files, with `channel=rgb|a`) and `POST /upload/image|mask` (protocol §10). */
export function fileRoutes(app: App): Route[] {
  return [
    { method: "GET", path: "/view", handle: ({ res, url }) => view(app, res, url) },
    {
      method: "POST",
      path: "/upload/image",
      handle: ({ req, res }) => upload(app, req, res, false),
    },
    { method: "POST", path: "/upload/mask", handle: ({ req, res }) => upload(app, req, res, true) },
  ];
}

function view(app: App, res: ServerResponse, url: URL): void {
  const { folders } = app;
  let filename = url.searchParams.get("filename");
  if (filename === null) return sendEmpty(res, 404);
  let type = url.searchParams.get("type") ?? "output";
  const m = /^(.*) \[(input|output|temp)\]$/.exec(filename);
  if (m) {
    filename = m[1]!;
    type = m[2]!;
  }
  if (filename.startsWith("/") || filename.includes("..")) return sendEmpty(res, 400);
  if (!FOLDER_TYPES.includes(type as FolderType)) return sendEmpty(res, 400);
  const dir = folders.within(type as FolderType, url.searchParams.get("subfolder") ?? "");
  if (!dir) return sendEmpty(res, 403);
  const name = basename(filename);
  const path = join(dir, name);
  if (!existsSync(path) || !statSync(path).isFile()) return sendEmpty(res, 404);
  const channel = url.searchParams.get("channel");
  if ((channel === "rgb" || channel === "a") && name.toLowerCase().endsWith(".png")) {
    try {
      const png = PNG.sync.read(readFileSync(path));
      for (let i = 0; i < png.data.length; i += 4) {
        if (channel === "rgb") png.data[i + 3] = 255;
        else {
          const a = png.data[i + 3]!;
          png.data[i] = png.data[i + 1] = png.data[i + 2] = 0;
          png.data[i + 3] = a;
        }
      }
      // Pillow's img.convert("RGB") is saved as an RGB PNG (colour type 2); the alpha view
      // as RGBA (server.py view_image).
      const bytes = PNG.sync.write(png, channel === "rgb" ? { colorType: 2 } : {});
      res.writeHead(200, {
        "Content-Type": "image/png",
        "Content-Disposition": `filename="${name}"`,
        "Content-Length": bytes.length,
      });
      res.end(bytes);
      return;
    } catch {
      // Not decodable: serve the raw file like the rgba channel.
    }
  }
  res.writeHead(200, {
    "Content-Type": contentTypeOf(name),
    "Content-Disposition": `filename="${name}"`,
    "Content-Length": statSync(path).size,
  });
  createReadStream(path).pipe(res);
}

async function upload(
  app: App,
  req: IncomingMessage,
  res: ServerResponse,
  mask: boolean,
): Promise<void> {
  const { folders } = app;
  const { fields, file } = await readMultipart(req, app.maxUpload);
  if (!file || !file.filename) return sendEmpty(res, 400);
  const type = fields["type"] ?? "input";
  if (!FOLDER_TYPES.includes(type as FolderType)) throw new HttpStatus(500);
  const subfolder = fields["subfolder"] ?? "";
  const dir = folders.within(type as FolderType, subfolder);
  if (!dir) return sendEmpty(res, 400);
  mkdirSync(dir, { recursive: true });
  const overwrite = fields["overwrite"] === "true" || fields["overwrite"] === "1";
  const safeName = basename(file.filename);
  let bytes = file.bytes;
  if (mask) {
    if (fields["original_ref"] === undefined) throw new HttpStatus(500);
    let ref: { filename?: string; subfolder?: string; type?: string };
    try {
      ref = JSON.parse(fields["original_ref"]) as typeof ref;
    } catch {
      throw new HttpStatus(500);
    }
    const original = ref.filename
      ? folders.annotatedPath(
          ref.subfolder
            ? `${ref.subfolder}/${ref.filename} [${ref.type ?? "input"}]`
            : `${ref.filename} [${ref.type ?? "input"}]`,
        )
      : undefined;
    // The server discards the helper's error: 200 with nothing written.
    if (!original) return sendJson(res, 200, { name: safeName, subfolder, type });
    try {
      const base = PNG.sync.read(readFileSync(original));
      const alpha = PNG.sync.read(bytes);
      for (let i = 3; i < base.data.length && i < alpha.data.length; i += 4)
        base.data[i] = alpha.data[i]!;
      bytes = PNG.sync.write(base);
    } catch {
      return sendJson(res, 200, { name: safeName, subfolder, type });
    }
  }
  const target = uploadTarget(dir, safeName, bytes, overwrite);
  if (target.write) writeFileSync(target.path, bytes);
  sendJson(res, 200, { name: target.name, subfolder, type });
}
