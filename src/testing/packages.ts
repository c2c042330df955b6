/** The test server's packages: optional peer dependencies of comfyc, needed by `comfyc/testing`. */
export const TEST_SERVER_PACKAGES: readonly string[] = ["busboy", "pngjs", "ws"];
