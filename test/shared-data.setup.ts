import { HAS_SHARED_DATA, SHARED_DATA } from "./helpers.js";

/**
 * Vitest global setup: when `../shared/data` is missing (a bare clone), says once that the
 * sweeps over the real corpus are skipped. Those tests use `describe.runIf(HAS_SHARED_DATA)`.
 */
export default function setup(): void {
  if (!HAS_SHARED_DATA)
    console.log(
      `\n[comfyc] ${SHARED_DATA} not found: the sweeps over the whole real corpus are skipped ` +
        "(the core tests use test/fixtures/; CI runs the sweeps with ../shared present).\n",
    );
}
