import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { formatTypeScript } from "../format.js";
import { generate, generateFiles, selectClasses } from "../../src/codegen/generate.js";
import {
  checkGenerated,
  embeddedSpecs,
  formatDriftReport,
  PartsWriter,
  writeGenerated,
} from "../../src/codegen/write.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import {
  BUNDLED_SCHEMA,
  fixture,
  HAS_SHARED_DATA,
  ROOT,
  SHARED_DATA,
  tempDir,
  typecheckDirs,
} from "../helpers.js";
import { parseJsonLossless } from "../../src/protocol/json.js";

/** A schema as comfyc reads one (file or server): lossless, so 64-bit limits stay exact. */
const readSchema = (path: string) => parseJsonLossless(readFileSync(path, "utf8"));
const bundled = readSchema(BUNDLED_SCHEMA) as Record<string, Record<string, unknown>>;

describe("generate", () => {
  test("is deterministic and independent of the order of classes", async () => {
    const a = await generate(bundled);
    const shuffled = Object.fromEntries(Object.entries(bundled).reverse());
    const b = await generate(shuffled);
    expect(b.files).toEqual(a.files);
  });

  test("records the schema hash in each header and embeds every class's node info", async () => {
    const { files, schema } = await generate(bundled);
    const index = files.find((f) => f.path === "index.d.ts")!;
    expect(index.content).toContain(`(sha256 ${schema.hash})`);
    const core = files.find((f) => f.path === "core.js")!;
    const specs = embeddedSpecs(core.content);
    expect((parseJsonLossless(specs.get("KSampler")!) as { input: unknown }).input).toEqual(
      bundled["KSampler"]!["input"],
    );
  });

  test("include and exclude select packs and classes by glob", () => {
    const schema = normalizeObjectInfo(bundled);
    const nodes = [...schema.classes.values()];
    const pick = (include: string[], exclude: string[] = []) =>
      selectClasses(nodes, { include, exclude }).map((n) => n.classType);
    expect(pick(["KSampler*"])).toEqual(["KSampler", "KSamplerAdvanced", "KSamplerSelect"]);
    expect(pick(["api-nodes"]).every((c) => schema.classes.get(c)!.pack === "api-nodes")).toBe(
      true,
    );
    expect(pick(["core"], ["*Sampler*"]).some((c) => c.includes("Sampler"))).toBe(false);
  });

  test("loose combos also accept any string", async () => {
    const strict = await generate(bundled, { include: ["KSampler"] });
    const loose = await generate(bundled, { include: ["KSampler"], looseCombos: true });
    expect(strict.files[0]!.content).not.toContain("(string & {})");
    expect(loose.files[0]!.content).toContain(
      '(typeof KSamplerOptions)["sampler_name"][number] | (string & {})',
    );
  });

  test("emits focused declarations for KSampler", async () => {
    const { files } = await generate(bundled, { include: ["KSampler", "SplitSigmas"] });
    await expect(files[0]!.content).toMatchFileSnapshot(
      "../snapshot/__files__/ksampler-splitsigmas.ts.snap",
    );
  });
});

describe("writeGenerated and --check", () => {
  test("writes, skips unchanged files, removes stale generated files, keeps foreign files", async () => {
    const out = tempDir();
    const first = await generate(bundled, { include: ["core"] });
    expect((await writeGenerated(out, first.files)).written).toEqual([
      "core.d.ts",
      "core.js",
      "index.d.ts",
      "index.js",
    ]);
    const mtime = statSync(join(out, "core.js")).mtimeMs;
    writeFileSync(join(out, "mine.ts"), "export const mine = 1;\n");
    const second = await generate(bundled, { include: ["core", "api-nodes"] });
    const result = await writeGenerated(out, second.files);
    expect(result.unchanged).toEqual(["core.d.ts", "core.js"]);
    expect(result.written).toEqual(["api-nodes.d.ts", "api-nodes.js", "index.d.ts", "index.js"]);
    expect(statSync(join(out, "core.js")).mtimeMs).toBe(mtime);
    const third = await generate(bundled, { include: ["api-nodes"] });
    expect((await writeGenerated(out, third.files)).removed).toEqual(["core.d.ts", "core.js"]);
    expect(existsSync(join(out, "mine.ts"))).toBe(true);
  });

  test("parts are written as the bytes of their joined text, across buffer refills and growth", () => {
    const out = tempDir();
    const parts = ["ascii ", "é", "😀 and 字", "x".repeat(40), "", "\u2028 end", "\n"];
    for (const bytes of [1, 4, 7, 1 << 20]) {
      new PartsWriter(bytes).write(join(out, `f${bytes}`), parts);
      expect(readFileSync(join(out, `f${bytes}`))).toEqual(Buffer.from(parts.join("")));
    }
  });

  test("generated files write and hash the same text as their content", async () => {
    const out = tempDir();
    const { files } = await generate(bundled, { include: ["core"] });
    await writeGenerated(out, files);
    for (const f of files) expect(readFileSync(join(out, f.path), "utf8"), f.path).toBe(f.content);
  });

  test("files printed as they are written are the files generate() holds, index hash included", async () => {
    const held = await generate(bundled);
    const streamed = await generateFiles(bundled);
    const out = tempDir();
    const files = [...streamed.files];
    // Iterating ahead of the writer prints each file in full first: nothing is lost or reordered.
    await writeGenerated(out, files);
    expect(held.files.map((f) => f.path)).toEqual(files.map((f) => f.path));
    for (const f of held.files)
      expect(readFileSync(join(out, f.path), "utf8"), f.path).toBe(f.content);

    const lazy = tempDir();
    const again = await generateFiles(bundled);
    await writeGenerated(lazy, again.files);
    for (const f of held.files)
      expect(readFileSync(join(lazy, f.path), "utf8"), f.path).toBe(f.content);
  });

  test("a file that cannot be made or written fails the write, after the files before it", async () => {
    const out = tempDir();
    const failing = function* () {
      yield { path: "a.js", content: "// a\n" };
      throw new Error("making b.js failed");
    };
    await expect(writeGenerated(out, failing())).rejects.toThrow("making b.js failed");
    expect(readFileSync(join(out, "a.js"), "utf8")).toBe("// a\n");
    // A write that fails (no such folder) is thrown, with the error of the file system.
    const unwritable = [
      { path: "missing/c.js", content: "// c\n" },
      { path: "d.js", content: "// d\n" },
    ];
    await expect(writeGenerated(out, unwritable)).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("reports classes, inputs, outputs and combo values that drifted", async () => {
    const out = tempDir();
    const before = await generate(bundled, { include: ["core"] });
    await writeGenerated(out, before.files);
    const moved = structuredClone(bundled) as Record<string, any>;
    delete moved["VAEDecode"];
    moved["NewNode"] = {
      input: { required: { image: ["IMAGE"] } },
      output: ["IMAGE"],
      python_module: "nodes",
    };
    moved["KSampler"].input.required.sampler_name[0] = [
      ...moved["KSampler"].input.required.sampler_name[0].filter((s: string) => s !== "euler"),
      "brand_new",
    ];
    moved["KSampler"].input.required.steps[1].max = 500;
    moved["EmptyImage"].input.required.extra = ["INT", { default: 1 }];
    moved["SplitSigmas"].output = ["SIGMAS"];
    const after = await generate(moved, { include: ["core"] });
    const report = await checkGenerated(out, after.files, after.classes);
    expect(report.upToDate).toBe(false);
    const text = formatDriftReport(report, out, "server");
    expect(text).toContain("+ class NewNode");
    expect(text).toContain("- class VAEDecode");
    expect(text).toContain('input sampler_name: combo values added: "brand_new"');
    expect(text).toContain('input sampler_name: combo values removed: "euler"');
    expect(text).toContain("input steps: max 10000 → 500");
    expect(text).toContain("input added: extra (INT, required)");
    expect(text).toContain("outputs changed");
    expect((await checkGenerated(out, before.files, before.classes)).upToDate).toBe(true);
  });
});

describe("hostile schema", () => {
  const payload = "*/ globalThis.__pwned = true; /*";
  const hostile = {
    [`Evil${payload}`]: {
      input: {
        required: {
          [`"]: 1}; globalThis.__pwned = true; ({a:"`]: [
            ["`${globalThis.__pwned = true}`", "x\u2028y", "*/"],
            { tooltip: payload, default: "*/" },
          ],
          ["constructor"]: ["STRING", { default: "'); globalThis.__pwned = true; ('" }],
          ["__proto__"]: ["INT", { default: 1 }],
        },
        optional: { [`\\u0000\n`]: [`IMAGE"> | any; //`, { tooltip: "@deprecated\n*/ evil" }] },
      },
      output: [`X"}>;globalThis.__pwned=true;//`],
      output_name: ["toJSON"],
      name: "Evil",
      display_name: `*/ ${payload}`,
      description: "```\n*/\nprocess.exit(1)\n/*",
      python_module: "custom_nodes.../../../etc",
      category: payload,
      output_node: true,
    },
    class: { input: {}, output: [], python_module: "custom_nodes.index" },
    "": { input: {}, output: [] },
  };

  test("generates code that compiles, runs without side effects and keeps the names as data", async () => {
    const { files } = await generate(hostile);
    const out = tempDir();
    for (const f of files) {
      expect(f.path).toMatch(/^[a-z0-9-]+\.(d\.ts|js)$/);
      expect(await formatTypeScript(f.content)).toBe(f.content);
      writeFileSync(join(out, f.path), f.content);
    }
    expect(await typecheckDirs([out])).toBe("");
    const pack = files.find((f) => f.path.endsWith(".js") && f.content.includes("Evil"))!;
    const specs = embeddedSpecs(pack.content);
    expect(specs.has(`Evil${payload}`)).toBe(true);
    const mod = await import(join(out, pack.path));
    expect((globalThis as { __pwned?: boolean }).__pwned).toBeUndefined();
    const cls = Object.values(mod).find((v: any) => v?.classType === `Evil${payload}`) as any;
    expect(cls.spec.inputs.map((i: { name: string }) => i.name)).toContain("constructor");
    // tsc over the generated files takes longer than the default 30 s on a loaded machine.
  }, 600_000);
});

describe("generated/ in the repository", () => {
  test("matches what the bundled schema generates", async () => {
    const { files } = await generate(bundled);
    for (const f of files) {
      expect(readFileSync(join(BUNDLED_SCHEMA, "..", "..", "generated", f.path), "utf8")).toBe(
        f.content,
      );
    }
  });

  const v3Subset = fixture("object_info", "oi_2026-05_yuzuki_v3_subset_8.json");

  test("the V3 type-test fixture matches its vendored schema", async () => {
    // The fixture was generated from the whole yuzuki dump with these includes (in this order,
    // recorded in its index header); the vendored subset holds exactly these classes.
    const include = [
      "BatchImagesNode",
      "ResizeImageMaskNode",
      "StringFormat",
      "SplitSigmas",
      "KSampler",
      "PreviewAny",
      "Flux2ImageNode",
      "ImageStitch",
    ];
    const { files } = await generate(readSchema(v3Subset), { include });
    for (const f of files) {
      expect(readFileSync(join(ROOT, "test", "fixtures", "generated-v3", f.path), "utf8")).toBe(
        f.content,
      );
    }
  });

  test.runIf(HAS_SHARED_DATA)(
    "the vendored V3 schema is a verbatim extract of the yuzuki dump",
    () => {
      // Compared losslessly: an extract written through JSON.stringify rounds the seeds' max
      // (18446744073709551615) to 18446744073709552000, which a lossless reader keeps.
      const full = readSchema(
        join(SHARED_DATA, "object_info", "oi_2026-05_yuzuki_custom_1686.json"),
      ) as Record<string, unknown>;
      for (const [name, spec] of Object.entries(readSchema(v3Subset) as Record<string, unknown>))
        expect(spec, name).toEqual(full[name]);
    },
  );
});
