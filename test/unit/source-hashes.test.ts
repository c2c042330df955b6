import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  rememberedSchemaHash,
  rememberSchemaHash,
  sourceTextHash,
} from "../../src/codegen/source-hashes.js";
import { generate } from "../../src/codegen/generate.js";
import { recordedSchemaHash } from "../../src/codegen/up-to-date.js";
import { writeGenerated } from "../../src/codegen/write.js";
import { canonicalHash } from "../../src/schema/canonical-json.js";
import { BUNDLED_SCHEMA, tempDir } from "../helpers.js";

describe("remembered object_info text hashes (the unchanged re-run's shortcut)", () => {
  const text = readFileSync(BUNDLED_SCHEMA, "utf8");
  const schemaHash = canonicalHash(JSON.parse(text));

  test("remembered per output folder under node_modules/.cache/comfyc, answered only for the same text", async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, "node_modules"));
    const textHash = sourceTextHash(text);
    expect(await rememberedSchemaHash("gen", textHash, cwd)).toBeUndefined();
    await rememberSchemaHash("gen", textHash, schemaHash, cwd);
    expect(await rememberedSchemaHash("gen", textHash, cwd)).toBe(schemaHash);
    // The same folder named another way; another folder; other text.
    expect(await rememberedSchemaHash(join(cwd, "gen"), textHash, cwd)).toBe(schemaHash);
    expect(await rememberedSchemaHash("other", textHash, cwd)).toBeUndefined();
    expect(await rememberedSchemaHash("gen", sourceTextHash(`${text} `), cwd)).toBeUndefined();
    const files = readdirSync(join(cwd, "node_modules", ".cache", "comfyc"));
    expect(files).toHaveLength(1);
    // A damaged record is ignored, never trusted.
    writeFileSync(join(cwd, "node_modules", ".cache", "comfyc", files[0]!), `${textHash} xyz\n`);
    expect(await rememberedSchemaHash("gen", textHash, cwd)).toBeUndefined();
  });

  test("without node_modules in the working folder nothing is written", async () => {
    const cwd = tempDir();
    await rememberSchemaHash("gen", sourceTextHash(text), schemaHash, cwd);
    expect(readdirSync(cwd)).toEqual([]);
    expect(await rememberedSchemaHash("gen", sourceTextHash(text), cwd)).toBeUndefined();
  });

  test("the generated index records the same schema hash the shortcut compares with", async () => {
    const out = tempDir();
    const options = { include: ["core"] };
    const result = await generate(JSON.parse(text), options);
    await writeGenerated(out, result.files);
    expect(result.schema.hash).toBe(schemaHash);
    expect(await recordedSchemaHash(out, options)).toBe(schemaHash);
    expect(await recordedSchemaHash(out, { ...options, looseCombos: true })).toBeUndefined();
    writeFileSync(join(out, "core.js"), "// edited\n");
    expect(await recordedSchemaHash(out, options)).toBeUndefined();
  });
});
