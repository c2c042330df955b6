/**
 * Everything `comfyc/scale` exports (`index.ts` loads this once its packages are known to be
 * installed). `comfyc/scale`: many ComfyUI instances behind one entry point. A durable queue on BullMQ and
 * Redis (`ComfyQueue` to enqueue and read jobs, `ComfyWorker` per instance), job-scoped output
 * storage (local folder or S3), capability routing and Prometheus metrics.
 */
export {
  capabilitiesOf,
  capabilityId,
  describeMissing,
  missingFrom,
  NoCapableServerError,
  requirementsOf,
} from "./capabilities.js";
export type { Capabilities, Missing, Requirements } from "./capabilities.js";
export type { SweepReport } from "./input-refs.js";
export { storeInput } from "./inputs.js";
export type { StagedInput } from "./inputs.js";
export { LocalStorage } from "./local-storage.js";
export { ScaleMetrics } from "./metrics.js";
export { ComfyPool, PoolJob } from "./pool.js";
export type { PoolOptions, PoolServerState } from "./pool.js";
export { ComfyQueue, WORKER_STALE_MS } from "./queue.js";
export type {
  ComfyQueueOptions,
  EnqueueOptions,
  LaneCounts,
  LaneInfo,
  ListJobsOptions,
  WorkerInfo,
} from "./queue.js";
export { QUEUE_JOB_STATES } from "./record.js";
export type {
  JobErrorRecord,
  JobOutcome,
  JobOutput,
  JobProgressRecord,
  JobRecord,
  JobRunRecord,
  QueuedJobData,
  QueueJobState,
} from "./record.js";
export { connectRedis } from "./redis.js";
export type { RedisConnection } from "./redis.js";
export { checkKey, openStorage, outputKey, safeSegment } from "./storage.js";
export type { OpenStorageOptions, Storage, StoredObject } from "./storage.js";
export type { S3StorageOptions } from "./s3-storage.js";
export { ComfyWorker } from "./worker.js";
export type { ComfyWorkerOptions } from "./worker.js";
