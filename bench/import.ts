/**
 * Workflow import: convertWorkflow and importWorkflow of the largest UI file in ../shared/data
 * (245 nodes) and of the template with the most subgraphs, against JSON.parse of the same file.
 * Targets (issue #13): convert ≤ 20× JSON.parse, import ≤ 100× JSON.parse.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { convertWorkflow } from "../src/import/convert.js";
import { importWorkflow } from "../src/import/to-typescript.js";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import { median, ms, ROOT, SHARED } from "./util.js";

const files = ["ui_fe_large_graph_245nodes.json", "ui_tpl_flux_uso_5subgraphs.json"];
if (!existsSync(join(SHARED, "workflows", "ui"))) {
  console.log(`skipped: ${join(SHARED, "workflows", "ui")} not found`);
} else {
  // ComfyUI 0.33.0's own schema (the importer's fixture), as a server would give it.
  const gz = readFileSync(
    join(ROOT, "test", "fixtures", "import", "object_info-comfyui-0.33.0.json.gz"),
  );
  const schema = normalizeObjectInfo(JSON.parse(gunzipSync(gz).toString("utf8")));
  console.log("median of 21 runs; the schema is normalized once beforehand");
  for (const file of files) {
    const text = readFileSync(join(SHARED, "workflows", "ui", file), "utf8");
    const doc = JSON.parse(text) as Record<string, unknown>;
    const source = { format: "ui", version: "0.4", workflow: doc, container: "json" } as const;
    const parse = await median(21, () => JSON.parse(text));
    const convert = await median(21, () => convertWorkflow(doc, schema));
    const imported = await median(21, () => importWorkflow(source, schema));
    const nodes = Object.keys(convertWorkflow(doc, schema).prompt).length;
    console.log(`${file} (${(text.length / 1024).toFixed(0)} KiB, ${nodes} prompt nodes)`);
    console.log(`  JSON.parse        ${ms(parse)}`);
    console.log(
      `  convertWorkflow   ${ms(convert)}  ${(convert / parse).toFixed(1)}× JSON.parse (target ≤ 20×)`,
    );
    console.log(
      `  importWorkflow    ${ms(imported)}  ${(imported / parse).toFixed(1)}× JSON.parse (target ≤ 100×)`,
    );
  }
}
