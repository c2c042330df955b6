import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run on the sources: `comfyc` (as generated code imports it) maps to src/.
    alias: [
      { find: /^comfyc$/, replacement: src("index.ts") },
      { find: /^comfyc\/(runtime|testing|codegen|import|scale)$/, replacement: src("$1/index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    globalSetup: ["test/shared.setup.ts"],
    // Generous: tests wait on events, and these only bound a hang. The machines are shared and
    // loaded; a child process with tsx can take tens of seconds to start.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    typecheck: {
      enabled: true,
      include: ["test/types/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
  },
});
