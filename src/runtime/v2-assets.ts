import { randomUUID } from "node:crypto";
import { extname } from "node:path";
import { FormData } from "undici";
import {
  v2AssetReference,
  V2AssetSchema,
  type V2AssetReference,
} from "../protocol/comfy-api-v2.js";
import { contentOf, replaceUploads, type UploadMarker } from "./files.js";
import type { Http } from "./http.js";

/** `content_type` of an upload by its extension; anything else is `application/octet-stream`. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".bmp": "image/bmp",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".mov": "video/quicktime",
  ".wav": "audio/wav",
  ".flac": "audio/flac",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".opus": "audio/opus",
  ".txt": "text/plain",
  ".json": "application/json",
};

/**
 * Input files of a v2 job (builder `localFile()`/`fileBytes()` markers) as Comfy API v2 assets:
 * each is sent once per client with `POST /api/v2/assets` (multipart: `file`, `content_type`,
 * `file_path` under its content-hash name `comfyc-<sha256 prefix><ext>`, `tags: input`, and an
 * `Idempotency-Key`, so a retried upload mints one asset), and the input becomes the asset's
 * `core/ASSET` reference (`{"__type": "core/ASSET", "info": {"id", "hash"?, "file_path"}}`), which
 * the server resolves to the file the node loads. A rejected upload (409 `hash_mismatch`, 413,
 * 422) is a typed `SERVER_ERROR` naming the route.
 */
export class V2Assets {
  /** Content-hash name → the reference of the asset this client minted for it. */
  readonly #known = new Map<string, Promise<V2AssetReference>>();

  constructor(readonly http: Http) {}

  /** The prompt with every upload marker replaced by its asset reference (uploaded once). */
  resolve(prompt: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return replaceUploads(prompt, (marker) => this.#once(marker, signal));
  }

  async #once(marker: UploadMarker, signal?: AbortSignal): Promise<V2AssetReference> {
    const { bytes, name } = await contentOf(marker);
    let minted = this.#known.get(name);
    if (!minted) {
      minted = this.#upload(bytes, name, signal);
      this.#known.set(name, minted);
      // A failed upload is not remembered: the next job tries again.
      minted.catch(() => this.#known.delete(name));
    }
    return minted;
  }

  async #upload(bytes: Uint8Array, name: string, signal?: AbortSignal): Promise<V2AssetReference> {
    const contentType = CONTENT_TYPES[extname(name)] ?? "application/octet-stream";
    // undici's own FormData (Node 20's global one is a class undici's request() cannot read).
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(bytes)], { type: contentType }), name);
    form.append("content_type", contentType);
    form.append("file_path", name);
    form.append("tags", "input");
    const asset = await this.http.json(
      {
        method: "POST",
        path: "api/v2/assets",
        body: form,
        // One key for every attempt of this upload: a retry after a lost reply mints nothing new.
        headers: { "idempotency-key": `comfyc-asset-${randomUUID()}` },
        honourRetryAfter: true,
        ...(signal ? { signal } : {}),
      },
      V2AssetSchema,
    );
    return v2AssetReference({ ...asset, file_path: asset.file_path ?? name });
  }
}
