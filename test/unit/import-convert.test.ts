import { describe, expect, test } from "vitest";
import { convertWorkflow, isValidConnection } from "../../src/import/convert.js";
import { WorkflowImportError } from "../../src/import/errors.js";
import { processDynamicPrompt } from "../../src/import/queue-time.js";
import { importFixture, schema033 } from "../import-helpers.js";

/** A compact UI document for one rule: nodes with their sockets, links by (origin, slot) → (target, input). */
interface N {
  id: number | string;
  type: string;
  mode?: number;
  title?: string;
  values?: unknown[];
  ins?: [name: string, type: string, widget?: boolean][];
  outs?: [name: string, type: string][];
  props?: Record<string, unknown>;
}
function doc(
  nodes: N[],
  links: [from: number | string, slot: number, to: number | string, input: string][],
  extra: Record<string, unknown> = {},
) {
  const ui = nodes.map((n) => ({
    id: n.id,
    type: n.type,
    mode: n.mode ?? 0,
    ...(n.title ? { title: n.title } : {}),
    inputs: (n.ins ?? []).map(([name, type, widget]) => ({
      name,
      type,
      link: null as number | null,
      ...(widget ? { widget: { name } } : {}),
    })),
    outputs: (n.outs ?? []).map(([name, type]) => ({ name, type, links: [] as number[] })),
    properties: n.props ?? {},
    ...(n.values ? { widgets_values: n.values } : {}),
  }));
  const byId = new Map(ui.map((n) => [n.id, n]));
  const table = links.map(([from, slot, to, input], i) => {
    const id = i + 1;
    const target = byId.get(to)!;
    const index = target.inputs.findIndex((x) => x.name === input);
    target.inputs[index]!.link = id;
    byId.get(from)!.outputs[slot]!.links.push(id);
    return [id, from, slot, to, index, target.inputs[index]!.type];
  });
  return {
    last_node_id: 100,
    last_link_id: table.length,
    nodes: ui,
    links: table,
    version: 0.4,
    ...extra,
  };
}

const convert = (d: unknown, options = {}) => convertWorkflow(d, schema033(), options);
const inputsOf = (d: unknown, id: string) => convert(d).prompt[id]?.inputs;

const ckpt: N = {
  id: 1,
  type: "CheckpointLoaderSimple",
  values: ["m.safetensors"],
  outs: [
    ["MODEL", "MODEL"],
    ["CLIP", "CLIP"],
    ["VAE", "VAE"],
  ],
};
const encode = (id: number, text = "x"): N => ({
  id,
  type: "CLIPTextEncode",
  values: [text],
  ins: [["clip", "CLIP"]],
  outs: [["CONDITIONING", "CONDITIONING"]],
});

describe("the editor's own output for crafted and template workflows (frontend v1.45)", () => {
  // What the editor does differently, each for a stated reason:
  // - `_meta.title`: the editor titles nodes from its bundled English locale, which names some
  //   classes differently from the server's display_name (ConditioningZeroOut, SaveLatent);
  // - `audioUI`: the editor's audio-player widget, sent by v1.45 as "" and ignored by the server;
  // - dynamic prompts and `%date:…%`: applied by the editor at queue time, off by default here.
  const explained = (file: string, id: string, key: string) =>
    key === "audioUI" ||
    (file.startsWith("rules-links") &&
      ((id === "5" && key === "text") || (id === "13" && key === "filename_prefix")));
  test.each(["media-savers", "rules-links", "rules-links-v1", "rules-subgraphs", "ui_tpl_default"])(
    "%s",
    (name) => {
      const editor = importFixture("editor", `${name}.json`) as Record<
        string,
        { class_type: string; inputs: Record<string, unknown> }
      >;
      const { prompt } = convert(importFixture("ui", `${name}.json`));
      expect(Object.keys(prompt).sort()).toEqual(Object.keys(editor).sort());
      for (const [id, node] of Object.entries(editor)) {
        expect(prompt[id]!.class_type, id).toBe(node.class_type);
        const ours = Object.fromEntries(
          Object.entries(prompt[id]!.inputs).filter(([k]) => !explained(name, id, k)),
        );
        const theirs = Object.fromEntries(
          Object.entries(node.inputs).filter(([k]) => !explained(name, id, k)),
        );
        expect(ours, `node ${id}`).toEqual(theirs);
      }
    },
  );

  test("queue-time behaviour matches the editor when asked for", () => {
    const { prompt, warnings } = convert(importFixture("ui", "rules-links.json"), {
      dynamicPrompts: { random: () => 0.9 },
      filenamePlaceholders: { now: new Date(2026, 10, 29, 12, 0, 0) },
    });
    const editor = importFixture("editor", "rules-links.json") as Record<
      string,
      { inputs: Record<string, unknown> }
    >;
    expect(prompt["5"]!.inputs["text"]).toBe(editor["5"]!.inputs["text"]);
    expect(prompt["13"]!.inputs["filename_prefix"]).toBe(editor["13"]!.inputs["filename_prefix"]);
    expect(warnings.map((w) => w.kind)).toEqual(
      expect.arrayContaining(["dynamic_prompt_applied", "placeholders_applied"]),
    );
  });

  test("without those options the values stay, and a warning names each", () => {
    const { warnings } = convert(importFixture("ui", "rules-links.json"));
    expect(
      warnings.filter((w) => w.kind.endsWith("_not_applied")).map((w) => [w.nodeId, w.kind]),
    ).toEqual([
      ["5", "dynamic_prompt_not_applied"],
      ["13", "placeholders_not_applied"],
    ]);
  });
});

describe("links, primitives, reroutes and modes (§4, §5)", () => {
  const cases: [string, { d: unknown; id: string; want: Record<string, unknown> | undefined }][] = [
    [
      "a legacy Reroute passes its input through",
      {
        d: doc(
          [ckpt, { id: 2, type: "Reroute", ins: [["", "*"]], outs: [["", "CLIP"]] }, encode(3)],
          [
            [1, 1, 2, ""],
            [2, 0, 3, "clip"],
          ],
        ),
        id: "3",
        want: { text: "x", clip: ["1", 1] },
      },
    ],
    [
      "an empty Reroute into a socket leaves the socket out",
      {
        d: doc(
          [{ id: 2, type: "Reroute", ins: [["", "*"]], outs: [["", "CLIP"]] }, encode(3)],
          [[2, 0, 3, "clip"]],
        ),
        id: "3",
        want: { text: "x" },
      },
    ],
    [
      "a PrimitiveNode's value goes under the target's widget name",
      {
        d: doc(
          [
            { id: 2, type: "PrimitiveNode", values: [1024, "fixed"], outs: [["INT", "INT"]] },
            {
              id: 3,
              type: "EmptyLatentImage",
              values: [512, 512, 1],
              ins: [["height", "INT", true]],
              outs: [["LATENT", "LATENT"]],
            },
          ],
          [[2, 0, 3, "height"]],
        ),
        id: "3",
        want: { width: 512, height: 1024, batch_size: 1 },
      },
    ],
    [
      "a muted PrimitiveNode still applies its value (§5.8)",
      {
        d: doc(
          [
            { id: 2, type: "PrimitiveNode", mode: 2, values: [7, "fixed"], outs: [["INT", "INT"]] },
            {
              id: 3,
              type: "EmptyLatentImage",
              values: [512, 512, 1],
              ins: [["batch_size", "INT", true]],
              outs: [["LATENT", "LATENT"]],
            },
          ],
          [[2, 0, 3, "batch_size"]],
        ),
        id: "3",
        want: { width: 512, height: 512, batch_size: 7 },
      },
    ],
    [
      "a widget input linked from a muted node keeps its stored value",
      {
        d: doc(
          [
            { id: 2, type: "PrimitiveInt", mode: 2, values: [9, "fixed"], outs: [["INT", "INT"]] },
            {
              id: 3,
              type: "EmptyLatentImage",
              values: [512, 512, 1],
              ins: [["width", "INT", true]],
              outs: [["LATENT", "LATENT"]],
            },
          ],
          [[2, 0, 3, "width"]],
        ),
        id: "3",
        want: { width: 512, height: 512, batch_size: 1 },
      },
    ],
    [
      "a muted node is not emitted",
      { d: doc([{ ...ckpt, mode: 2 }], []), id: "1", want: undefined },
    ],
    [
      "Note and MarkdownNote are not emitted",
      {
        d: doc(
          [
            { id: 5, type: "Note", values: ["hi"] },
            { id: 6, type: "MarkdownNote", values: ["# hi"] },
          ],
          [],
        ),
        id: "5",
        want: undefined,
      },
    ],
    [
      "bypass: the same slot wins when its type fits",
      {
        d: doc(
          [
            ckpt,
            {
              id: 2,
              type: "LoraLoader",
              mode: 4,
              values: ["l", 1, 1],
              ins: [
                ["model", "MODEL"],
                ["clip", "CLIP"],
              ],
              outs: [
                ["MODEL", "MODEL"],
                ["CLIP", "CLIP"],
              ],
            },
            encode(3),
          ],
          [
            [1, 0, 2, "model"],
            [1, 1, 2, "clip"],
            [2, 1, 3, "clip"],
          ],
        ),
        id: "3",
        want: { text: "x", clip: ["1", 1] },
      },
    ],
    [
      "bypass: otherwise the first input of exactly the wanted type",
      {
        d: doc(
          [
            { id: 2, type: "EmptyImage", values: [8, 8, 1, 0], outs: [["IMAGE", "IMAGE"]] },
            { id: 3, type: "SolidMask", values: [1, 8, 8], outs: [["MASK", "MASK"]] },
            // Output 0 (IMAGE) of a bypassed ImageCompositeMasked: input 0 `destination` fits.
            {
              id: 4,
              type: "JoinImageWithAlpha",
              mode: 4,
              ins: [
                ["image", "IMAGE"],
                ["alpha", "MASK"],
              ],
              outs: [["IMAGE", "IMAGE"]],
            },
            { id: 5, type: "MaskToImage", ins: [["mask", "MASK"]], outs: [["IMAGE", "IMAGE"]] },
          ],
          [
            [2, 0, 4, "image"],
            [3, 0, 4, "alpha"],
            [4, 0, 5, "mask"],
          ],
        ),
        id: "5",
        // The consumer wants MASK: slot 0 (IMAGE) does not fit, the exact MASK input does.
        want: { mask: ["3", 0] },
      },
    ],
    [
      "bypass: the matching input may be unconnected, and then the consumer gets nothing",
      {
        d: doc(
          [
            { id: 2, type: "ImageInvert", mode: 4, ins: [], outs: [["IMAGE", "IMAGE"]] },
            { id: 3, type: "PreviewImage", ins: [["images", "IMAGE"]] },
          ],
          [[2, 0, 3, "images"]],
        ),
        id: "3",
        want: {},
      },
    ],
    [
      "bypass chains re-match at every hop with the picked input's type",
      {
        d: doc(
          [
            ckpt,
            {
              id: 2,
              type: "LoraLoader",
              mode: 4,
              values: ["l", 1, 1],
              ins: [
                ["model", "MODEL"],
                ["clip", "CLIP"],
              ],
              outs: [
                ["MODEL", "MODEL"],
                ["CLIP", "CLIP"],
              ],
            },
            {
              id: 3,
              type: "LoraLoader",
              mode: 4,
              values: ["l", 1, 1],
              ins: [
                ["model", "MODEL"],
                ["clip", "CLIP"],
              ],
              outs: [
                ["MODEL", "MODEL"],
                ["CLIP", "CLIP"],
              ],
            },
            encode(4),
          ],
          [
            [1, 0, 2, "model"],
            [1, 1, 2, "clip"],
            [2, 0, 3, "model"],
            [2, 1, 3, "clip"],
            [3, 1, 4, "clip"],
          ],
        ),
        id: "4",
        want: { text: "x", clip: ["1", 1] },
      },
    ],
    [
      "KJNodes Get/Set: a GetNode resolves to its SetNode's input",
      {
        d: doc(
          [
            ckpt,
            {
              id: 2,
              type: "SetNode",
              values: ["clip"],
              ins: [["CLIP", "CLIP"]],
              outs: [["*", "*"]],
            },
            { id: 3, type: "GetNode", values: ["clip"], outs: [["CLIP", "CLIP"]] },
            encode(4),
          ],
          [
            [1, 1, 2, "CLIP"],
            [3, 0, 4, "clip"],
          ],
        ),
        id: "4",
        want: { text: "x", clip: ["1", 1] },
      },
    ],
    [
      "a list value is wrapped as {__value__: [...]}",
      {
        d: doc(
          [
            {
              id: 2,
              type: "CLIPTextEncode",
              values: [["a", "b"]],
              ins: [],
              outs: [["CONDITIONING", "CONDITIONING"]],
            },
          ],
          [],
        ),
        id: "2",
        want: { text: { __value__: ["a", "b"] } },
      },
    ],
    [
      "native reroutes and floating links are ignored",
      {
        d: doc([ckpt, encode(3)], [[1, 1, 3, "clip"]], {
          extra: {
            reroutes: [{ id: 1, pos: [0, 0], linkIds: [1] }],
            linkExtensions: [{ id: 1, parentId: 1 }],
          },
          floatingLinks: [
            {
              id: 9,
              origin_id: -1,
              origin_slot: -1,
              target_id: 3,
              target_slot: 0,
              type: "CLIP",
              parentId: 1,
            },
          ],
        }),
        id: "3",
        want: { text: "x", clip: ["1", 1] },
      },
    ],
  ];
  test.each(cases)("%s", (_, { d, id, want }) => expect(inputsOf(d, id)).toEqual(want));

  test("isValidConnection: wildcards, case and comma unions", () => {
    expect([
      isValidConnection("*", "IMAGE"),
      isValidConnection("image", "IMAGE"),
      isValidConnection("INT,FLOAT", "FLOAT"),
      isValidConnection("IMAGE", "MASK"),
    ]).toEqual([true, true, true, false]);
  });
});

describe("subgraphs and group nodes (§5.4, §5.5)", () => {
  test("subgraph inner nodes get outer:inner ids, with the editor's renumbering of clashing ids", () => {
    const { prompt, warnings } = convert(importFixture("ui", "rules-subgraphs.json"));
    expect(
      Object.keys(prompt)
        .filter((k) => k.includes(":"))
        .sort(),
    ).toEqual(["2:16", "3:16", "7:20:23", "7:22"]);
    expect(
      warnings
        .filter((w) => w.kind === "subgraph_id_renumbered")
        .map((w) => w.message.slice(0, 40)),
    ).toHaveLength(2);
  });

  test("renumbering can be turned off to keep the file's ids", () => {
    const { prompt } = convert(importFixture("ui", "rules-subgraphs.json"), {
      renumberSubgraphIds: false,
    });
    expect(Object.keys(prompt)).toEqual(expect.arrayContaining(["2:1", "3:1", "7:20:5"]));
  });

  test("an unlinked promoted widget sends the inner value and warns where the instance stores another", () => {
    const { prompt, warnings } = convert(importFixture("ui", "rules-subgraphs.json"));
    expect(prompt["2:16"]!.inputs["text"]).toBe("inner text of encode");
    expect(prompt["3:16"]!.inputs["text"]).toEqual(["4", 0]);
    expect(warnings.find((w) => w.kind === "promoted_value_differs")).toMatchObject({
      nodeId: "2",
      title: "encode (promoted text)",
    });
  });

  test("muted instances are not expanded; bypassed ones pass through as a whole", () => {
    const { prompt } = convert(importFixture("ui", "rules-subgraphs.json"));
    expect(Object.keys(prompt).some((k) => k.startsWith("9:") || k.startsWith("11:"))).toBe(false);
    expect(prompt["10"]!.inputs["samples"]).toEqual(["8", 0]);
    expect(prompt["12"]!.inputs).toEqual({ filename_prefix: "via-muted-instance" });
  });

  test("a definition that wires an input straight to an output passes it through (the v1.45 editor throws)", () => {
    const { prompt } = convert(importFixture("ui", "rules-subgraph-passthrough.json"));
    expect(prompt["5"]!.inputs["latent_image"]).toEqual(["8", 0]);
  });

  test("a legacy group node expands to group:index ids with the instance's widget values", () => {
    const inner = (type: string, values: unknown[]) => ({
      id: -1,
      type,
      inputs: [
        { name: "model", type: "MODEL", link: null },
        { name: "positive", type: "CONDITIONING", link: null },
        { name: "negative", type: "CONDITIONING", link: null },
        { name: "latent_image", type: "LATENT", link: null },
      ],
      outputs: [{ name: "LATENT", type: "LATENT", links: null }],
      widgets_values: values,
    });
    const group = doc(
      [
        ckpt,
        {
          id: 15,
          type: "workflow>pair",
          values: [
            "enable",
            11,
            "fixed",
            20,
            8,
            "euler",
            "normal",
            0,
            10,
            "disable",
            22,
            "fixed",
            30,
            6,
            "euler",
            "karras",
            0.5,
          ],
          ins: [
            ["model", "MODEL"],
            ["positive", "CONDITIONING"],
            ["negative", "CONDITIONING"],
            ["latent_image", "LATENT"],
            ["KSampler model", "MODEL"],
          ],
          outs: [
            ["LATENT", "LATENT"],
            ["KSampler LATENT", "LATENT"],
          ],
        },
      ],
      [
        [1, 0, 15, "model"],
        [1, 0, 15, "KSampler model"],
      ],
      {
        extra: {
          groupNodes: {
            pair: {
              nodes: [
                {
                  ...inner("KSamplerAdvanced", [
                    "enable",
                    0,
                    "randomize",
                    20,
                    8,
                    "euler",
                    "normal",
                    0,
                    10000,
                    "disable",
                  ]),
                  index: 0,
                },
                { ...inner("KSampler", [0, "randomize", 20, 8, "euler", "normal", 1]), index: 1 },
              ],
              links: [],
              external: [],
            },
          },
        },
      },
    );
    const { prompt } = convert(group);
    expect(prompt["15:0"]!.inputs).toMatchObject({
      noise_seed: 11,
      steps: 20,
      end_at_step: 10,
      model: ["1", 0],
    });
    expect(prompt["15:1"]!.inputs).toMatchObject({
      seed: 22,
      steps: 30,
      cfg: 6,
      scheduler: "karras",
      denoise: 0.5,
      model: ["1", 0],
    });
    expect(prompt["15"]).toBeUndefined();
  });
});

describe("bad input: one typed error naming every problem with node id, title and class", () => {
  const cases: [string, unknown, string[]][] = [
    [
      "a link id the link table does not have",
      (() => {
        const d = doc([ckpt, encode(3)], [[1, 1, 3, "clip"]]);
        d.links = [];
        return d;
      })(),
      ["dangling_link"],
    ],
    [
      "a link to a node that does not exist",
      (() => {
        const d = doc([ckpt, encode(3)], [[1, 1, 3, "clip"]]);
        (d.links[0] as unknown[])[1] = 42;
        return d;
      })(),
      ["missing_node"],
    ],
    [
      "a cycle",
      doc(
        [
          { id: 2, type: "ImageInvert", ins: [["image", "IMAGE"]], outs: [["IMAGE", "IMAGE"]] },
          { id: 3, type: "ImageInvert", ins: [["image", "IMAGE"]], outs: [["IMAGE", "IMAGE"]] },
        ],
        [
          [2, 0, 3, "image"],
          [3, 0, 2, "image"],
        ],
      ),
      ["cycle"],
    ],
    [
      "a subgraph that contains itself",
      {
        ...doc([{ id: 1, type: "aaaaaaaa-0000-4000-8000-000000000000" }], []),
        definitions: {
          subgraphs: [
            {
              id: "aaaaaaaa-0000-4000-8000-000000000000",
              name: "loop",
              inputs: [],
              outputs: [],
              nodes: [{ id: 5, type: "aaaaaaaa-0000-4000-8000-000000000000" }],
              links: [],
            },
          ],
        },
      },
      ["recursive_subgraph"],
    ],
    ["a document without nodes", { version: 0.4, links: [], nodes: "none" }, ["invalid_document"]],
  ];
  test.each(cases)("%s", (_, d, kinds) => {
    let error: unknown;
    try {
      convert(d);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WorkflowImportError);
    const e = error as WorkflowImportError;
    expect(e.code).toBe("WORKFLOW_INVALID");
    expect(e.problems.map((p) => p.kind)).toEqual(kinds);
  });

  test("the error names the node's id, title and class", () => {
    const d = doc([ckpt, { ...encode(3), title: "Positive" }], [[1, 1, 3, "clip"]]);
    d.links = [];
    expect(() => convert(d)).toThrow(
      /node 3 "Positive" \(CLIPTextEncode\): input "clip" uses link 1/,
    );
  });

  test("unknown classes are kept with their links and reported; strict makes that an error", () => {
    const d = doc(
      [ckpt, { id: 3, type: "MyCustomNode", values: [1, "x"], ins: [["clip", "CLIP"]] }],
      [[1, 1, 3, "clip"]],
    );
    const { prompt, warnings } = convert(d);
    expect(prompt["3"]).toEqual({
      class_type: "MyCustomNode",
      inputs: { clip: ["1", 1] },
      _meta: { title: "MyCustomNode" },
    });
    expect(warnings).toEqual([
      expect.objectContaining({ kind: "unknown_class", nodeId: "3", classType: "MyCustomNode" }),
    ]);
    expect(() => convert(d, { strict: true })).toThrow(WorkflowImportError);
  });
});

test("dynamic prompts: comments stripped, one option per group, nesting and escapes", () => {
  const first = () => 0;
  expect(processDynamicPrompt("a {red|{dark|light} blue} car // note", () => 0.99)).toBe(
    "a light blue car ",
  );
  expect(processDynamicPrompt("/* x */{a|b} \\{literal\\}", first)).toBe("a {literal}");
});
