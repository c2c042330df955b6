import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { readWorkflowSource, nanToNull } from "../../src/import/detect.js";
import { WorkflowImportError } from "../../src/import/errors.js";
import { IMPORT_FIXTURES, importFixture } from "../import-helpers.js";

const media = (name: string) => readFileSync(join(IMPORT_FIXTURES, "media", name));
const encode = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

describe("workflows embedded by ComfyUI 0.33.0's savers, one per container", () => {
  const workflow = importFixture("ui", "media-savers.json");
  const cases: [string, string][] = [
    ["comfyui-0.33.0-saveimage.png", "png"],
    ["comfyui-0.33.0-saveanimatedpng.png", "apng"],
    ["comfyui-0.33.0-saveanimatedwebp.webp", "webp"],
    ["comfyui-0.33.0-savewebm.webm", "webm"],
    ["comfyui-0.33.0-savevideo.mp4", "mp4"],
    ["comfyui-0.33.0-saveaudio.flac", "flac"],
    ["comfyui-0.33.0-saveaudiomp3.mp3", "mp3"],
    ["comfyui-0.33.0-saveaudioopus.opus", "ogg"],
    ["pillow-itxt-compressed.png", "png"],
    ["pillow-ztxt.png", "png"],
  ];
  test.each(cases)("%s → the UI workflow (%s)", async (file, container) => {
    const source = await readWorkflowSource(media(file), file);
    expect(source.format).toBe("ui");
    expect(source.container).toBe(container);
    if (source.format === "ui") expect(source.workflow).toEqual(workflow);
  });

  test("the prompt stored beside the workflow comes along", async () => {
    const source = await readWorkflowSource(media("comfyui-0.33.0-saveimage.png"));
    expect(source.format === "ui" && Object.keys(source.prompt ?? {}).length).toBe(11);
  });

  test("a PNG with only a prompt, holding NaN as Python writes it, gives the API prompt", async () => {
    const source = await readWorkflowSource(media("pillow-prompt-only-nan.png"));
    expect(source.format).toBe("api");
    if (source.format === "api")
      expect((source.prompt["1"] as { is_changed?: unknown }).is_changed).toEqual([null]);
  });
});

describe("JSON documents: the format comes from the content", () => {
  test("a UI document, schema 0.4 and 1", async () => {
    const v04 = await readWorkflowSource(encode(importFixture("ui", "rules-links.json")), "x.png");
    const v1 = await readWorkflowSource(
      encode(importFixture("ui", "rules-links-v1.json")),
      "x.txt",
    );
    expect([
      v04.format,
      v04.format === "ui" && v04.version,
      v1.format === "ui" && v1.version,
    ]).toEqual(["ui", "0.4", "1"]);
  });

  test("an API prompt, bare or as a POST /prompt body; a body's workflow copy wins", async () => {
    const prompt = importFixture("editor", "ui_tpl_default.json");
    expect((await readWorkflowSource(encode(prompt))).format).toBe("api");
    const body = await readWorkflowSource(
      encode({ prompt, client_id: "x", partial_execution_targets: ["9"] }),
    );
    // The body's other fields come along (validate honours partial_execution_targets).
    expect(body.format === "api" && body.body).toEqual({
      client_id: "x",
      partial_execution_targets: ["9"],
    });
    const withWorkflow = {
      prompt,
      extra_data: { extra_pnginfo: { workflow: importFixture("ui", "ui_tpl_default.json") } },
    };
    expect((await readWorkflowSource(encode(withWorkflow))).format).toBe("ui");
  });

  test("64-bit seeds stay exact", async () => {
    const source = await readWorkflowSource(
      encode('{"3": {"class_type": "KSampler", "inputs": {"seed": 18446744073709551615}}}'),
    );
    expect(
      source.format === "api" && (source.prompt["3"] as { inputs: { seed: unknown } }).inputs.seed,
    ).toBe(18446744073709551615n);
  });
});

describe("bad input: one typed error saying what the file is", () => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    ["truncated JSON", encode('{"nodes": [{"id": 1,'), "invalid_json", /not valid JSON.*truncated/],
    [
      "JSON of neither format",
      encode({ hello: "world" }),
      "not_a_workflow",
      /not a ComfyUI workflow.*"hello"/,
    ],
    [
      "an object_info",
      encode({ KSampler: { input: {}, output: [] } }),
      "not_a_workflow",
      /object_info/,
    ],
    [
      "an image without metadata",
      media("pillow-no-metadata.png"),
      "no_metadata",
      /carries no ComfyUI workflow/,
    ],
    ["plain text", encode("hello"), "not_a_workflow", /neither JSON/],
    [
      "a truncated PNG",
      media("comfyui-0.33.0-saveimage.png").subarray(0, 60),
      "unreadable_media",
      /PNG file but cannot be read/,
    ],
    ["a 33 MiB document", new Uint8Array(33 * 1024 * 1024).fill(0x20), "too_large", /MiB/],
  ];
  test.each(cases)("%s", async (_, bytes, kind, message) => {
    const error = await readWorkflowSource(bytes, "file").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowImportError);
    expect((error as WorkflowImportError).code).toBe("WORKFLOW_INVALID");
    expect((error as WorkflowImportError).problems[0]!.kind).toBe(kind);
    expect((error as Error).message).toMatch(message);
  });
});

test("NaN and Infinity outside strings become null; inside strings they stay", () => {
  expect(nanToNull('{"a": NaN, "b": "NaN", "c": [-Infinity, Infinity]}')).toBe(
    '{"a": null, "b": "NaN", "c": [null, null]}',
  );
});

describe('apiPrompt: "editor" (import, convert) vs "server" (validate, run)', () => {
  const read = (value: unknown, apiPrompt?: "editor" | "server") =>
    readWorkflowSource(encode(value), "f.json", apiPrompt ? { apiPrompt } : {});
  const refusal = async (value: unknown, apiPrompt?: "editor" | "server") => {
    const error = await read(value, apiPrompt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowImportError);
    expect((error as WorkflowImportError).problems[0]!.kind).toBe("not_a_workflow");
    return (error as Error).message;
  };

  test("incomplete prompts: refused for import with what is missing, taken as they are for the server", async () => {
    const cases: [unknown, unknown, RegExp, Record<string, unknown>?][] = [
      [{}, {}, /an empty object \(\{\}\): a prompt with no nodes/],
      [
        { prompt: {}, client_id: "c" },
        {},
        /a POST \/prompt body whose prompt is an empty object/,
        { client_id: "c" },
      ],
      [{ "1": { inputs: {} } }, { "1": { inputs: {} } }, /node "1" has no string class_type/],
      [{ "1": {} }, { "1": {} }, /node "1" has no string class_type/],
      [
        { "1": { class_type: "SaveImage", inputs: {} }, "2": { class_type: "SaveImage" } },
        { "1": { class_type: "SaveImage", inputs: {} }, "2": { class_type: "SaveImage" } },
        /node "2" has no inputs object.*comfyc validate/,
      ],
    ];
    for (const [input, prompt, message, body] of cases) {
      expect(await refusal(input)).toMatch(message);
      expect(await read(input, "server")).toEqual({
        format: "api",
        prompt,
        container: "json",
        warnings: [],
        ...(body ? { body } : {}),
      });
    }
  });

  test("a node named prompt is a node, not a POST /prompt body", async () => {
    const node = { prompt: { class_type: "SaveImage" } };
    expect(await read(node, "server")).toMatchObject({ format: "api", prompt: node });
  });

  test("what is not a prompt stays refused, saying what it is", async () => {
    const cases: [unknown, RegExp][] = [
      [[], /an array \(\[\]\), not an object of nodes/],
      [[{ class_type: "SaveImage", inputs: {} }], /an array, not an object of nodes/],
      ["5", /a number$/m],
      ["null", /a null$/m],
      [{ "1": 5 }, /the value of "1" is a number, not a node/],
      [{ "1": [] }, /the value of "1" is an array, not a node/],
      [{ KSampler: { input: {}, output: [] } }, /object_info/],
      [{ prompt: [], client_id: "c" }, /the value of "prompt" is an array/],
    ];
    for (const [input, message] of cases) {
      expect(await refusal(input, "server")).toMatch(message);
      expect(await refusal(input)).toMatch(message);
    }
  });
});
