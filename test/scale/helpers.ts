import S3rver from "@20minutes/s3rver";
import type { ComfycError } from "../../src/errors.js";
import { freePort } from "../../src/testing/redis.js";
import { tempDir } from "../helpers.js";

/** The error a promise rejects with (fails the test when it resolves). */
export async function errorOf(promise: Promise<unknown>): Promise<ComfycError> {
  try {
    await promise;
  } catch (e) {
    return e as ComfycError;
  }
  throw new Error("expected a rejection");
}

/** Credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/**
 * An S3-compatible server (@20minutes/s3rver) on a free loopback port with one bucket, its data
 * in a temporary folder; `close()` it after use.
 */
export async function startS3rver(bucket: string): Promise<{ server: S3rver; endpoint: string }> {
  const port = await freePort();
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    silent: true,
    directory: tempDir("comfyc-s3-"),
    configureBuckets: [{ name: bucket }],
  });
  await server.run();
  return { server, endpoint: `http://127.0.0.1:${port}` };
}
