/** `comfyc/testing`: a ComfyUI-compatible server for tests and demos, no GPU needed. */
export {
  BUNDLED_OBJECT_INFO,
  DEFAULT_COMFYUI_VERSION,
  MODEL_FOLDERS,
  startTestServer,
} from "./server.js";
export type { TestServer, TestServerOptions, TestServerScript } from "./server.js";
export type { NodeScript } from "./executor.js";
