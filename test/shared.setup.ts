import { HAS_SHARED_DATA, SHARED_DATA } from "./helpers.js";
import { COMFYUI_REAL, HAS_REAL_COMFYUI } from "./real-comfyui.js";

/**
 * Vitest global setup: on a clone without `../shared` beside it, says in ONE line which suites
 * are skipped and why. Those suites use `describe.runIf(HAS_SHARED_DATA)` (the sweeps over the
 * whole real corpus in `../shared/data`) or `describe.runIf(HAS_REAL_COMFYUI)` (the tests against
 * a real ComfyUI from `../shared/comfyui-real`, the differential suite among them) and print
 * nothing themselves. The core tests use `test/fixtures/`; CI runs everything with `../shared`.
 */
export default function setup(): void {
  const skipped = [
    ...(HAS_SHARED_DATA ? [] : [`the sweeps over the whole real corpus (${SHARED_DATA})`]),
    ...(HAS_REAL_COMFYUI
      ? []
      : [`the tests against a real ComfyUI, differential suite included (${COMFYUI_REAL})`]),
  ];
  if (skipped.length)
    console.log(
      `\n[comfyc] skipped, not found beside the repository: ${skipped.join("; ")}. ` +
        "The core tests use test/fixtures/; CI runs these with ../shared present.\n",
    );
}
