import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as prettier from "prettier";
import { beforeAll, describe, expect, test } from "vitest";
import { isComfycError } from "../../src/errors.js";
import { convertWorkflow } from "../../src/import/convert.js";
import { readWorkflowSource } from "../../src/import/detect.js";
import { importWorkflow } from "../../src/import/to-typescript.js";
import type { ParameterizedWorkflow } from "../../src/builder/define-workflow.js";
import { BUNDLED_SCHEMA, readJson, ROOT, typecheckDirs } from "../helpers.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { IMPORT_FIXTURES, importFixture, objectInfo033, schema033 } from "../import-helpers.js";
import {
  compileAll,
  generateInto,
  generatedPath,
  loadImported,
  repoTempDir,
  roundTripDifferences,
} from "../import-roundtrip.js";

let dir: string;
let generated: string;
beforeAll(async () => {
  dir = repoTempDir("import-ts-");
  // Only the classes these tests use: type-checking all 603 would only cost time.
  const used = new Set<string>([
    "KSampler",
    "CLIPTextEncode",
    "LoadImage",
    "CheckpointLoaderSimple",
    "SaveLatent",
  ]);
  for (const name of ["ui_tpl_default", "rules-links", "rules-subgraphs", "media-savers"]) {
    for (const node of Object.values(
      convertWorkflow(importFixture("ui", `${name}.json`), schema033()).prompt,
    ))
      used.add(node.class_type);
  }
  generated = generatedPath(
    dir,
    await generateInto(dir, objectInfo033(), [...used].map(escapeGlob)),
  );
}, 120_000);

const escapeGlob = (name: string) => name.replace(/[*?[\]{}()!+@]/g, "\\$&");
const ui = (name: string) => ({
  format: "ui" as const,
  version: "0.4" as const,
  workflow: importFixture("ui", `${name}.json`),
  container: "json" as const,
});

describe("imported TypeScript compiles back to the converted prompt", () => {
  const files = [
    "ui_tpl_default",
    "rules-links",
    "rules-links-v1",
    "rules-subgraphs",
    "media-savers",
  ];
  test.each(files)(
    "%s: same ids, classes, inputs, links and titles; prettier-formatted",
    async (name) => {
      const { source, prompt } = importWorkflow(ui(name), schema033(), {
        generated,
        sourceName: `${name}.json`,
      });
      const wf = await loadImported(dir, name.replace(/-/g, "_"), source);
      expect(roundTripDifferences(prompt, compileAll(wf), schema033())).toEqual([]);
      expect(await prettier.format(source, { parser: "typescript", printWidth: 100 })).toBe(source);
    },
  );

  test("the imported files type-check against the generated code", async () => {
    expect(await typecheckDirs([dir])).toBe("");
  }, 120_000);

  test("one statement per node, dependency order, readable names, ids kept where they differ", () => {
    const { source } = importWorkflow(ui("ui_tpl_default"), schema033(), { generated });
    const statements = source
      .split("\n")
      .filter((l) => /^(const \w+ = )?wf\.add\(/.test(l))
      .map((l) => (l.startsWith("const") ? l.split(" ")[1] : "(no variable)"));
    // Nodes whose outputs nothing uses (the SaveImage) get no variable.
    expect(statements).toEqual([
      "loadCheckpoint",
      "emptyLatentImage",
      "clipTextEncodePrompt",
      "clipTextEncodePrompt2",
      "kSampler",
      "vaeDecode",
      "(no variable)",
    ]);
    expect(source).toContain('{ id: "3" }');
    expect(source).toContain("positive: clipTextEncodePrompt.CONDITIONING");
  });

  test("64-bit seeds are bigint literals; list values stay {__value__: [...]}; undeclared inputs are spread", async () => {
    const prompt = {
      "1": {
        class_type: "KSampler",
        inputs: {
          seed: 18446744073709551615n,
          steps: 20,
          cfg: 8,
          sampler_name: "euler",
          scheduler: "normal",
          denoise: 1,
        },
      },
      "2": { class_type: "CLIPTextEncode", inputs: { text: { __value__: ["a", "b"] } } },
      "3": {
        class_type: "LoadImage",
        inputs: { image: "example.png", upload: "image" },
        _meta: { title: "Source" },
      },
    };
    const { source } = importWorkflow({ format: "api", prompt, container: "json" }, schema033(), {
      generated,
    });
    expect(source).toContain("seed: 18446744073709551615n");
    expect(source).toContain('text: { __value__: ["a", "b"] }');
    expect(source).toContain('...{ upload: "image" }');
    const wf = await loadImported(dir, "literals", source);
    expect(roundTripDifferences(prompt as never, compileAll(wf), schema033())).toEqual([]);
  });

  test("classes the schema does not know are added with wf.$raw and keep their links", async () => {
    const prompt = {
      "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "x.safetensors" } },
      "7": { class_type: "My Custom Sampler", inputs: { model: ["4", 0], strength: 0.5 } },
      "8": { class_type: "SaveLatent", inputs: { samples: ["7", 0], filename_prefix: "x" } },
    };
    const { source } = importWorkflow({ format: "api", prompt, container: "json" }, schema033(), {
      generated,
    });
    expect(source).toMatch(/wf\.\$raw\(\s*"My Custom Sampler"/);
    expect(source).toContain("samples: myCustomSampler.output(0)");
    const wf = await loadImported(dir, "raw", source);
    expect(roundTripDifferences(prompt as never, compileAll(wf), schema033())).toEqual([]);
  });
});

describe("--param lifts inputs into a defineWorkflow with a zod schema", () => {
  test("by id and by title, typed from the input, defaulting to the imported value", async () => {
    const { source, prompt } = importWorkflow(ui("ui_tpl_default"), schema033(), {
      generated,
      params: [
        "6.text=prompt",
        "KSampler.seed=seed",
        "KSampler.sampler_name=sampler",
        "5.width=width",
      ],
    });
    const wf = (await loadImported(dir, "params", source)) as ParameterizedWorkflow<never>;
    expect(roundTripDifferences(prompt, compileAll(wf), schema033())).toEqual([]);
    const changed = wf.compile({ prompt: "a red fox", seed: 7, sampler: "dpmpp_2m" } as never, {
      keepUnreachable: true,
      validate: false,
    });
    expect([
      changed["6"]!.inputs["text"],
      changed["3"]!.inputs["seed"],
      changed["3"]!.inputs["sampler_name"],
    ]).toEqual(["a red fox", 7, "dpmpp_2m"]);
    const schema = wf.paramsJsonSchema() as {
      properties: Record<
        string,
        { type?: string; minimum?: number; maximum?: number; enum?: unknown[]; default?: unknown }
      >;
    };
    expect(schema.properties["width"]).toMatchObject({
      type: "integer",
      minimum: 16,
      maximum: 16384,
      default: 512,
    });
    expect(schema.properties["sampler"]!.enum).toContain("euler");
    expect(schema.properties["prompt"]).toMatchObject({ type: "string" });
    expect(() => wf.compile({ width: 3 } as never)).toThrow(/width/);
    expect(await prettier.format(source, { parser: "typescript", printWidth: 100 })).toBe(source);
  });

  const bad: [string, string | string[], RegExp][] = [
    ["an unknown node", "99.text=prompt", /no node/],
    ["an unknown input", "6.nope=prompt", /no input "nope"/],
    ["a linked input", "6.clip=clip", /linked/],
    ["a name that is not an identifier", "6.text=my prompt", /Bad --param/],
    ["no name", "6.text", /Bad --param/],
    // Not "node 3 has no input seed": it has, and it is lifted already.
    [
      "one input lifted twice",
      ["3.seed=seed", "KSampler.seed=seed2"],
      /input seed of node 3 is already the parameter "seed"\n {2}→ Lift each input once/,
    ],
    ["one name twice", ["3.seed=seed", "3.steps=seed"], /"seed" is used twice\n {2}→ Give each/],
  ];
  test.each(bad)("%s is a USAGE error", (_, spec, message) => {
    let error: unknown;
    try {
      importWorkflow(ui("ui_tpl_default"), schema033(), {
        generated,
        params: typeof spec === "string" ? [spec] : spec,
      });
    } catch (e) {
      error = e;
    }
    expect(isComfycError(error, "USAGE")).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

test("examples/imported-template.ts is what `comfyc import` writes for the default template", () => {
  const bundled = normalizeObjectInfo(readJson(BUNDLED_SCHEMA), BUNDLED_SCHEMA);
  const { source } = importWorkflow(ui("ui_tpl_default"), bundled, {
    generated: "../generated",
    sourceName: "ui_tpl_default.json",
    name: "default-template",
    params: ["6.text=prompt", "7.text=negative", "KSampler.seed=seed", "KSampler.steps=steps"],
  });
  expect(source).toBe(readFileSync(join(ROOT, "examples", "imported-template.ts"), "utf8"));
});

test("an image's embedded workflow imports like the JSON it carries", async () => {
  const source = await readWorkflowSource(
    readFileSync(join(IMPORT_FIXTURES, "media", "comfyui-0.33.0-saveimage.png")),
  );
  const fromImage = importWorkflow(source, schema033(), { generated }).source;
  const fromJson = importWorkflow(ui("media-savers"), schema033(), { generated }).source;
  expect(fromImage).toBe(fromJson);
  expect(convertWorkflow(importFixture("ui", "media-savers.json"), schema033()).prompt).toEqual(
    importWorkflow(source, schema033()).prompt,
  );
});
