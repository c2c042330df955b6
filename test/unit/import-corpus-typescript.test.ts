import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { readWorkflowSource } from "../../src/import/detect.js";
import { importWorkflow } from "../../src/import/to-typescript.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import type { NodeSchema } from "../../src/schema/ir.js";
import { HAS_SHARED_DATA, SHARED_DATA, typecheckDirs } from "../helpers.js";
import { sharedUnionObjectInfo } from "../import-helpers.js";
import {
  compileAll,
  generateInto,
  generatedPath,
  loadImported,
  repoTempDir,
  roundTripDifferences,
} from "../import-roundtrip.js";

/**
 * Every workflow of `../shared/data` (37 API prompts, 28 editor workflows) imported as
 * TypeScript: the module compiles back to the same prompt, and all of them pass `tsc` against
 * code generated from the same schema. Runs when `../shared` is beside the repository.
 */
const WORKFLOWS = join(SHARED_DATA, "workflows");
// One line for all corpus sweeps says when they are skipped (test/shared.setup.ts).
const present = HAS_SHARED_DATA;

const files = present
  ? ["api", "ui"].flatMap((kind) =>
      readdirSync(join(WORKFLOWS, kind))
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => join(kind, f)),
    )
  : [];

describe.skipIf(!present)("workflows of ../shared/data imported as TypeScript", () => {
  let schema: NodeSchema;
  let dir: string;
  let generated: string;
  beforeAll(async () => {
    const union = sharedUnionObjectInfo(SHARED_DATA);
    schema = normalizeObjectInfo(union, "union");
    dir = repoTempDir("import-corpus-");
    // Only the classes the corpus uses, so tsc reads a few hundred declarations, not 2,300.
    const used = new Set<string>();
    for (const file of files) {
      const source = await readWorkflowSource(readFileSync(join(WORKFLOWS, file)), file);
      const { prompt } = importWorkflow(source, schema);
      for (const node of Object.values(prompt))
        if (schema.classes.has(node.class_type)) used.add(node.class_type);
    }
    const include = [...used].map((c) => c.replace(/[*?[\]{}()!+@]/g, "\\$&"));
    generated = generatedPath(dir, await generateInto(dir, union, include));
  }, 300_000);

  test.each(files)("%s compiles back to its prompt", async (file) => {
    const source = await readWorkflowSource(readFileSync(join(WORKFLOWS, file)), file);
    const result = importWorkflow(source, schema, { generated, sourceName: file });
    const wf = await loadImported(dir, file.replace(/[^A-Za-z0-9]+/g, "_"), result.source);
    expect(roundTripDifferences(result.prompt, compileAll(wf), schema)).toEqual([]);
    if (source.format === "api") {
      // API prompts are imported as they are: ids, classes, links and titles all kept.
      expect(Object.keys(result.prompt).sort()).toEqual(Object.keys(source.prompt).sort());
    }
  });

  test("every imported file type-checks against the generated code", async () => {
    expect(await typecheckDirs([dir])).toBe("");
  }, 300_000);
});
