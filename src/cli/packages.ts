import { GATEWAY_PACKAGES } from "../gateway/packages.js";
import { SCALE_PACKAGES } from "../scale/packages.js";
import { TEST_SERVER_PACKAGES } from "../testing/packages.js";

/**
 * The CLI's packages are optional peer dependencies of comfyc (`peerDependenciesMeta` in
 * package.json): a project that only builds and runs workflows does not install them. Each
 * command says which it needs; `main.ts` checks them (`requirePackages`, a `MISSING_PACKAGE`
 * error, exit 11, with the install line) before it loads the command. tsx (TypeScript
 * workflow files) and the image metadata readers load when a file needs them.
 */

/** Packages every command needs (argument parsing, did-you-mean hints). */
export const CLI_PACKAGES: readonly string[] = ["commander", "fastest-levenshtein"];

/** Packages per command, besides {@link CLI_PACKAGES}. */
export const COMMAND_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  serve: TEST_SERVER_PACKAGES,
  run: ["cli-progress"],
  demo: ["tsx", "cli-progress", ...TEST_SERVER_PACKAGES],
  worker: SCALE_PACKAGES,
  enqueue: SCALE_PACKAGES,
  jobs: SCALE_PACKAGES,
  gateway: [...SCALE_PACKAGES, ...GATEWAY_PACKAGES],
};
