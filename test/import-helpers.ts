import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import type { NodeSchema } from "../src/schema/ir.js";
import { ROOT } from "./helpers.js";

/** The importer's fixtures (see its README). */
export const IMPORT_FIXTURES = join(ROOT, "test", "fixtures", "import");

/** ComfyUI 0.33.0's own `/object_info`, raw. */
export function objectInfo033(): Record<string, unknown> {
  const gz = readFileSync(join(IMPORT_FIXTURES, "object_info-comfyui-0.33.0.json.gz"));
  return JSON.parse(gunzipSync(gz).toString("utf8")) as Record<string, unknown>;
}

let schema: NodeSchema | undefined;
/** ComfyUI 0.33.0's schema, normalized once per test file. */
export function schema033(): NodeSchema {
  schema ??= normalizeObjectInfo(objectInfo033(), "comfyui-0.33.0");
  return schema;
}

/** A fixture's parsed JSON. */
export function importFixture(...parts: string[]): Record<string, unknown> {
  return JSON.parse(readFileSync(join(IMPORT_FIXTURES, ...parts), "utf8")) as Record<
    string,
    unknown
  >;
}

/**
 * The node definitions the shared corpus was converted with by the editor (see
 * `../shared/data/workflows/ui-converted/README.md`): ComfyUI 0.33.0's own, then the dumps of
 * `../shared/data/object_info` in that order, first one wins per class.
 */
export function sharedUnionObjectInfo(sharedData: string): Record<string, unknown> {
  const union: Record<string, unknown> = { ...objectInfo033() };
  for (const dump of [
    "oi_2026-08_mmldx_subset_73.json",
    "oi_2026-05_yuzuki_custom_1686.json",
    "oi_2026-02_autoflow_904.json",
    "oi_2025-10_orchestrator_core_496.json",
    "oi_2024-11_cushystudio_1017.json",
    "oi_2024-04_icefairy_169.json",
    "oi_2024-04_alterate_core_165.json",
  ]) {
    const raw = JSON.parse(readFileSync(join(sharedData, "object_info", dump), "utf8")) as Record<
      string,
      unknown
    >;
    for (const [k, v] of Object.entries(raw)) if (!(k in union)) union[k] = v;
  }
  return union;
}
