import { COMFYUI_REAL, HAS_REAL_COMFYUI } from "./real-comfyui.js";

/**
 * Vitest global setup: when `../shared/comfyui-real` is missing (a bare clone), says once that
 * the tests against a real ComfyUI are skipped. Those suites use
 * `describe.runIf(HAS_REAL_COMFYUI)`.
 */
export default function setup(): void {
  if (!HAS_REAL_COMFYUI)
    console.log(
      `\n[comfyc] ${COMFYUI_REAL} not found: the tests against a real ComfyUI are skipped ` +
        "(CI runs them with ../shared present).\n",
    );
}
