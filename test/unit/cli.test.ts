import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { buildProgram } from "../../src/cli/main.js";
import { cli } from "../helpers-cli.js";
import { BUNDLED_SCHEMA, fixture, readJson, ROOT, tempDir } from "../helpers.js";
import { stringifyJson } from "../../src/protocol/json.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";

const bundledSchema = () => normalizeObjectInfo(readJson(BUNDLED_SCHEMA));
const isPromptBody = (v: unknown): v is { prompt: unknown } =>
  typeof v === "object" && v !== null && "client_id" in v;

const example = (name: string) => join(ROOT, "examples", name);

describe("comfyc --help", () => {
  test("lists every command exactly as its module declares it, without loading the modules", async () => {
    const lazy = await buildProgram([]);
    const loaded = await buildProgram("all");
    expect(lazy.helpInformation()).toBe(loaded.helpInformation());
    expect(lazy.commands.every((c) => c.options.length === 0)).toBe(true);
  }, 120_000);

  test("a command named on the command line is loaded in full, also after `help`", async () => {
    for (const argv of [
      ["codegen", "--help"],
      ["help", "codegen"],
      ["--verbose", "codegen"],
    ]) {
      const program = await buildProgram(argv);
      const codegen = program.commands.find((c) => c.name() === "codegen");
      expect(codegen?.helpInformation()).toContain("--check");
      const serve = program.commands.find((c) => c.name() === "serve");
      expect(serve?.options).toEqual([]);
    }
  });
});

describe("comfyc compile", () => {
  test("prints the golden JSON of an example", async () => {
    const { code, stdout } = await cli("compile", example("hires-fix.ts"));
    expect(code).toBe(0);
    expect(`${stdout}\n`).toBe(readFileSync(example("golden/hires-fix.json"), "utf8"));
  });

  test("--param and --out", async () => {
    const out = join(tempDir(), "p.json");
    const { code } = await cli(
      "compile",
      example("sd15-txt2img.ts"),
      "--param",
      "prompt=a red fox",
      "--param",
      "steps=33",
      "--out",
      out,
    );
    expect(code).toBe(0);
    const prompt = JSON.parse(readFileSync(out, "utf8"));
    expect(Object.values(prompt).some((n: any) => n.inputs.steps === 33)).toBe(true);
    expect(Object.values(prompt).some((n: any) => n.inputs.text === "a red fox")).toBe(true);
  });

  test("invalid graph: exit 1 with the source location; --no-validate compiles anyway", async () => {
    const bad = await cli("compile", example("lora-stack.ts"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/PROMPT_INVALID[\s\S]*examples\/components\/lora-stack\.ts:\d+/);
    expect((await cli("compile", example("lora-stack.ts"), "--no-validate")).code).toBe(0);
    const other = await cli(
      "compile",
      example("lora-stack.ts"),
      "--schema",
      fixture("object_info", "oi_2024-04_icefairy_169.json"),
      "--param",
      "checkpoint=sample_model.safetensors",
    );
    expect(other.code).toBe(0);
  });

  test("bad parameters: exit 2 naming each", async () => {
    const { code, stderr } = await cli(
      "compile",
      example("sd15-txt2img.ts"),
      "--param",
      "steps=0",
      "--param",
      "width=7",
    );
    expect(code).toBe(2);
    expect(stderr).toContain("steps:");
    expect(stderr).toContain("width:");
  });

  test("a file without a default-exported workflow: exit 3", async () => {
    const file = join(tempDir(), "nothing.ts");
    writeFileSync(file, "export const x = 1;\n");
    expect((await cli("compile", file)).code).toBe(3);
  });
});

describe("comfyc validate", () => {
  const write = (prompt: unknown) => {
    const file = join(tempDir(), "prompt.json");
    writeFileSync(file, JSON.stringify(prompt));
    return file;
  };

  test("valid prompt: exit 0", async () => {
    const file = write({
      "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    });
    const { code, stderr } = await cli("validate", file, "--schema", BUNDLED_SCHEMA);
    expect(code).toBe(0);
    expect(stderr).toMatch(/is valid/);
  });

  test("invalid prompt: exit 1, readable text, or ComfyUI's body with --json", async () => {
    const file = write({
      "1": { class_type: "EmptyImage", inputs: { width: 0, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    });
    const text = await cli("validate", file, "--schema", BUNDLED_SCHEMA);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('Node "1" (EmptyImage): input width: 0 is below the minimum');
    const json = await cli("validate", file, "--schema", BUNDLED_SCHEMA, "--json");
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout);
    expect(body.error.type).toBe("prompt_outputs_failed_validation");
    expect(body.node_errors["1"].errors[0].type).toBe("value_smaller_than_min");
  });

  test("--comfyui-version switches the rules", async () => {
    const file = write({ "1": { class_type: "Nope", inputs: {} } });
    const newest = await cli("validate", file, "--schema", BUNDLED_SCHEMA, "--json");
    const legacy = await cli(
      "validate",
      file,
      "--schema",
      BUNDLED_SCHEMA,
      "--json",
      "--comfyui-version",
      "0.3.64",
    );
    expect(JSON.parse(newest.stdout).error.type).toBe("missing_node_type");
    expect(JSON.parse(legacy.stdout).error.type).toBe("invalid_prompt");
  });

  test("--comfyui-version that is not a version is a usage error (exit 2) naming the flag", async () => {
    const file = write({ "1": { class_type: "Nope", inputs: {} } });
    const bad = await cli(
      "validate",
      file,
      "--schema",
      BUNDLED_SCHEMA,
      "--comfyui-version",
      "banana",
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--comfyui-version: "banana" is not a ComfyUI version');
    expect(bad.stderr).toMatch(/→ Give a release number such as 0\.3\.64/);
  });

  // The library's answers for these are pinned against the real 0.3.64 and 0.33.0 by the
  // differential suite ("an empty prompt", "node without class_type", "a node without inputs").
  const judged: [string, unknown][] = [
    ["{} (no nodes)", {}],
    ["a POST /prompt body with an empty prompt", { prompt: {}, client_id: "x" }],
    ["a node without class_type", { "1": { inputs: {} } }],
    ["an empty node", { "1": {} }],
    ["a node without inputs", { "2": { class_type: "SaveImage" } }],
    [
      "a linked node without inputs",
      {
        "1": { class_type: "EmptyImage" },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      },
    ],
  ];
  test.each(judged)(
    "%s is judged as ComfyUI judges it: exit 1, the library's body with --json",
    async (_name, content) => {
      const file = write(content);
      const bare = isPromptBody(content) ? content.prompt : content;
      for (const version of ["0.3.64", "0.33.0"]) {
        const json = await cli(
          "validate",
          file,
          "--schema",
          BUNDLED_SCHEMA,
          "--json",
          "--comfyui-version",
          version,
        );
        expect(json.code, json.stderr).toBe(1);
        const library = validatePrompt(bare as Record<string, unknown>, bundledSchema(), {
          comfyuiVersion: version,
        });
        expect(library.valid).toBe(false);
        expect(JSON.parse(json.stdout)).toEqual(
          JSON.parse(
            stringifyJson({ error: library.error ?? null, node_errors: library.nodeErrors }),
          ),
        );
        expect(json.stderr).toContain("The prompt fails validation");
        expect(json.stderr).not.toContain("not a ComfyUI workflow");
      }
    },
  );

  test("the text report names what is wrong and what to do", async () => {
    const empty = await cli("validate", write({}), "--schema", BUNDLED_SCHEMA);
    expect(empty.stderr).toMatch(/Prompt has no outputs\n\s+→ Add an output node/);
    const noClass = await cli(
      "validate",
      write({ "1": { inputs: {} } }),
      "--schema",
      BUNDLED_SCHEMA,
    );
    expect(noClass.stderr).toContain("Node 'ID #1' has no class_type");
    expect(noClass.stderr).toMatch(/→ Give the node named in the details a class_type/);
    const noInputs = await cli(
      "validate",
      write({ "2": { class_type: "SaveImage" } }),
      "--schema",
      BUNDLED_SCHEMA,
    );
    expect(noInputs.stderr).toContain('Node "2" (SaveImage): this node has no inputs object');
  });

  const notPrompts: [string, string, RegExp][] = [
    ["a JSON array", "[]", /is JSON but not an API prompt or a ComfyUI workflow: an array/],
    ["a non-empty array", '[{"class_type": "SaveImage"}]', /an array, not an object of nodes/],
    ["a number", "5", /is JSON but not an API prompt or a ComfyUI workflow: a number/],
    ["null", "null", /is JSON but not an API prompt or a ComfyUI workflow: a null/],
    ["a node that is a number", '{"1": 5}', /the value of "1" is a number, not a node/],
    ["an object_info", '{"KSampler": {"input": {}, "output": []}}', /object_info/],
  ];
  test.each(notPrompts)(
    "%s is not a prompt: exit 3 saying what it is",
    async (_n, text, message) => {
      const file = join(tempDir(), "input.json");
      writeFileSync(file, text);
      const { code, stderr } = await cli("validate", file, "--schema", BUNDLED_SCHEMA);
      expect(code).toBe(3);
      expect(stderr).toMatch(/^error \[WORKFLOW_INVALID\]/);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/→ Pass an API-format prompt/);
    },
  );

  test("--comfyui-version: a v prefix is fine; pre-release, partial and zero-padded numbers are refused (exit 2) saying why", async () => {
    const file = write({ "1": { class_type: "Nope", inputs: {} } });
    const run = (v: string) =>
      cli("validate", file, "--schema", BUNDLED_SCHEMA, "--json", "--comfyui-version", v);
    const tagged = await run("v0.3.64");
    expect(tagged.code).toBe(1);
    expect(JSON.parse(tagged.stdout).error.type).toBe("invalid_prompt");
    const refused: [string, RegExp][] = [
      ["0.33.0-rc1", /"-rc1" marks a pre-release, which comes before 0\.33\.0/],
      ["0.3", /three parts, major\.minor\.patch/],
      ["00.3.64", /leading zero[\s\S]*→ Write it without leading zeros: 0\.3\.64/],
    ];
    for (const [v, why] of refused) {
      const bad = await run(v);
      expect(bad.code, v).toBe(2);
      expect(bad.stdout).toBe("");
      expect(bad.stderr).toContain(`--comfyui-version: "${v}" is not a ComfyUI version`);
      expect(bad.stderr).toMatch(why);
    }
  });

  test("--comfyui-version newer than the newest modelled release: its rules, one warning naming 0.33.0", async () => {
    const file = write({
      "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    });
    const newer = await cli(
      "validate",
      file,
      "--schema",
      BUNDLED_SCHEMA,
      "--comfyui-version",
      "999.0.0",
    );
    expect(newer.code).toBe(0);
    const lines = newer.stderr.split("\n");
    expect(lines.filter((l) => l.startsWith("warning:"))).toEqual([
      "warning: --comfyui-version: ComfyUI 999.0.0 is newer than the newest release comfyc models (0.33.0): 0.33.0's rules apply, and what 999.0.0 changed is not modelled",
    ]);
    expect(newer.stderr).toContain("(ComfyUI 999.0.0, judged by 0.33.0's rules)");
    const unknown = write({ "1": { class_type: "Nope", inputs: {} } });
    const json = await cli(
      "validate",
      unknown,
      "--schema",
      BUNDLED_SCHEMA,
      "--json",
      "--comfyui-version",
      "1.0.0",
    );
    expect(JSON.parse(json.stdout).error.type).toBe("missing_node_type");
    expect(json.stderr).toMatch(/^warning: .*1\.0\.0 is newer/m);
  });

  test("an editor workflow is converted with the same schema, saying so in one line", async () => {
    const file = join(ROOT, "test", "fixtures", "import", "ui", "ui_tpl_default.json");
    const { stderr } = await cli("validate", file, "--schema", BUNDLED_SCHEMA);
    expect(stderr.split("\n").filter((l) => l.startsWith("Converted"))).toEqual([
      `Converted the editor workflow in ${file} to an API prompt of 7 nodes with ${BUNDLED_SCHEMA} (1 warning(s)).`,
    ]);
  });
});

describe("comfyc codegen", () => {
  test("needs a source; --check reports drift with exit 1", async () => {
    expect((await cli("codegen")).code).toBe(2);
    const out = tempDir();
    expect(
      (await cli("codegen", "--file", BUNDLED_SCHEMA, "--out", out, "--include", "core")).code,
    ).toBe(0);
    expect(
      (await cli("codegen", "--file", BUNDLED_SCHEMA, "--out", out, "--include", "core", "--check"))
        .code,
    ).toBe(0);
    const drift = await cli(
      "codegen",
      "--file",
      fixture("object_info", "oi_2024-04_icefairy_169.json"),
      "--out",
      out,
      "--check",
    );
    expect(drift.code).toBe(1);
    expect(drift.stderr).toMatch(/out of date[\s\S]*- class /);
  });

  test("an unchanged re-run writes nothing; other options, a changed schema or an edited file regenerate", async () => {
    const out = tempDir();
    const schema = join(tempDir(), "object_info.json");
    const bundled = readJson(BUNDLED_SCHEMA) as Record<string, unknown>;
    writeFileSync(schema, JSON.stringify(bundled));
    const codegen = (...extra: string[]) =>
      cli("codegen", "--file", schema, "--out", out, "--include", "core", ...extra);
    expect((await codegen()).stderr).toMatch(/Generated \d+ node classes/);
    const again = await codegen();
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/up to date .*nothing written/);
    // Key order does not matter: the recorded hash is of the canonical JSON.
    writeFileSync(schema, JSON.stringify(Object.fromEntries(Object.entries(bundled).reverse())));
    expect((await codegen()).stderr).toMatch(/up to date/);
    expect((await codegen("--loose-combos")).stderr).toMatch(/Generated/);
    expect((await codegen("--loose-combos")).stderr).toMatch(/up to date/);
    expect((await codegen()).stderr).toMatch(/Generated/);
    writeFileSync(join(out, "core.d.ts"), "// edited\n");
    expect((await codegen()).stderr).toMatch(/Generated .*\(1 written/);
    expect((await codegen("--force")).stderr).toMatch(/Generated .*\(0 written/);
    const { KSampler: _, ...withoutKSampler } = bundled;
    writeFileSync(schema, JSON.stringify(withoutKSampler));
    expect((await codegen()).stderr).toMatch(/Generated .*\(\d+ written/);
    expect((await codegen("--check")).code).toBe(0);
  }, 120_000);

  test("a file that is not an object_info: exit 3 with one clear error", async () => {
    const { code, stderr } = await cli(
      "codegen",
      "--file",
      fixture("workflows", "api_salad_sd15_txt2img.json"),
      "--out",
      tempDir(),
    );
    expect(code).toBe(3);
    expect(stderr).toMatch(/OBJECT_INFO_INVALID.*API-format prompt/);
  });
});
