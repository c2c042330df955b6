import { createHash } from "node:crypto";
import type {} from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { request as undiciRequest } from "undici";
import { ComfycError } from "../errors.js";
import { storeInput, type StagedInput } from "../scale/inputs.js";
import type { Storage } from "../scale/storage.js";
import { ApiError, invalidRequest } from "./api-error.js";

/** Default size limit of one uploaded or fetched image: 20 MiB. */
export const DEFAULT_UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024;

/** Default time limit of fetching one image URL, headers and body: 15 s. */
export const DEFAULT_URL_FETCH_TIMEOUT_MS = 15_000;

/** Redirects followed when fetching an image URL (each target checked against the allow-list). */
const MAX_REDIRECTS = 3;

/**
 * The value a multipart request's file part stands for in `params` until the file is stored:
 * `multipart:<sha256>` (so an `Idempotency-Key` compares the file's content).
 */
const FILE_PLACEHOLDER = "multipart:";

/** Settings of image parameters (see {@link UploadPolicy}). */
export interface UploadOptions {
  /**
   * URL prefixes an image URL may start with (`https://cdn.example.com/images/`); none: image
   * parameters accept multipart files only. `--allow-url-prefix`.
   */
  readonly allowUrlPrefixes?: readonly string[];
  /** Largest image in bytes, uploaded or fetched (default 20 MiB). `--upload-limit`. */
  readonly limitBytes?: number;
  /** Time limit of one URL fetch in ms (default 15000). */
  readonly fetchTimeoutMs?: number;
}

/** A file part of a multipart submission. */
export interface UploadedFile {
  readonly bytes: Buffer;
  readonly filename: string;
}

/**
 * The rules for image parameters ({@link imageParam}): which URLs the gateway fetches, and how
 * big an image may be. A URL is allowed when it is `http(s)` and its normalized form starts with
 * one of the normalized prefixes; a prefix always ends at a `/`, so `https://cdn.example.com`
 * does not allow `https://cdn.example.com.evil.net/`. Redirects are followed only to allowed URLs.
 */
export class UploadPolicy {
  readonly prefixes: readonly string[];
  readonly limitBytes: number;
  readonly fetchTimeoutMs: number;

  /** Throws `USAGE` naming `--allow-url-prefix` for a prefix that is not an http(s) URL. */
  constructor(options: UploadOptions = {}) {
    this.prefixes = (options.allowUrlPrefixes ?? []).map(normalizePrefix);
    this.limitBytes = options.limitBytes ?? DEFAULT_UPLOAD_LIMIT_BYTES;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULT_URL_FETCH_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.limitBytes) || this.limitBytes < 1)
      throw new ComfycError(
        "USAGE",
        `The upload limit must be a positive number of bytes, not ${this.limitBytes}`,
        "Pass --upload-limit <bytes>, e.g. --upload-limit 20971520 (20 MiB).",
      );
  }

  /** Why `value` may not be fetched (a message naming the rule), or `undefined` when it may. */
  urlProblem(value: string): string | undefined {
    if (value.startsWith(FILE_PLACEHOLDER)) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return "expected an image URL (or a multipart file part of this name)";
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      return "an image URL must be http or https";
    if (this.prefixes.length === 0)
      return "this gateway fetches no image URLs (no --allow-url-prefix): send the image as a multipart file part";
    if (!this.prefixes.some((p) => url.href.startsWith(p)))
      return `the URL is not under an allowed prefix (--allow-url-prefix: ${this.prefixes.join(", ")})`;
    return undefined;
  }

  /**
   * Downloads an allowed image URL: no redirect off the allow-list, at most
   * {@link fetchTimeoutMs} in all, at most {@link limitBytes} (counted while streaming, so a
   * bigger body is cut off, not read). Throws `ApiError` 422 (`invalid_request`, naming
   * `path`) for a refused or failed fetch, 413 (`payload_too_large`, naming the limit).
   */
  async fetch(value: string, path: string): Promise<UploadedFile> {
    const signal = AbortSignal.timeout(this.fetchTimeoutMs);
    let url = value;
    for (let hop = 0; ; hop++) {
      const problem = this.urlProblem(url);
      if (problem)
        throw invalidRequest([
          { path, message: hop === 0 ? problem : `redirected to ${url}: ${problem}` },
        ]);
      let res: Awaited<ReturnType<typeof undiciRequest>>;
      try {
        res = await undiciRequest(url, { method: "GET", signal });
      } catch (e) {
        throw invalidRequest([
          {
            path,
            message: signal.aborted
              ? `fetching the image took longer than ${this.fetchTimeoutMs} ms`
              : `the image URL could not be fetched (${(e as Error).message})`,
          },
        ]);
      }
      const location = res.headers["location"];
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === "string") {
        await res.body.dump();
        if (hop >= MAX_REDIRECTS)
          throw invalidRequest([{ path, message: `more than ${MAX_REDIRECTS} redirects` }]);
        url = new URL(location, url).href;
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw invalidRequest([
          { path, message: `the image URL answered HTTP ${res.statusCode}, not 200` },
        ]);
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > this.limitBytes) {
        res.body.destroy();
        throw this.tooLarge(path);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > this.limitBytes) {
            res.body.destroy();
            throw this.tooLarge(path);
          }
          chunks.push(chunk as Buffer);
        }
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw invalidRequest([
          {
            path,
            message: signal.aborted
              ? `fetching the image took longer than ${this.fetchTimeoutMs} ms`
              : `the image download failed (${(e as Error).message})`,
          },
        ]);
      }
      const name = new URL(url).pathname.split("/").pop() || "image.png";
      return { bytes: Buffer.concat(chunks), filename: name };
    }
  }

  /** The 413 for an image over the limit. */
  tooLarge(path: string): ApiError {
    return new ApiError(
      413,
      "payload_too_large",
      `${path}: the image is larger than this gateway's upload limit of ${this.limitBytes} bytes (--upload-limit)`,
      { path, limit_bytes: this.limitBytes },
    );
  }
}

/** `https://cdn.example.com/images` → `https://cdn.example.com/images/`; `USAGE` when not http(s). */
function normalizePrefix(prefix: string): string {
  let url: URL;
  try {
    url = new URL(prefix);
  } catch (cause) {
    throw new ComfycError(
      "USAGE",
      `--allow-url-prefix ${JSON.stringify(prefix)} is not a URL`,
      "Pass an http(s) URL prefix such as https://cdn.example.com/images/.",
      { cause },
    );
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password)
    throw new ComfycError(
      "USAGE",
      `--allow-url-prefix ${JSON.stringify(prefix)} must be an http(s) URL without credentials`,
      "Pass an http(s) URL prefix such as https://cdn.example.com/images/.",
    );
  url.search = "";
  url.hash = "";
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

/**
 * Reads a multipart submission to a workflow with image parameters: a `params` field holding
 * the other parameters as JSON text, optional `webhook` and `priority` fields, and one file part
 * per image parameter, named after it. Returns the body in the JSON shape (each file part
 * standing in `params` as `multipart:<sha256>`, for validation and `Idempotency-Key`) and the
 * files. Throws `ApiError` 422 listing every problem, 413 for a file over the limit.
 */
export async function readMultipartSubmission(
  request: FastifyRequest,
  imageParams: readonly string[],
  policy: UploadPolicy,
  fieldLimitBytes: number,
): Promise<{ body: Record<string, unknown>; files: Map<string, UploadedFile> }> {
  const files = new Map<string, UploadedFile>();
  const fields: Record<string, string> = {};
  const problems: { path: string; message: string }[] = [];
  try {
    const parts = request.parts({
      limits: {
        fileSize: policy.limitBytes,
        files: imageParams.length,
        fields: 8,
        fieldSize: fieldLimitBytes,
      },
    });
    for await (const part of parts) {
      if (part.type === "file") {
        if (!imageParams.includes(part.fieldname) || files.has(part.fieldname)) {
          await part.toBuffer().catch(() => undefined);
          problems.push({
            path: part.fieldname,
            message: files.has(part.fieldname)
              ? "this file part is given twice"
              : `not an image parameter of this workflow (${imageParams.join(", ")})`,
          });
          continue;
        }
        let bytes: Buffer;
        try {
          bytes = await part.toBuffer();
        } catch (e) {
          if ((e as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE")
            throw policy.tooLarge(`params.${part.fieldname}`);
          throw e;
        }
        if (bytes.length === 0) {
          problems.push({ path: `params.${part.fieldname}`, message: "the file part is empty" });
          continue;
        }
        files.set(part.fieldname, { bytes, filename: part.filename || "image.png" });
      } else if (part.fieldname in fields) {
        problems.push({ path: part.fieldname, message: "this field is given twice" });
      } else if (imageParams.includes(part.fieldname)) {
        // A text field under an image parameter's name (curl -F image=photo.png, without @).
        problems.push({
          path: `params.${part.fieldname}`,
          message: `send the image as a file part (curl -F ${part.fieldname}=@photo.png), or its URL inside params`,
        });
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    const code = (e as { code?: string }).code;
    if (code === "FST_FILES_LIMIT")
      throw invalidRequest([
        {
          path: "",
          message: `at most ${imageParams.length} file part(s): ${imageParams.join(", ")}`,
        },
      ]);
    if (code === "FST_FIELDS_LIMIT" || code === "FST_PARTS_LIMIT")
      throw invalidRequest([{ path: "", message: "too many multipart fields" }]);
    throw new ApiError(400, "bad_request", "The multipart body could not be read.");
  }
  const body: Record<string, unknown> = {};
  let params: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(fields)) {
    if (name === "params") {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
          problems.push({ path: "params", message: "expected a JSON object" });
        else params = parsed as Record<string, unknown>;
      } catch {
        problems.push({ path: "params", message: "not valid JSON" });
      }
    } else if (name === "priority") {
      body["priority"] = /^\d{1,9}$/.test(text) ? Number(text) : text;
    } else body[name] = text;
  }
  for (const [name, file] of files) {
    if (params[name] !== undefined) {
      problems.push({
        path: `params.${name}`,
        message: "given both as a file part and in params; send one",
      });
      continue;
    }
    params[name] = `${FILE_PLACEHOLDER}${createHash("sha256").update(file.bytes).digest("hex")}`;
  }
  if (problems.length) throw invalidRequest(problems);
  body["params"] = params;
  return { body, files };
}

/**
 * Stores the image of every image parameter that has one (a multipart file, else a URL fetched
 * under the policy) and puts the stored file's name in its place. Returns the parameters to
 * compile and the inputs the job carries (`EnqueueOptions.inputs`).
 */
export async function stageImageParams(
  params: Record<string, unknown>,
  imageParams: readonly string[],
  files: ReadonlyMap<string, UploadedFile> | undefined,
  policy: UploadPolicy,
  storage: Storage,
): Promise<{ params: Record<string, unknown>; inputs: StagedInput[] }> {
  const out = { ...params };
  const inputs: StagedInput[] = [];
  for (const name of imageParams) {
    const value = out[name];
    if (typeof value !== "string") continue;
    const path = `params.${name}`;
    const file = value.startsWith(FILE_PLACEHOLDER) ? files?.get(name) : undefined;
    if (value.startsWith(FILE_PLACEHOLDER) && !file)
      throw invalidRequest([{ path, message: "no file part of this name was sent" }]);
    const image = file ?? (await policy.fetch(value, path));
    let staged: StagedInput;
    try {
      staged = await storeInput(storage, image.bytes, image.filename);
    } catch (cause) {
      throw Object.assign(
        new ApiError(
          503,
          "storage_unavailable",
          "The image could not be stored; retry later.",
          undefined,
          {
            "retry-after": "5",
          },
        ),
        { cause },
      );
    }
    out[name] = staged.name;
    inputs.push(staged);
  }
  return { params: out, inputs };
}
