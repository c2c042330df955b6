import { writeFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, test } from "vitest";
import { formatTypeScript } from "../format.js";
import { generate } from "../../src/codegen/generate.js";
import { HAS_SHARED_DATA, objectInfoDumps, readJson, tempDir, typecheckDirs } from "../helpers.js";

/**
 * Every real dump generates, the output is exactly what prettier would print (the fast printer
 * and prettier agree), and all of it passes `tsc --noEmit --strict`.
 */
describe.runIf(HAS_SHARED_DATA)("codegen on every real object_info (../shared/data)", () => {
  const root = tempDir("comfyc-dumps-");
  const dirs: string[] = [];

  test.each(objectInfoDumps())(
    "generates %s as prettier-formatted modules",
    async (path) => {
      const { files, classes } = await generate(readJson(path), { source: path });
      expect(classes.length).toBe(Object.keys(readJson(path) as object).length);
      const dir = join(root, basename(path, ".json"));
      mkdirSync(dir);
      for (const f of files) {
        expect(await formatTypeScript(f.content), `${f.path} is not prettier-stable`).toBe(
          f.content,
        );
        writeFileSync(join(dir, f.path), f.content);
      }
      dirs.push(dir);
    },
    600_000,
  );

  test("all generated modules pass tsc --strict", async () => {
    expect(dirs.length).toBe(objectInfoDumps().length);
    expect(await typecheckDirs(dirs)).toBe("");
  }, 600_000);
});
