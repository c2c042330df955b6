/**
 * `comfyc/scale/s3`: output storage in an S3 bucket or an S3-compatible server (AWS SDK v3).
 *
 * The AWS SDK packages are optional peer dependencies of comfyc; importing this module without
 * them throws `MISSING_PACKAGE` (CLI exit 11) with the install line, not Node's
 * `ERR_MODULE_NOT_FOUND`. `openStorage("s3://…")` from `comfyc/scale` checks the same.
 */
import { requirePackages } from "../errors.js";
import { S3_PACKAGES } from "./packages.js";
import type * as S3 from "./s3-storage.js";

requirePackages(S3_PACKAGES, "comfyc/scale/s3 (S3 storage)");
const s3 = await import("./s3-storage.js");

export type { S3StorageOptions } from "./s3-storage.js";
export const { S3Storage } = s3;
export type S3Storage = S3.S3Storage;
