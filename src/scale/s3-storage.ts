import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import { ComfycError } from "../errors.js";
import { checkKey, notFound, type Storage, type StoredObject } from "./storage.js";

/** Settings of {@link S3Storage}. */
export interface S3StorageOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket (no leading or trailing `/`). */
  readonly prefix?: string;
  /** An S3-compatible server (MinIO, R2, Ceph, …); AWS when unset. */
  readonly endpoint?: string;
  /** Default `us-east-1` (or `AWS_REGION`). */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), as most S3-compatible servers need. */
  readonly forcePathStyle?: boolean;
  /** Explicit credentials; the AWS SDK's default chain otherwise. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Lifetime of presigned download URLs in seconds (default 3600). */
  readonly expiresInSeconds?: number;
  /** Multipart part size in bytes (default 8 MiB); memory per upload is about 4 parts. */
  readonly partSize?: number;
  /** Any other AWS SDK client settings. */
  readonly client?: Omit<S3ClientConfig, "endpoint" | "region" | "forcePathStyle" | "credentials">;
}

/**
 * Storage in an S3 bucket (or an S3-compatible server) through the AWS SDK v3. Uploads are
 * multipart and streamed (`@aws-sdk/lib-storage`: a few parts in memory at a time, whatever the
 * object's size); downloads stream the response body; `url()` presigns a GET.
 */
export class S3Storage implements Storage {
  readonly client: S3Client;
  readonly location: string;
  readonly #options: S3StorageOptions;

  constructor(options: S3StorageOptions) {
    this.#options = options;
    this.client = new S3Client({
      ...options.client,
      region: options.region ?? process.env["AWS_REGION"] ?? "us-east-1",
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
    this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ""}`;
  }

  #key(key: string): string {
    checkKey(key);
    return this.#options.prefix ? `${this.#options.prefix}/${key}` : key;
  }

  async put(
    key: string,
    body: Readable | Uint8Array,
    options: { readonly contentType?: string } = {},
  ): Promise<StoredObject> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.#options.bucket,
        Key: this.#key(key),
        Body: body,
        ...(options.contentType ? { ContentType: options.contentType } : {}),
      },
      partSize: this.#options.partSize ?? 8 * 1024 * 1024,
      queueSize: 4,
    });
    let size = 0;
    upload.on("httpUploadProgress", (p) => {
      if (p.loaded !== undefined) size = Math.max(size, p.loaded);
    });
    try {
      await upload.done();
    } catch (cause) {
      throw this.#error("write", key, cause);
    }
    const head = await this.stat(key);
    return {
      key,
      size: head?.size ?? size,
      ...(options.contentType ? { contentType: options.contentType } : {}),
    };
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }),
      );
      return res.Body as Readable;
    } catch (cause) {
      if (isMissing(cause)) throw notFound(this.location, key, cause);
      throw this.#error("read", key, cause);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }),
      );
      return {
        key,
        size: res.ContentLength ?? 0,
        ...(res.ContentType ? { contentType: res.ContentType } : {}),
      };
    } catch (cause) {
      if (isMissing(cause)) return undefined;
      throw this.#error("read", key, cause);
    }
  }

  async url(key: string, options: { readonly expiresInSeconds?: number } = {}): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }),
      { expiresIn: options.expiresInSeconds ?? this.#options.expiresInSeconds ?? 3600 },
    );
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }),
      );
    } catch (cause) {
      if (!isMissing(cause)) throw this.#error("delete", key, cause);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  #error(what: string, key: string, cause: unknown): ComfycError {
    const status = (cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return new ComfycError(
      status === 401 || status === 403 ? "AUTH_FAILED" : "IO_ERROR",
      `Cannot ${what} ${key} in ${this.location}: ${(cause as Error).name}: ${(cause as Error).message}`,
      status === 401 || status === 403
        ? "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy."
        : "Check the bucket, the endpoint and the network.",
      { cause },
    );
  }
}

function isMissing(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return name === "NoSuchKey" || name === "NotFound" || status === 404;
}
