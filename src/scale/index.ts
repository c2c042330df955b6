/**
 * `comfyc/scale`: many ComfyUI instances behind one entry point. A durable queue on BullMQ and
 * Redis (`ComfyQueue` to enqueue and read jobs, `ComfyWorker` per instance), job-scoped output
 * storage (local folder or S3), capability routing and Prometheus metrics.
 *
 * Its packages (bullmq, ioredis, pino, prom-client) are optional peer dependencies of comfyc;
 * importing this module without them throws `MISSING_PACKAGE` (CLI exit 11) with the install
 * line, not Node's `ERR_MODULE_NOT_FOUND` from inside comfyc. The values are loaded after that
 * check (a static import would fail while Node links the module graph, before any check runs),
 * so every value exported by `api.ts` is listed here; `test/unit/entry-points.test.ts` checks
 * that none is missing.
 */
import { requirePackages } from "../errors.js";
import type * as Api from "./api.js";
import { SCALE_PACKAGES } from "./packages.js";

requirePackages(SCALE_PACKAGES, "comfyc/scale (ComfyQueue, ComfyWorker, ComfyPool, storage)");
const api = await import("./api.js");

export type * from "./api.js";
export const {
  capabilitiesOf,
  capabilityId,
  checkKey,
  ComfyPool,
  ComfyQueue,
  ComfyWorker,
  connectRedis,
  describeMissing,
  LocalStorage,
  missingFrom,
  NoCapableServerError,
  openStorage,
  outputKey,
  PoolJob,
  QUEUE_JOB_STATES,
  requirementsOf,
  safeSegment,
  ScaleMetrics,
  storeInput,
  WORKER_STALE_MS,
} = api;
export type ComfyPool = Api.ComfyPool;
export type ComfyQueue = Api.ComfyQueue;
export type ComfyWorker = Api.ComfyWorker;
export type LocalStorage = Api.LocalStorage;
export type NoCapableServerError = Api.NoCapableServerError;
export type PoolJob = Api.PoolJob;
export type ScaleMetrics = Api.ScaleMetrics;
