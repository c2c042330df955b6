import type { Readable } from "node:stream";
import { ComfycError, requirePackages } from "../errors.js";
import { S3_PACKAGES } from "./packages.js";

/** An object in storage. */
export interface StoredObject {
  /** Job-scoped key, `<job id>/<node id>/<file>`. */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  readonly contentType?: string;
}

/**
 * Where workers copy job outputs: a small interface with a local-folder implementation
 * ({@link LocalStorage}) and an S3-compatible one ({@link S3Storage}). Bodies are streams in
 * both directions, so an output of any size never sits whole in memory.
 */
export interface Storage {
  /** Where this storage writes, for logs and job records (`file:///srv/out`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Writes `body` under `key`, replacing what was there; resolves when it is durable. */
  put(
    key: string,
    body: Readable | Uint8Array,
    options?: { readonly contentType?: string },
  ): Promise<StoredObject>;
  /** Reads an object; rejects with `NOT_FOUND` when there is none. */
  get(key: string): Promise<Readable>;
  /** Size and type of an object, or `undefined`. */
  stat(key: string): Promise<StoredObject | undefined>;
  /**
   * A URL to download the object: presigned (valid `expiresInSeconds`, default the storage's
   * own) for S3, `file://` for a local folder.
   */
  url(key: string, options?: { readonly expiresInSeconds?: number }): Promise<string>;
  /** Removes an object; no error when it does not exist. */
  delete(key: string): Promise<void>;
  /** Releases connections. */
  close?(): Promise<void>;
}

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Checks a storage key: `/`-separated segments of letters, digits, `.`, `_` and `-`, none
 * starting with a dot, so no key can escape its folder or prefix. Throws `UNSAFE_PATH`.
 */
export function checkKey(key: string): string {
  const segments = key.split("/");
  if (segments.length === 0 || !segments.every((s) => SAFE_SEGMENT.test(s)))
    throw new ComfycError(
      "UNSAFE_PATH",
      `Storage key ${JSON.stringify(key)} is not a safe relative path`,
      "Keys are `/`-separated names of letters, digits, '.', '_' and '-' (no '..', no leading dot).",
    );
  return key;
}

/**
 * One segment made from an untrusted name (a ComfyUI file name): the base name only, unsafe
 * characters replaced by `_`, a leading dot removed, at most 200 characters.
 */
export function safeSegment(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  let s = base.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "");
  if (s.length > 200) s = s.slice(s.length - 200).replace(/^[._-]+/, "");
  return s || "file";
}

/**
 * The job-scoped key of an output file: `<job id>/<node id>/<file>`. The file name comes from
 * the server and is untrusted: only its base name is kept, made safe by {@link safeSegment}.
 */
export function outputKey(jobId: string, nodeId: string, filename: string): string {
  return checkKey(`${safeSegment(jobId)}/${safeSegment(nodeId)}/${safeSegment(filename)}`);
}

/** Options for {@link openStorage} beyond what the URL says. */
export interface OpenStorageOptions {
  /** Presigned URL lifetime in seconds (S3; default 3600, or the URL's `expires`). */
  readonly expiresInSeconds?: number;
}

/**
 * Opens storage from a URL, as `--storage` takes it:
 * - a path or `file:///abs/path`: a local folder (created when missing);
 * - `s3://bucket[/prefix]?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true&expires=3600`:
 *   S3 or an S3-compatible server, credentials from the AWS SDK's usual chain
 *   (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, instance roles).
 *
 * The S3 implementation and the AWS SDK are loaded only when an `s3://` URL is opened.
 */
export async function openStorage(url: string, options: OpenStorageOptions = {}): Promise<Storage> {
  if (url.startsWith("s3://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new ComfycError("USAGE", `Not a storage URL: ${JSON.stringify(url)}`, S3_HINT, {
        cause,
      });
    }
    const q = parsed.searchParams;
    const expires = q.get("expires");
    const expiresInSeconds = expires !== null ? Number(expires) : options.expiresInSeconds;
    if (
      !parsed.hostname ||
      (expiresInSeconds !== undefined &&
        (!Number.isInteger(expiresInSeconds) || expiresInSeconds <= 0))
    )
      throw new ComfycError("USAGE", `Not a valid S3 storage URL: ${JSON.stringify(url)}`, S3_HINT);
    requirePackages(S3_PACKAGES, `S3 storage (${url.split("?")[0]})`);
    const { S3Storage } = await import("./s3-storage.js");
    return new S3Storage({
      bucket: parsed.hostname,
      prefix: decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, "")),
      ...(q.get("endpoint") ? { endpoint: q.get("endpoint")! } : {}),
      ...(q.get("region") ? { region: q.get("region")! } : {}),
      ...(q.get("forcePathStyle") ? { forcePathStyle: q.get("forcePathStyle") === "true" } : {}),
      ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}),
    });
  }
  const { LocalStorage } = await import("./local-storage.js");
  if (url.startsWith("file:")) {
    const { fileURLToPath } = await import("node:url");
    return new LocalStorage(fileURLToPath(url));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url))
    throw new ComfycError(
      "USAGE",
      `Unsupported storage URL ${JSON.stringify(url)}`,
      `Use a folder path, file:///path, or ${S3_HINT}`,
    );
  return new LocalStorage(url);
}

const S3_HINT =
  "s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1&forcePathStyle=true&expires=3600";

/** The `NOT_FOUND` error for a missing key. */
export function notFound(location: string, key: string, cause?: unknown): ComfycError {
  return new ComfycError(
    "NOT_FOUND",
    `No object ${JSON.stringify(key)} in ${location}`,
    "Check the job id; outputs are stored as <job id>/<node id>/<file>.",
    cause !== undefined ? { cause } : undefined,
  );
}
