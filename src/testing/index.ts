/**
 * `comfyc/testing`: a ComfyUI-compatible server for tests and demos, no GPU needed.
 *
 * Its packages (busboy, pngjs, ws) are optional peer dependencies of comfyc; importing this
 * module without them throws `MISSING_PACKAGE` with the install line, not Node's
 * `ERR_MODULE_NOT_FOUND` from inside comfyc.
 */
import { requirePackages } from "../errors.js";
import { TEST_SERVER_PACKAGES } from "./packages.js";

requirePackages(TEST_SERVER_PACKAGES, "comfyc/testing (the test server)");
const app = await import("./app.js");

export const { BUNDLED_OBJECT_INFO, DEFAULT_COMFYUI_VERSION, MODEL_FOLDERS, startTestServer } = app;
export type { TestServer, TestServerOptions, TestServerScript } from "./app.js";
export type { TestServerAuth } from "./auth.js";
export type { NodeScript } from "./executor.js";
export type { HttpFault } from "./faults.js";
export { freePort, startRedisServer } from "./redis.js";
export type { RedisServer, RedisServerOptions } from "./redis.js";
