/** `comfyc/testing`: a ComfyUI-compatible server for tests and demos, no GPU needed. */
export {
  BUNDLED_OBJECT_INFO,
  DEFAULT_COMFYUI_VERSION,
  MODEL_FOLDERS,
  startTestServer,
} from "./app.js";
export type { TestServer, TestServerOptions, TestServerScript } from "./app.js";
export type { TestServerAuth } from "./auth.js";
export type { NodeScript } from "./executor.js";
export type { HttpFault } from "./faults.js";
export { freePort, startRedisServer } from "./redis.js";
export type { RedisServer, RedisServerOptions } from "./redis.js";
