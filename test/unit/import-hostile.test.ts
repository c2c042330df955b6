import { readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import {
  convertWorkflow,
  MAX_EXPANDED_NODES,
  MAX_SUBGRAPH_DEPTH,
} from "../../src/import/convert.js";
import { MAX_WORKFLOW_JSON_BYTES, readWorkflowSource } from "../../src/import/detect.js";
import { formatProblem, WorkflowImportError, type ImportProblem } from "../../src/import/errors.js";
import { importWorkflow } from "../../src/import/to-typescript.js";
import { IMPORT_FIXTURES, schema033 } from "../import-helpers.js";

/**
 * Break-it cases: hostile and malformed files. Each must end in a result or in one typed
 * `WorkflowImportError` (code `WORKFLOW_INVALID`, CLI exit 3) whose problems name what is
 * wrong, never in a stack overflow, another exception or a hang.
 */

type Link = [number, number, number, number, number, string];
const node = (
  id: number,
  type: string,
  ins: [string, string, number | null][] = [],
  outs: [string, string, number[]][] = [],
  extra: Record<string, unknown> = {},
) => ({
  id,
  type,
  mode: 0,
  inputs: ins.map(([name, t, link]) => ({ name, type: t, link })),
  outputs: outs.map(([name, t, links]) => ({ name, type: t, links })),
  ...extra,
});
const doc = (nodes: unknown[], links: Link[] = [], more: Record<string, unknown> = {}) => ({
  version: 0.4,
  nodes,
  links,
  ...more,
});
const latent = node(1, "EmptyLatentImage", [], [["LATENT", "LATENT", [1]]], {
  widgets_values: [8, 8, 1],
});
const decode = (id: number, link: number) => node(id, "VAEDecode", [["samples", "LATENT", link]]);
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** `n` subgraph definitions, each holding `fan` instances of the next; the last holds a node. */
function nestedSubgraphs(n: number, fan: number) {
  const subgraphs = Array.from({ length: n }, (_, i) => ({
    id: uuid(i),
    name: `level ${i}`,
    inputs: [],
    outputs: [],
    links: [],
    nodes:
      i + 1 < n
        ? Array.from({ length: fan }, (_, k) => node(k + 1, uuid(i + 1)))
        : [node(1, "EmptyLatentImage", [], [], { widgets_values: [8, 8, 1] })],
  }));
  return doc([node(1, uuid(0))], [], { definitions: { subgraphs } });
}

/** A chain of `n` nodes of `type` (mode `mode`) between an EmptyLatentImage and a VAEDecode. */
function chain(n: number, type: string, mode: number) {
  const nodes: unknown[] = [latent];
  const links: Link[] = [];
  for (let i = 1; i <= n; i++) {
    const slot: [string, string] = type === "Reroute" ? ["", "*"] : ["samples", "LATENT"];
    nodes.push({
      ...node(i + 1, type, [[...slot, i]], [["LATENT", "LATENT", [i + 1]]]),
      mode,
      ...(type === "Reroute" ? {} : { widgets_values: ["nearest-exact", 1] }),
    });
    links.push([i, i, 0, i + 1, 0, "LATENT"]);
  }
  nodes.push(decode(n + 2, n + 1));
  links.push([n + 1, n + 1, 0, n + 2, 0, "LATENT"]);
  return doc(nodes, links);
}

function problemsOf(work: () => unknown): ImportProblem[] {
  try {
    work();
  } catch (e) {
    expect(e).toBeInstanceOf(WorkflowImportError);
    expect((e as WorkflowImportError).code).toBe("WORKFLOW_INVALID");
    return [...(e as WorkflowImportError).problems];
  }
  throw new Error("expected a WorkflowImportError");
}

describe("loops and depths: typed errors, not stack overflows", () => {
  const cases: [string, unknown, string, RegExp][] = [
    [
      "two reroutes feeding each other",
      doc(
        [
          node(2, "Reroute", [["", "*", 2]], [["", "*", [1, 3]]]),
          node(3, "Reroute", [["", "*", 1]], [["", "*", [2]]]),
          decode(4, 3),
        ],
        [
          [1, 2, 0, 3, 0, "*"],
          [2, 3, 0, 2, 0, "*"],
          [3, 2, 0, 4, 0, "LATENT"],
        ],
      ),
      "cycle",
      /leads back to itself/,
    ],
    [
      "a reroute feeding itself",
      doc(
        [node(2, "Reroute", [["", "*", 1]], [["", "*", [1, 3]]]), decode(4, 3)],
        [
          [1, 2, 0, 2, 0, "*"],
          [3, 2, 0, 4, 0, "LATENT"],
        ],
      ),
      "cycle",
      /node 2 \(Reroute\): output 0 leads back to itself/,
    ],
    [
      "two bypassed nodes feeding each other",
      (() => {
        const d = chain(2, "LatentUpscaleBy", 4);
        // Close the loop: the first bypassed node takes its input from the second.
        d.links[0] = [1, 3, 0, 2, 0, "LATENT"];
        return d;
      })(),
      "cycle",
      /Upscale Latent By.*leads back to itself/,
    ],
    [
      "a SetNode fed by its own GetNode",
      doc(
        [
          node(2, "SetNode", [["LATENT", "LATENT", 1]], [["*", "*", []]], {
            widgets_values: ["x"],
          }),
          node(3, "GetNode", [], [["*", "*", [1, 2]]], { widgets_values: ["x"] }),
          decode(4, 2),
        ],
        [
          [1, 3, 0, 2, 0, "*"],
          [2, 3, 0, 4, 0, "LATENT"],
        ],
      ),
      "cycle",
      /\(GetNode\): output 0 leads back to itself/,
    ],
    ["a chain of 3,000 reroutes", chain(3000, "Reroute", 0), "too_deep", /more than 1000 reroutes/],
    [
      "a chain of 3,000 bypassed nodes",
      chain(3000, "LatentUpscaleBy", 4),
      "too_deep",
      /more than 1000 reroutes, bypassed nodes/,
    ],
    [
      `subgraphs nested ${MAX_SUBGRAPH_DEPTH + 1} levels deep`,
      nestedSubgraphs(MAX_SUBGRAPH_DEPTH + 1, 1),
      "too_deep",
      /node 1 \(00000000-0000-4000-8000-000000000000\): subgraph "level 0" nests subgraphs more than 100 levels deep/,
    ],
    [
      "subgraphs nested 5,000 levels deep",
      nestedSubgraphs(5000, 1),
      "too_deep",
      /nested deeper than can be followed|more than 100 levels deep/,
    ],
    [
      "a small file whose nested instances multiply to 2^20 nodes",
      nestedSubgraphs(21, 2),
      "too_large",
      new RegExp(`subgraph "level 0" expands to more than ${MAX_EXPANDED_NODES} nodes`),
    ],
  ];
  test.each(cases)("%s", (_, d, kind, message) => {
    const problems = problemsOf(() => convertWorkflow(d, schema033()));
    expect(problems.map((p) => p.kind)).toContain(kind);
    expect(problems.map(formatProblem).join("\n")).toMatch(message);
  });

  test("long chains of real nodes and nesting within the limits convert", () => {
    const { prompt } = convertWorkflow(chain(5000, "LatentUpscaleBy", 0), schema033());
    expect(Object.keys(prompt)).toHaveLength(5002);
    const nested = convertWorkflow(nestedSubgraphs(MAX_SUBGRAPH_DEPTH, 1), schema033()).prompt;
    expect(Object.keys(nested)).toHaveLength(1);
    expect(Object.keys(nested)[0]!.split(":")).toHaveLength(MAX_SUBGRAPH_DEPTH + 1);
  });

  test("an API prompt of 20,000 nodes listed last-first imports in dependency order, named apart", () => {
    const prompt: Record<string, unknown> = {};
    for (let i = 20000; i >= 1; i--)
      prompt[`n${i}`] = {
        class_type: "ImageInvert",
        inputs: i > 1 ? { image: [`n${i - 1}`, 0] } : {},
      };
    const { source } = importWorkflow({ format: "api", prompt, container: "json" }, schema033());
    const first = source.indexOf(
      "const invertImageColors = wf.add(ImageInvert, { image: undefined",
    );
    expect(first).toBeGreaterThan(0);
    expect(source.indexOf("const invertImageColors2 = ")).toBeGreaterThan(first);
    expect(source).toMatch(
      /const invertImageColors19999 = wf\.add\(\s*ImageInvert,\s*\{ image: invertImageColors19998\.IMAGE \},\s*\{ id: "n19999" \},?\s*\);/,
    );
  });
});

describe("wrong types: the document check names the node and field", () => {
  const cases: [string, unknown, RegExp][] = [
    ["a node that is null", doc([null]), /nodes\[0\]: .*received null/],
    ["a node id that is an object", doc([{ id: {}, type: "X" }]), /nodes\[0\]\.id/],
    ["a class that is a number", doc([{ id: 7, type: 5 }]), /node 7: nodes\[0\]\.type/],
    [
      "inputs that are a string",
      doc([{ id: 7, type: "KSampler", inputs: "x" }]),
      /node 7 \(KSampler\): nodes\[0\]\.inputs: .*expected array/,
    ],
    ["a link of two numbers", doc([decode(2, 5)], [[5, 2] as unknown as Link]), /links\[0\]/],
    // A union's "Invalid input" alone named no field: the closest spelling names it.
    [
      "an array link with a string slot",
      doc([decode(2, 5)], [[5, 2, "0", 2, 0, "LATENT"] as unknown as Link]),
      /links\[0\]\[2\]: .*expected number, received string/,
    ],
    [
      "an object link without origin_slot",
      doc(
        [decode(2, 5)],
        [{ id: 5, origin_id: 2, target_id: 2, target_slot: 0, type: "LATENT" } as unknown as Link],
      ),
      /links\[0\]\.origin_slot: .*expected number, received undefined/,
    ],
    [
      "subgraph definitions that are numbers",
      doc([], [], { definitions: { subgraphs: [5] } }),
      /expected object/,
    ],
  ];
  test.each(cases)("%s", (_, d, message) => {
    const problems = problemsOf(() => convertWorkflow(d, schema033()));
    expect(problems.every((p) => p.kind === "invalid_document")).toBe(true);
    expect(problems.map(formatProblem).join("\n")).toMatch(message);
  });

  test("odd but harmless values convert, as the editor loads them", () => {
    const d = doc([
      { id: 1, type: "KSampler", widgets_values: "abc" },
      { id: 2, type: "EmptyLatentImage", mode: "4", widgets_values: [{ a: 1 }, [1, 2], null] },
      { id: 3, type: "workflow>g" },
    ]);
    const problems = problemsOf(() => convertWorkflow(d, schema033()));
    // Only the group node without a definition is a problem; the rest are values.
    expect(problems.map((p) => [p.kind, p.nodeId])).toEqual([["group_node", "3"]]);
  });
});

describe("hostile files: typed errors, nothing else", () => {
  const media = (f: string) => readFileSync(join(IMPORT_FIXTURES, "media", f));
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "latin1");
    out.set(data, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return out;
  };
  const png = (...chunks: Buffer[]) => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(1, 0);
    ihdr.writeUInt32BE(1, 4);
    ihdr[8] = 8;
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      ...chunks,
      chunk("IDAT", deflateSync(Buffer.from([0, 0]))),
      chunk("IEND", Buffer.alloc(0)),
    ]);
  };
  const text = (keyword: string, body: Buffer) =>
    chunk("tEXt", Buffer.concat([Buffer.from(`${keyword}\0`, "latin1"), body]));

  const files = [
    "comfyui-0.33.0-saveimage.png",
    "comfyui-0.33.0-saveanimatedpng.png",
    "comfyui-0.33.0-saveanimatedwebp.webp",
    "comfyui-0.33.0-saveaudio.flac",
    "comfyui-0.33.0-saveaudiomp3.mp3",
    "comfyui-0.33.0-saveaudioopus.opus",
    "comfyui-0.33.0-savevideo.mp4",
    "comfyui-0.33.0-savewebm.webm",
  ];
  test.each(files)("%s cut short or damaged anywhere: a workflow or a typed error", async (f) => {
    const whole = media(f);
    const variants: Buffer[] = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9].map((r) =>
      whole.subarray(0, Math.floor(whole.length * r)),
    );
    const flipped = Buffer.from(whole);
    for (let i = 16; i < flipped.length; i += 97) flipped[i]! ^= 0xff;
    variants.push(flipped);
    for (const bytes of variants) {
      const outcome = await readWorkflowSource(bytes, f).then(
        (s) => s.format,
        (e: unknown) => e,
      );
      if (typeof outcome !== "string") {
        expect(outcome).toBeInstanceOf(WorkflowImportError);
        expect((outcome as WorkflowImportError).problems[0]!.kind).toMatch(
          /^(unreadable_media|no_metadata)$/,
        );
      }
    }
  });

  test("a text chunk larger than a workflow may be is refused before it is decoded", async () => {
    const big = png(text("workflow", Buffer.alloc(MAX_WORKFLOW_JSON_BYTES + 1, 0x20)));
    const error = await readWorkflowSource(big, "big.png").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowImportError);
    expect((error as Error).message).toMatch(/big\.png \(PNG\) has a tEXt chunk of 32\.0 MiB/);
  });

  test("a chunk declaring 2 GiB in a small file is a damaged PNG", async () => {
    const bytes = png(text("workflow", Buffer.from("{}")));
    bytes.writeUInt32BE(0x7fffffff, 33);
    const error = await readWorkflowSource(bytes, "liar.png").catch((e: unknown) => e);
    expect((error as WorkflowImportError).problems[0]!.kind).toBe("unreadable_media");
    expect((error as Error).message).toMatch(
      /liar\.png looks like a PNG file but cannot be read: its "tEXt" chunk at byte 33 declares 2147483647 bytes/,
    );
  });

  test("millions of empty chunks are refused, not walked for minutes", async () => {
    // 4,194,305 empty bKGD chunks (50 MiB) before the text: one past the limit.
    const empty = Buffer.from([0, 0, 0, 0, 0x62, 0x4b, 0x47, 0x44, 0, 0, 0, 0]);
    const many = Buffer.alloc((4 * 1024 * 1024 + 1) * 12, empty);
    const error = await readWorkflowSource(
      png(many, text("workflow", Buffer.from("{}"))),
      "many.png",
    ).catch((e: unknown) => e);
    expect((error as WorkflowImportError).problems[0]!.kind).toBe("too_large");
    expect((error as Error).message).toMatch(/many\.png \(PNG\) has more than 4,194,304 chunks/);
  });

  test("a workflow text that is JSON of the wrong kind: typed, naming the metadata", async () => {
    const error = await readWorkflowSource(
      png(text("workflow", Buffer.from('"hello"'))),
      "odd.png",
    ).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/odd\.png \(PNG\) has workflow metadata, but/);
  });
});
