/**
 * `comfyc/scale`'s packages: optional peer dependencies of comfyc, installed by projects that
 * queue jobs (`comfyc worker`, `comfyc enqueue`, `comfyc jobs`, `ComfyQueue`, `ComfyWorker`).
 */
export const SCALE_PACKAGES: readonly string[] = ["bullmq", "ioredis", "pino", "prom-client"];

/** The AWS SDK v3 packages of S3 output storage (`s3://` storage URLs, `comfyc/scale/s3`). */
export const S3_PACKAGES: readonly string[] = [
  "@aws-sdk/client-s3",
  "@aws-sdk/lib-storage",
  "@aws-sdk/s3-request-presigner",
];
