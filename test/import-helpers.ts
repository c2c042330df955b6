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
