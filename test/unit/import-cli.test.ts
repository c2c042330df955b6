import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { convertWorkflow } from "../../src/import/convert.js";
import { tempDir } from "../helpers.js";
import { cli } from "../helpers-cli.js";
import {
  IMPORT_FIXTURES,
  importFixture,
  schema033,
  writeLargeOutputFiles,
} from "../import-helpers.js";

let dir: string;
let schema: string;
beforeAll(() => {
  dir = tempDir("comfyc-import-cli-");
  schema = join(dir, "object_info.json");
  writeFileSync(
    schema,
    gunzipSync(readFileSync(join(IMPORT_FIXTURES, "object_info-comfyui-0.33.0.json.gz"))),
  );
});
const fixture = (...parts: string[]) => join(IMPORT_FIXTURES, ...parts);
const write = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe("comfyc convert", () => {
  test("an image's workflow becomes the prompt convertWorkflow gives, with one summary line", async () => {
    const { code, stdout, stderr } = await cli(
      "convert",
      fixture("media", "comfyui-0.33.0-saveanimatedwebp.webp"),
      "--schema",
      schema,
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(
      convertWorkflow(importFixture("ui", "media-savers.json"), schema033()).prompt,
    );
    expect(stderr).toMatch(/^Converted .*\(WEBP metadata\) with .*: 11 nodes, 0 warning\(s\)\.$/m);
  });

  test("--out writes the file; warnings go to stderr with node id, title and class", async () => {
    const out = join(dir, "subgraphs.json");
    const { code, stderr } = await cli(
      "convert",
      fixture("ui", "rules-subgraphs.json"),
      "--schema",
      schema,
      "--out",
      out,
    );
    expect(code).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(out, "utf8")))).toContain("7:20:23");
    expect(stderr).toMatch(
      /warning: node 2 "encode \(promoted text\)" \(a1a1a1a1-[^)]*\): the instance stores/,
    );
  });

  test("--keep-subgraph-ids and --strict", async () => {
    const kept = await cli(
      "convert",
      fixture("ui", "rules-subgraphs.json"),
      "--schema",
      schema,
      "--keep-subgraph-ids",
    );
    expect(Object.keys(JSON.parse(kept.stdout))).toContain("7:20:5");
    const strict = await cli(
      "convert",
      fixture("ui", "rules-subgraphs.json"),
      "--schema",
      schema,
      "--strict",
    );
    expect(strict.code).toBe(3);
  });

  test("--control-modes, --dynamic-prompts and --placeholders with --random-seed send what the editor's next queue sends", async () => {
    const args = ["convert", fixture("ui", "queue-time.json"), "--schema", schema];
    const { code, stdout, stderr } = await cli(
      ...args,
      "--control-modes",
      "--dynamic-prompts",
      "--placeholders",
      "--random-seed",
      "12345",
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(importFixture("editor", "queue-time-before.json"));
    expect(stderr).toMatch(
      /warning: node 5 "KSampler" \(KSampler\): seed 100 became 101 \(control_after_generate "increment", option controlModes\)/,
    );
    const bad = await cli(...args, "--control-modes", "--random-seed", "seven");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--random-seed: "seven" is not a whole number/);
    // Too many digits is a number out of range, and the range has both ends.
    const big = await cli(...args, "--control-modes", "--random-seed", "99999999999999999999");
    expect([big.code, big.stderr]).toEqual([
      2,
      expect.stringMatching(
        /--random-seed: 99999999999999999999 is out of range\n {2}→ Write a whole number in 0–9007199254740991/,
      ),
    ]);
  });

  test("a PNG cut short after its metadata converts, warning that it is cut (exit 0)", async () => {
    const png = readFileSync(fixture("media", "comfyui-0.33.0-saveimage.png"));
    const cut = write("cut.png", png.subarray(0, png.length - 30));
    for (const command of ["convert", "import"]) {
      const { code, stdout, stderr } = await cli(command, cut, "--schema", schema);
      expect(code).toBe(0);
      expect(stdout.length).toBeGreaterThan(0);
      expect(stderr).toMatch(
        /^warning: .*cut\.png \(PNG\) is cut short: its "IDAT" chunk at byte 6088 declares 28 bytes, but the file ends \d+ bytes later; the metadata before the cut was read$/m,
      );
    }
    const early = write("cut-early.png", png.subarray(0, 1000));
    const refused = await cli("convert", early, "--schema", schema);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/"tEXt" chunk at byte 33 declares 1860 bytes/);
  });

  test("a 2 GiB PNG converts: only its metadata is read, there is no size limit for media", async () => {
    const { png } = await writeLargeOutputFiles(dir, 2 * 1024 * 1024 * 1024);
    const { code, stdout } = await cli("convert", png, "--schema", schema);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(
      convertWorkflow(importFixture("ui", "media-savers.json"), schema033()).prompt,
    );
  });

  test("a UI workflow without --schema or --url is a usage error (exit 2)", async () => {
    expect((await cli("convert", fixture("ui", "rules-links.json"))).code).toBe(2);
  });

  const bad: [string, () => string, RegExp][] = [
    ["truncated JSON", () => write("truncated.json", '{"nodes": [{"id": 1,'), /not valid JSON/],
    [
      "JSON of neither format",
      () => write("neither.json", '{"hello": 1}'),
      /not a ComfyUI workflow/,
    ],
    [
      "an image without metadata",
      () => fixture("media", "pillow-no-metadata.png"),
      /carries no ComfyUI workflow/,
    ],
    ["a missing file", () => join(dir, "nope.json"), /Cannot read/],
    [
      "a 50 MB file",
      () => write("big.json", new Uint8Array(50 * 1024 * 1024).fill(0x20)),
      /more than the 32 MiB/,
    ],
    [
      "a link to a missing node",
      () => {
        const d = importFixture("ui", "rules-links.json") as { links: unknown[][] };
        d.links[0]![1] = 4242;
        return write("missing.json", JSON.stringify(d));
      },
      /node 2 "LoRA \(bypassed\)" \(LoraLoader\): input "model" is linked to node 4242/,
    ],
    [
      "a cycle",
      () =>
        write(
          "cycle.json",
          JSON.stringify({
            version: 0.4,
            nodes: [
              {
                id: 1,
                type: "ImageInvert",
                inputs: [{ name: "image", type: "IMAGE", link: 2 }],
                outputs: [{ name: "IMAGE", type: "IMAGE", links: [1] }],
              },
              {
                id: 2,
                type: "ImageInvert",
                inputs: [{ name: "image", type: "IMAGE", link: 1 }],
                outputs: [{ name: "IMAGE", type: "IMAGE", links: [2] }],
              },
            ],
            links: [
              [1, 1, 0, 2, 0, "IMAGE"],
              [2, 2, 0, 1, 0, "IMAGE"],
            ],
          }),
        ),
      /cycle: 1 \(ImageInvert\) → 2 \(ImageInvert\) → 1/,
    ],
  ];
  test.each(bad)("%s: exit 3, one typed error, nothing written", async (_, file, message) => {
    const out = join(dir, `out-${Math.random().toString(36).slice(2)}.json`);
    const { code, stderr } = await cli("convert", file(), "--schema", schema, "--out", out);
    expect(code).toBe(3);
    expect(stderr).toMatch(message);
    expect(stderr.match(/^error \[/gm)).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });
});

describe("comfyc import", () => {
  test("writes a module whose generated imports are relative to the output file", async () => {
    const out = join(dir, "wf.ts");
    const { code, stderr } = await cli(
      "import",
      fixture("ui", "ui_tpl_default.json"),
      "--schema",
      schema,
      "--generated",
      join(dir, "gen"),
      "--out",
      out,
    );
    expect(code).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(text).toContain('} from "./gen/core.js";');
    expect(stderr).toMatch(/warning: .*gen has no core\.d\.ts; run `comfyc codegen`/);
  });

  test("--param lifts inputs; a bad --param is a usage error and writes nothing", async () => {
    const ok = await cli(
      "import",
      fixture("ui", "ui_tpl_default.json"),
      "--schema",
      schema,
      "--param",
      "6.text=prompt",
    );
    expect(ok.stdout).toContain("export default defineWorkflow({ params }, (wf, p) => {");
    const out = join(dir, "bad.ts");
    const bad = await cli(
      "import",
      fixture("ui", "ui_tpl_default.json"),
      "--schema",
      schema,
      "--param",
      "6.nope=x",
      "--out",
      out,
    );
    expect(bad.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
