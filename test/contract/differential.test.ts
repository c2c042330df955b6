import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import extractChunks from "png-chunks-extract";
import { decode as decodeText } from "png-chunk-text";
import { PNG } from "pngjs";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseJsonLossless, stringifyJson, writtenAsFloat } from "../../src/protocol/json.js";
import { ComfyClient } from "../../src/runtime/index.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { startTestServer, type TestServer } from "../../src/testing/index.js";
import { COMFYUI_REAL, HAS_REAL_COMFYUI } from "../real-comfyui.js";
import { errorOf, freePort, queued, started, until } from "../waits.js";
import { postStreamed } from "../streamed-post.js";
import { rawSocket } from "./ws-helper.js";
import { cli } from "../helpers-cli.js";

/**
 * The differential suite: one table of `POST /prompt` exchanges, sent to real ComfyUI releases
 * (`../shared/comfyui-real`) and to comfyc (the offline validator and the test server set to
 * that release, both given the real server's own /object_info), asserting that they agree.
 * Where comfyc deliberately differs, the case says why.
 *
 * Real servers come from `COMFYUI_0364_URL` / `COMFYUI_033_URL` when set, otherwise this file
 * starts them with `comfyui-real/start.sh` (its first run installs Debian packages, ~1 min).
 */

const REAL = COMFYUI_REAL;
const RELEASES = [
  { version: "0.3.64", env: "COMFYUI_0364_URL" },
  { version: "0.33.0", env: "COMFYUI_033_URL" },
] as const;
type Release = (typeof RELEASES)[number]["version"];

/** Why comfyc answers differently from the real release, per side that differs. */
interface Deliberate {
  /** The offline validator (`validatePrompt`, `comfyc validate`). */
  readonly offline?: string;
  /** The test server. */
  readonly server?: string;
}

interface Exchange {
  readonly name: string;
  /** The `POST /prompt` body, as text (Python's JSON: NaN and Infinity allowed). */
  readonly body: string;
  readonly differs?: Partial<Record<Release, Deliberate>>;
  /**
   * `dependent_outputs` follows Python's set order of the output ids, which varies between
   * runs of the same server (protocol §5.1): compare which nodes have errors, not that list.
   */
  readonly setOrder?: true;
}

const empty = (w: number | string = 16, h: number | string = 16) =>
  `{"class_type": "EmptyImage", "inputs": {"width": ${w}, "height": ${h}, "batch_size": 1, "color": 0}}`;
const preview = (from: string, index: number | string = 0) =>
  `{"class_type": "PreviewImage", "inputs": {"images": ["${from}", ${index}]}}`;
const invert = (from: string, index: number | string = 0) =>
  `{"class_type": "ImageInvert", "inputs": {"image": ["${from}", ${index}]}}`;
const scaleBy = (by: string) =>
  `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": ${by}}}`;
const prompt = (nodes: Record<string, string>, extra = "") =>
  `{"prompt": {${Object.entries(nodes)
    .map(([id, n]) => `"${id}": ${n}`)
    .join(", ")}}${extra}}`;

const UUID = "6f1c1f9e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";

const EXCHANGES: readonly Exchange[] = [
  { name: "a valid prompt", body: prompt({ "1": empty(), "2": preview("1") }) },
  { name: "value below min", body: prompt({ "1": empty(0), "2": preview("1") }) },
  { name: "value above max", body: prompt({ "1": empty(16385), "2": preview("1") }) },
  { name: "INT that is not a number", body: prompt({ "1": empty('"abc"'), "2": preview("1") }) },
  {
    name: "coercions: integer string, float truncated, bool as int",
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"width": " 12 ", "height": 7.9, "batch_size": true, "color": 0}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "NaN and Infinity for INT inputs",
    body: prompt({ "1": empty("NaN", "Infinity"), "2": preview("1") }),
  },
  {
    name: "Infinity over a FLOAT max",
    body: prompt({ "1": empty(), "3": scaleBy("Infinity"), "2": preview("3") }),
  },
  {
    name: "-Infinity under a FLOAT min",
    body: prompt({ "1": empty(), "3": scaleBy("-Infinity"), "2": preview("3") }),
  },
  {
    name: "NaN for a FLOAT passes min and max",
    body: prompt({ "1": empty(), "3": scaleBy("NaN"), "2": preview("3") }),
  },
  {
    name: "combo value not in the list",
    body: prompt({
      "1": empty(),
      "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nope", "scale_by": 1}}`,
      "2": preview("3"),
    }),
  },
  {
    name: "combo value of the wrong type (repr from 0.21.0)",
    body: prompt({
      "1": empty(),
      "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": 5, "scale_by": 1}}`,
      "2": preview("3"),
    }),
  },
  {
    name: "required input missing",
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"height": 16, "batch_size": 1, "color": 0}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "required input missing on the output node",
    body: prompt({ "2": `{"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}` }),
  },
  {
    name: "undeclared inputs are ignored",
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0, "bogus": 3}}`,
      "2": preview("1"),
    }),
  },
  { name: "unknown class", body: prompt({ "1": `{"class_type": "NoSuchNode", "inputs": {}}` }) },
  {
    name: "unknown class with a title",
    body: prompt({
      "1": `{"class_type": "NoSuchNode", "inputs": {}, "_meta": {"title": "My node"}}`,
    }),
  },
  { name: "node without class_type", body: prompt({ "1": `{"inputs": {}}` }) },
  { name: "link to a missing node", body: prompt({ "1": invert("99"), "2": preview("1") }) },
  {
    name: "link to an output index the source does not have (inner)",
    body: prompt({ "1": empty(), "3": invert("1", 3), "2": preview("3") }),
  },
  {
    name: "link to an output index the source does not have (on the output)",
    body: prompt({ "1": empty(), "2": preview("1", 3) }),
  },
  {
    name: "return type mismatch",
    body: prompt({
      "1": empty(),
      "3": `{"class_type": "InvertMask", "inputs": {"mask": ["1", 0]}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}`,
    }),
  },
  {
    name: "bad linked input (a list of three)",
    body: prompt({
      "1": `{"class_type": "ImageInvert", "inputs": {"image": ["1", 0, 0]}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "a PreviewAny (IO.ANY) takes an INT",
    body: prompt({
      "1": `{"class_type": "PrimitiveInt", "inputs": {"value": 3}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
    }),
  },
  {
    name: "INT and FLOAT strings with Unicode digits and Unicode spaces (int(), float())",
    body: prompt({
      "1": empty('"\u0661\u0666"', '"\u3000\uff11\uff16\u00a0"'),
      "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": "\u0661.\u0665"}}`,
      "2": preview("3"),
    }),
  },
  {
    name: "int() refuses an ASCII control separator and a byte-order mark; repr escapes what is not printable",
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"width": "\\u001c16", "height": "\\ufeff16", "batch_size": 1, "color": 0}}`,
      "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest\\u00a0exact", "scale_by": 1}}`,
      "2": preview("3"),
    }),
  },
  {
    name: "a negative link index counts from the end",
    body: prompt({
      "1": empty(),
      "2": `{"class_type": "PreviewImage", "inputs": {"images": ["1", -1]}}`,
    }),
  },
  {
    name: "a link index that is a bool (a Python int)",
    body: prompt({
      "1": empty(),
      "2": `{"class_type": "PreviewImage", "inputs": {"images": ["1", false]}}`,
      "3": `{"class_type": "PreviewImage", "inputs": {"images": ["1", true]}}`,
    }),
  },
  {
    name: "a node whose inputs is null",
    body: prompt({ "1": `{"class_type": "EmptyImage", "inputs": null}`, "2": preview("1") }),
    differs: {
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: "an output node whose inputs is a number",
    body: prompt({ "1": empty(), "2": `{"class_type": "PreviewImage", "inputs": 5}` }),
    differs: {
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: "a two-node cycle",
    body: prompt({ "1": invert("2"), "2": invert("1"), "3": preview("1") }),
  },
  { name: "a self-link", body: prompt({ "1": invert("1"), "3": preview("1") }) },
  {
    name: "one output fails, another runs (200 with node_errors)",
    body: prompt({ "1": empty(0), "2": preview("1"), "3": empty(), "4": preview("3") }),
  },
  {
    name: "dependent_outputs over-reports",
    setOrder: true,
    body: prompt({
      "1": empty(0),
      "2": preview("1"),
      "5": empty(0),
      "6": preview("5"),
      "3": empty(),
      "4": preview("3"),
    }),
  },
  { name: "an empty prompt", body: `{"prompt": {}}` },
  {
    name: "an empty list as the prompt",
    body: `{"prompt": []}`,
    differs: {
      "0.33.0": {
        offline:
          "the server's node replacement calls prompt.items() and answers a bare 500; the validator reports prompt_no_outputs, what 0.3.64 says",
      },
    },
  },
  {
    name: "a non-empty list as the prompt",
    body: `{"prompt": [1]}`,
    differs: {
      "0.3.64": {
        offline: "the server answers a bare 500; the validator reports prompt_no_outputs",
      },
      "0.33.0": {
        offline: "the server answers a bare 500; the validator reports prompt_no_outputs",
      },
    },
  },
  { name: "no prompt key", body: `{"client_id": "x"}` },
  {
    name: "a node without inputs",
    body: prompt({ "2": `{"class_type": "SaveImage"}` }),
  },
  {
    name: "a value wrapped in __value__",
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"width": {"__value__": 8}, "height": 8, "batch_size": 1, "color": 0}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "BOOLEAN coercion of a string",
    body: prompt({
      "1": empty(),
      "2": `{"class_type": "ImageFlip", "inputs": {"image": ["1", 0], "flip_method": "x-axis: vertically"}}`,
      "3": preview("2"),
    }),
  },
  {
    name: "LoadImageOutput of an annotated file that does not exist",
    body: prompt({
      "1": `{"class_type": "LoadImageOutput", "inputs": {"image": "nope.png [output]"}}`,
      "2": preview("1"),
    }),
    differs: {
      "0.3.64": {
        offline: "offline the server's files are unknown: uploaded-file inputs are not checked",
      },
      "0.33.0": {
        offline: "offline the server's files are unknown: uploaded-file inputs are not checked",
      },
    },
  },
  {
    name: "V3 Autogrow with no slot given",
    body: prompt({ "1": `{"class_type": "BatchImagesNode", "inputs": {}}`, "2": preview("1") }),
  },
  {
    name: "a client prompt_id that is not a UUID",
    body: prompt({ "1": empty(), "2": preview("1") }, `, "prompt_id": "my-job-1"`),
    differs: { "0.33.0": { offline: "prompt_id is checked by the server, not by the validator" } },
  },
  {
    name: "a client prompt_id that is a canonical UUID",
    body: prompt({ "1": empty(), "2": preview("1") }, `, "prompt_id": "${UUID}"`),
  },
  // post_prompt raising (aiohttp's 500), read from server.py / execution.py of each release.
  {
    name: "a node that is a number ('class_type' not in 5)",
    body: `{"prompt": {"1": 5}}`,
    differs: {
      "0.3.64": { offline: "the server answers a bare 500; the validator rejects the node" },
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: "a node that is a str (0.33.0: node_data.get raises)",
    body: `{"prompt": {"1": "abc"}}`,
    differs: {
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: "an unknown class whose _meta is a str (0.33.0: _meta.get raises)",
    body: `{"prompt": {"1": {"class_type": "Nope", "inputs": {}, "_meta": "x"}}}`,
    differs: {
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: 'a number that float() refuses ("abc")',
    body: prompt({ "1": empty(), "2": preview("1") }, `, "number": "abc"`),
    differs: {
      "0.3.64": { offline: "number is read by the server, not by the validator" },
      "0.33.0": { offline: "number is read by the server, not by the validator" },
    },
  },
  {
    name: "extra_data that is a list, valid prompt (0.33.0: create_time assignment raises)",
    body: prompt({ "1": empty(), "2": preview("1") }, `, "extra_data": [1]`),
    differs: {
      "0.33.0": { offline: "extra_data is read by the server, not by the validator" },
    },
  },
  {
    // Never a valid prompt with a number or null extra_data: 0.3.64 queues it and its prompt
    // worker thread dies on `"client_id" in extra_data`, so that server runs nothing more.
    name: "extra_data that is a number, invalid prompt (0.33.0: the in test raises)",
    body: `{"prompt": {}, "extra_data": 5}`,
    differs: {
      "0.33.0": { offline: "extra_data is read by the server, not by the validator" },
    },
  },
  {
    name: "the body NaN",
    body: "NaN",
    differs: {
      "0.3.64": { offline: "the body is read by the server, not by the validator" },
      "0.33.0": { offline: "the body is read by the server, not by the validator" },
    },
  },
  {
    name: "the body a list holding prompt",
    body: `["prompt"]`,
    differs: {
      "0.3.64": { offline: "the body is read by the server, not by the validator" },
      "0.33.0": { offline: "the body is read by the server, not by the validator" },
    },
  },
  // The image loaders' VALIDATE_INPUTS raising (nodes.py, folder_paths.py).
  {
    name: "LoadImageOutput of an image that is a number",
    body: prompt({
      "1": `{"class_type": "LoadImageOutput", "inputs": {"image": 5}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "LoadImage without an image",
    body: prompt({ "1": `{"class_type": "LoadImage", "inputs": {}}`, "2": preview("1") }),
  },
  {
    name: "LoadImageMask of an image linked from a PrimitiveString",
    body: prompt({
      "3": `{"class_type": "PrimitiveString", "inputs": {"value": "example.png"}}`,
      "1": `{"class_type": "LoadImageMask", "inputs": {"image": ["3", 0], "channel": "alpha"}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
    }),
  },
  // Python's json reads 0.0, -0.0 and 1e3 as floats, 0 as an int (a lossless parse with
  // `floats` keeps the difference, see parseJsonLossless).
  {
    name: "float: a link index written 0.0 (RETURN_TYPES[0.0] raises TypeError)",
    body: prompt({ "1": empty(), "2": preview("1", "0.0") }),
  },
  {
    name: "float: link indices written 0e0 and -0.0 on inner nodes",
    setOrder: true,
    body: prompt({
      "1": empty(),
      "3": invert("1", "0e0"),
      "4": invert("1", "-0.0"),
      "2": preview("3"),
      "5": preview("4"),
    }),
  },
  {
    name: "float: a link index 1.0 past the outputs (TypeError, not IndexError)",
    body: prompt({ "1": empty(), "3": invert("1", "1.0"), "2": preview("3") }),
  },
  {
    name: "float: a link index 0.0 from a V3 node (its RETURN_TYPES is a list)",
    body: prompt({
      "1": `{"class_type": "PrimitiveString", "inputs": {"value": "x"}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0.0]}}`,
    }),
  },
  {
    name: "float: a V3 node's output index out of range (list index)",
    body: prompt({
      "1": `{"class_type": "PrimitiveString", "inputs": {"value": "x"}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}`,
    }),
  },
  {
    name: "float: a link to node 1.0 (KeyError 1.0)",
    body: prompt({
      "1": empty(),
      "2": `{"class_type": "PreviewImage", "inputs": {"images": [1.0, 0]}}`,
    }),
  },
  {
    name: "float: INT and BOOLEAN inputs given 16.0, 1e0, 1.0 and 0.0 convert",
    setOrder: true,
    body: prompt({
      "1": `{"class_type": "EmptyImage", "inputs": {"width": 16.0, "height": 16385.0, "batch_size": 1e0, "color": 0.0}}`,
      "3": `{"class_type": "PrimitiveBoolean", "inputs": {"value": 1.0}}`,
      "4": `{"class_type": "PrimitiveBoolean", "inputs": {"value": 0.0}}`,
      "2": preview("1"),
      "5": `{"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}`,
      "6": `{"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}}`,
    }),
  },
  {
    name: "float: a combo given 5.0 (str '5.0' on 0.3.64, repr 5.0 from 0.21.0)",
    body: prompt({
      "1": empty(),
      "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": 5.0, "scale_by": 1}}`,
      "2": preview("3"),
    }),
  },
  {
    name: "float: a classic FLOAT input whose limits are ints (max of 1, min of 0)",
    setOrder: true,
    body: prompt({
      "9": `{"class_type": "EmptyLatentImage", "inputs": {"width": 16, "height": 16, "batch_size": 1}}`,
      "1": `{"class_type": "LatentBlend", "inputs": {"samples1": ["9", 0], "samples2": ["9", 0], "blend_factor": 2}}`,
      "3": `{"class_type": "LatentBlend", "inputs": {"samples1": ["9", 0], "samples2": ["9", 0], "blend_factor": -1.0}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
      "4": `{"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}`,
    }),
  },
  {
    name: "float: a classic FLOAT input whose limits are floats (max of 8.0)",
    body: prompt({ "1": empty(), "3": scaleBy("9"), "2": preview("3") }),
  },
  {
    name: "float: a V3 FLOAT,INT input whose limits are floats (max of 1000.0; 0.33.0)",
    body: prompt({
      "9": `{"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x"}}`,
      "1": `{"class_type": "LTXVEmptyLatentAudio", "inputs": {"frames_number": 97, "frame_rate": 2000, "batch_size": 1, "audio_vae": ["9", 2]}}`,
      "3": `{"class_type": "LTXVEmptyLatentAudio", "inputs": {"frames_number": 97, "frame_rate": 2000.0, "batch_size": 1, "audio_vae": ["9", 2]}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
      "4": `{"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}`,
    }),
    setOrder: true,
  },
  {
    name: "float: an unconverted input type keeps the value as written (FLOATS, min of -1)",
    setOrder: true,
    body: prompt({
      "1": `{"class_type": "CreateHookKeyframesFromFloats", "inputs": {"floats_strength": -2.0, "start_percent": 0, "end_percent": 1, "print_keyframes": false}}`,
      "3": `{"class_type": "CreateHookKeyframesFromFloats", "inputs": {"floats_strength": -2, "start_percent": 0, "end_percent": 1, "print_keyframes": false}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
      "4": `{"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}`,
    }),
  },
  {
    name: "float: an image loader given 5.0 ('float' object has no attribute 'endswith')",
    body: prompt({
      "1": `{"class_type": "LoadImageOutput", "inputs": {"image": 5.0}}`,
      "2": preview("1"),
    }),
  },
  {
    name: "float: an output node whose inputs is 5.0",
    body: prompt({ "1": empty(), "2": `{"class_type": "PreviewImage", "inputs": 5.0}` }),
    differs: {
      "0.33.0": { offline: "the server answers a bare 500; the validator rejects the node" },
    },
  },
  {
    name: "a 64-bit seed above the max",
    body: prompt({
      "1": `{"class_type": "KSampler", "inputs": {"seed": 18446744073709551616, "steps": 1, "cfg": 1, "sampler_name": "euler", "scheduler": "normal", "denoise": 1}}`,
      "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
    }),
  },
];

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A finished prompt's history entry (`prompt`, `outputs`, `status`). */
interface Finished {
  readonly id: string;
  readonly entry: { outputs: Record<string, Record<string, unknown[]>> };
}

/**
 * `POST /prompt` of `body` (JSON text), then the prompt's history entry once it has finished.
 * No WebSocket here: the entry appears when the prompt has finished, so `/history/{id}` is asked
 * until it is there (within 120 s: a bound on a hang).
 */
async function runToHistory(url: string, body: string): Promise<Finished> {
  const res = await fetch(`${url}/prompt`, { method: "POST", body });
  const id = ((await res.json()) as { prompt_id: string }).prompt_id;
  let entry: Finished["entry"] | undefined;
  await until(
    async () => {
      const history = (await (await fetch(`${url}/history/${id}`)).json()) as Record<
        string,
        Finished["entry"]
      >;
      entry = history[id];
      return entry !== undefined;
    },
    120_000,
    20,
  );
  return { id, entry: entry! };
}

/**
 * The literal a client's `number` comes back as (server.py keeps `float(number)`): in the reply
 * to POST /prompt, in the history entry's `prompt[0]` and, from 0.6.0, in the jobs API's
 * `priority`; for each number as sent, and for none (the server's own count, an int).
 */
async function numberScenario(url: string, jobsApi: boolean): Promise<string[][]> {
  const sent = ["5", '"5"', "5.5", "-3", '" 1_5 "', "1e3", "true", "12345678901234567890", "0", ""];
  const literal = (text: string, pattern: RegExp) => pattern.exec(text)?.[1] ?? `none in ${text}`;
  const rows: string[][] = [];
  for (const [i, number] of sent.entries()) {
    const prompt = `{"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": ${i}}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}`;
    const res = await fetch(`${url}/prompt`, {
      method: "POST",
      body: number ? `{"prompt": ${prompt}, "number": ${number}}` : `{"prompt": ${prompt}}`,
    });
    const reply = await res.text();
    const id = (JSON.parse(reply) as { prompt_id: string }).prompt_id;
    let history = "{}";
    await until(
      async () => (history = await (await fetch(`${url}/history/${id}`)).text()) !== "{}",
      120_000,
      20,
    );
    const row = [
      number,
      // The server's own count differs between the two (how many prompts each took before).
      number
        ? literal(reply, /"number":\s*([^,}]+)/)
        : /^\d+$/.test(literal(reply, /"number":\s*([^,}]+)/))
          ? "an int"
          : reply,
      number ? literal(history, /"prompt":\s*\[([^,]+),/) : "-",
    ];
    if (jobsApi)
      row.push(
        number
          ? literal(await (await fetch(`${url}/api/jobs/${id}`)).text(), /"priority":\s*([^,}]+)/)
          : "-",
      );
    rows.push(row);
  }
  return rows;
}

/**
 * The jobs API (protocol §2.18) on one server: a saved image's job, query errors, unknown ids,
 * the literal `/api/jobs` paths, wrong methods and both cancel routes. Ids, times and queue
 * numbers are masked (they differ between any two runs); the rest must be equal.
 */
async function jobsScenario(
  url: string,
  prefix: string,
  color: number,
): Promise<Record<string, unknown>> {
  const call = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}${path}`, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = parseJsonLossless(text);
    } catch {
      // plain text (aiohttp's own 404 and 405)
    }
    return { status: res.status, allow: res.headers.get("allow"), body };
  };
  const post = (path: string, body: string) => call(path, { method: "POST", body });
  const workflow = { id: "3f9a2c1e-0000-4000-8000-00000000d1ff" };
  // Both sides start from an empty history; earlier tests left jobs behind.
  await post("/history", '{"clear": true}');
  const { id } = await runToHistory(
    url,
    JSON.stringify({
      prompt: {
        "1": {
          class_type: "EmptyImage",
          inputs: { width: 8, height: 8, batch_size: 1, color },
        },
        "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: prefix } },
      },
      extra_data: { extra_pnginfo: { workflow } },
    }),
  );
  const out: Record<string, unknown> = { saved: await call(`/api/jobs/${id}`) };
  for (const query of [
    "status=done,failed,,",
    "status=cancelled",
    "sort_by=x",
    "sort_order=x",
    "limit=0",
    "limit=-2",
    "limit=x",
    "limit= 3 ",
    "limit=1_0",
    "offset=x",
    "workflow_id=none",
  ])
    out[`GET /api/jobs?${query}`] = await call(`/api/jobs?${query}`);
  for (const path of [
    "/api/jobs/nope",
    "/jobs",
    "/api/api/jobs?workflow_id=none",
    "/api/jobs/cancel",
  ])
    out[`GET ${path}`] = await call(path);
  for (const method of ["PUT", "POST", "DELETE"])
    out[`${method} /api/jobs`] = await call("/api/jobs", { method });
  out["cancel a finished job"] = await post(`/api/jobs/${id}/cancel`, "");
  out["cancel an unknown id"] = await post("/api/jobs/nope/cancel", "");
  for (const body of [
    "",
    "[1]",
    '{"job_ids": "x"}',
    '{"job_ids": []}',
    '{"job_ids": NaN}',
    `{"job_ids": ["ABC", 5, null, {"a": 1}, [1, 2], true, "${workflow.id}"]}`,
  ])
    out[`POST /api/jobs/cancel ${body}`] = await post("/api/jobs/cancel", body);
  const mask = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => mask(x));
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x, k)]));
    if (
      key !== undefined &&
      ["id", "prompt_id", "timestamp", "create_time", "priority"].includes(key)
    )
      return `<${key}>`;
    if (key?.startsWith("execution_") && key.endsWith("_time")) return `<${key}>`;
    if (key === "color") return "<color>";
    return v;
  };
  return mask(out) as Record<string, unknown>;
}

/**
 * Files and texts a run produces on one server: EmptyImage → ImageInvert → SaveImage (pixels,
 * PNG colour type, the `prompt` and `workflow` text chunks) and StringConcatenate → PreviewAny.
 * `color` is unique per run so no node comes from a cache; `prefix` so both sides save
 * `<prefix>_00001_.png`.
 */
async function outputsScenario(url: string, prefix: string, color: number) {
  const prompt = {
    "1": { class_type: "EmptyImage", inputs: { width: 4, height: 2, batch_size: 1, color } },
    "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
    "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: prefix } },
    "4": {
      class_type: "StringConcatenate",
      inputs: { string_a: `a${color}`, string_b: "b – ✓", delimiter: ", " },
    },
    "5": { class_type: "PreviewAny", inputs: { source: ["4", 0] } },
  };
  const workflow = { id: "wf", nodes: [], extra: { note: "é ✓ 😀", scale: 0.5, n: 1e-7 } };
  const { entry } = await runToHistory(
    url,
    JSON.stringify({ prompt, extra_data: { extra_pnginfo: { workflow } } }),
  );
  const image = entry.outputs["3"]!["images"]![0] as Record<string, string>;
  const query = new URLSearchParams(image);
  const png = Buffer.from(await (await fetch(`${url}/view?${query}`)).arrayBuffer());
  const decoded = PNG.sync.read(png);
  return {
    image,
    colorType: png[25],
    size: [decoded.width, decoded.height],
    pixels: [...decoded.data],
    text: Object.fromEntries(
      extractChunks(png)
        .filter((c) => c.name === "tEXt")
        .map((c) => {
          const t = decodeText(c.data);
          return [t.keyword, t.text];
        }),
    ),
    preview: entry.outputs["5"],
  };
}

/**
 * What the text and audio savers show and name on one server (those of its classes that exist):
 * SaveText (0.28.0: `<prefix>_00001.txt`, JSON re-indented) and EmptyAudio → SaveAudio (no
 * trailing underscore from 0.25.0). The audio bytes are not compared (the test server writes a
 * placeholder).
 */
async function saversScenario(url: string, prefix: string, has: (c: string) => boolean) {
  const prompt: Record<string, unknown> = {};
  if (has("SaveText")) {
    prompt["1"] = {
      class_type: "StringConcatenate",
      inputs: { string_a: '{"b": [1, 2.5, "é"],', string_b: '"a": null}', delimiter: " " },
    };
    prompt["2"] = {
      class_type: "SaveText",
      inputs: { text: ["1", 0], filename_prefix: `${prefix}/t`, format: "json" },
    };
  }
  if (has("EmptyAudio") && has("SaveAudio")) {
    prompt["3"] = {
      class_type: "EmptyAudio",
      inputs: { duration: 0.01, sample_rate: 8000, channels: 1 },
    };
    prompt["4"] = {
      class_type: "SaveAudio",
      inputs: { audio: ["3", 0], filename_prefix: `${prefix}/a` },
    };
  }
  if (Object.keys(prompt).length === 0) return { outputs: {} };
  const { entry } = await runToHistory(url, JSON.stringify({ prompt }));
  const text = entry.outputs["2"]?.["files"]?.[0] as Record<string, string> | undefined;
  return {
    outputs: entry.outputs,
    ...(text
      ? { saved: await (await fetch(`${url}/view?${new URLSearchParams(text)}`)).text() }
      : {}),
  };
}

/**
 * The runtime on one server, counting its requests by route (an undici interceptor: the real
 * server keeps no request log): it attaches to a prompt queued by another client, then cancels
 * a pending and a running job. Returns what must agree between the real release and the test
 * server set to it: the outcomes, which status routes were used (`jobs`: `GET /api/jobs/{id}`,
 * `classic`: `/history/{id}` + `/queue`), the cancel requests and the one `/system_stats` read.
 */
async function runtimeScenario(url: string, color: number) {
  const requests: string[] = [];
  const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
  const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
    requests.push(`${options.method} ${String(options.path).split("?")[0]!.replace(uuid, "{id}")}`);
    return dispatch(options, handler);
  });
  const client = new ComfyClient({ url, dispatcher, pollIntervalMs: 100, silenceMs: 200 });
  // Blurs: model-free, slow on a CPU, and interruptible between nodes (ComfyUI checks before
  // each node); a distinct colour per chain keeps the server's cache out of it.
  const blurs = (c: number) => {
    const prompt: Record<string, unknown> = {
      "1": { class_type: "EmptyImage", inputs: { width: 96, height: 96, batch_size: 1, color: c } },
    };
    for (let i = 0; i < 30; i++)
      prompt[String(10 + i)] = {
        class_type: "ImageBlur",
        inputs: { image: [i === 0 ? "1" : String(9 + i), 0], blur_radius: 31, sigma: 10 },
      };
    prompt["2"] = { class_type: "PreviewImage", inputs: { images: ["39", 0] } };
    return prompt;
  };
  try {
    const promptId = randomUUID();
    const res = await fetch(`${url}/prompt`, {
      method: "POST",
      body: JSON.stringify({
        prompt: {
          "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color } },
          "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
          "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "rt/a" } },
        },
        prompt_id: promptId,
      }),
    });
    expect(res.status).toBe(200);
    const attached = await client.attach(promptId).result();
    const running = client.submit(blurs(color + 1));
    const pending = client.submit(blurs(color + 2));
    await started(running);
    await queued(pending);
    const outcomes = [await pending.cancel(), await running.cancel()];
    const error = (await errorOf(running.result())) as { code?: string } | undefined;
    const count = (route: string) => requests.filter((r) => r === route).length;
    const used = (...routes: string[]) => routes.some((r) => count(r) > 0);
    const jobs = used("GET /api/jobs/{id}", "GET /api/jobs");
    const classic = used("GET /api/history/{id}", "GET /api/queue");
    return {
      attachedFiles: attached.files.length,
      outcomes,
      statuses: [pending.status, running.status, error?.code],
      statusRoutes: jobs && classic ? "mixed" : jobs ? "jobs" : classic ? "classic" : "none",
      cancelRequests: Object.fromEntries(
        ["POST /api/jobs/{id}/cancel", "POST /api/queue", "POST /api/interrupt"].map((r) => [
          r,
          count(r),
        ]),
      ),
      systemStats: count("GET /api/system_stats"),
    };
  } finally {
    await client.close();
    await dispatcher.close();
  }
}

/**
 * A traceback's frames (of an execution_error, or of a validation exception in `node_errors`)
 * with the install directory written as `<root>`: the real server's is where start.sh unpacked
 * it, the test server's is its data directory (src/testing/tracebacks.ts). Everything else
 * (files, line numbers, functions, source lines, carets) must be equal.
 */
function maskedTraceback(frames: unknown): unknown {
  if (!Array.isArray(frames) || typeof frames[0] !== "string") return frames;
  const root = /^ {2}File "(.*)\/execution\.py", line /.exec(frames[0])?.[1];
  return root === undefined
    ? frames
    : frames.map((f) => (typeof f === "string" ? f.replaceAll(`"${root}/`, '"<root>/') : f));
}

/** Replaces what differs between any two runs or servers (ids, times, folders) in `v`. */
function masked(v: unknown, key?: string): unknown {
  if (key === "traceback") return maskedTraceback(v);
  // Python sets: the order varies between runs of the same server.
  if (key === "current_outputs" || key === "executed") return [...(v as string[])].sort();
  if (Array.isArray(v)) return v.map((x) => masked(x));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x, k)]));
  if (key === "prompt_id" || key === "timestamp" || key === "sid") return `<${key}>`;
  // Server paths in an exception message: each server has its own folders.
  if (key === "exception_message" && typeof v === "string")
    return v.replace(/(^|[\s'"])\/[^\s'"]*/g, "$1<path>");
  return v;
}

/** Everything one socket received from index `from` on, masked. */
const sequence = (messages: readonly { type: string; data: unknown }[], from: number) =>
  messages.slice(from).map((m) => ({ type: m.type, data: masked(m.data) }));

/** A few bytes that are not an image, under an image's name. */
const NOT_AN_IMAGE = new TextEncoder().encode("not a png\n");

/** A 1×1 PNG, red or green: two different contents for the same upload name. */
function onePixelPng(green: boolean): Uint8Array {
  const png = new PNG({ width: 1, height: 1 });
  png.data.set(green ? [0, 255, 0, 255] : [255, 0, 0, 255]);
  return new Uint8Array(PNG.sync.write(png));
}

/** `POST /upload/image` of `bytes` as `name`, with the other form fields given. */
async function upload(
  url: string,
  name: string | undefined,
  bytes: Uint8Array | undefined,
  fields: Record<string, string> = {},
): Promise<Answer> {
  const form = new FormData();
  if (bytes) form.append("image", new Blob([bytes], { type: "image/png" }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${url}/upload/image`, { method: "POST", body: form });
  const text = await res.text();
  return { status: res.status, body: text ? parseJsonLossless(text) : "" };
}

/**
 * WebSocket sequences (protocol §3.6) seen by one client on one server, message by message:
 * a fresh run, the same prompt again (fully cached), a prompt with one rejected output (200
 * with `node_errors`; the other output runs), a run-time error (a save outside the output
 * folder), and a corrupt upload that passes validation and fails in LoadImage. Each run is
 * read up to its final `executing {node: null}`.
 */
async function socketScenario(url: string, tag: string, color: number) {
  const clientId = `diff-${tag}`;
  const ws = await rawSocket(url, clientId);
  try {
    await ws.waitFor((m) => m.type === "status"); // the greeting
    const out: Record<string, unknown> = {};
    const run = async (name: string, prompt: Record<string, unknown>, history = false) => {
      const from = ws.messages.length;
      const res = await fetch(`${url}/prompt`, {
        method: "POST",
        body: JSON.stringify({ prompt, client_id: clientId }),
      });
      const body = (await res.json()) as { prompt_id: string; node_errors: unknown };
      await ws.waitFor(
        (m) =>
          m.type === "executing" && m.data.node === null && m.data.prompt_id === body.prompt_id,
      );
      out[name] = {
        status: res.status,
        node_errors: masked(body.node_errors),
        messages: sequence(ws.messages, from),
        // A failed run's history keeps the same execution_error, traceback included.
        ...(history
          ? {
              history: masked(
                (
                  (await (await fetch(`${url}/history/${body.prompt_id}`)).json()) as Record<
                    string,
                    { status: unknown }
                  >
                )[body.prompt_id]?.status,
              ),
            }
          : {}),
      };
    };
    const save = (from: string, prefix: string) => ({
      class_type: "SaveImage",
      inputs: { images: [from, 0], filename_prefix: prefix },
    });
    const image = (c: number, w = 4) => ({
      class_type: "EmptyImage",
      inputs: { width: w, height: 2, batch_size: 1, color: c },
    });
    const fresh = {
      "1": image(color),
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": save("2", `ws/${tag}`),
    };
    await run("fresh", fresh);
    await run("cached", fresh);
    await run("partly cached", { ...fresh, "4": image(color, 8), "5": save("4", `ws/${tag}b`) });
    await run("one output rejected", {
      "1": image(color, 0),
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      "3": image(color + 1),
      "4": save("3", `ws/${tag}c`),
    });
    await run("run-time error", { "1": image(color + 2), "2": save("1", "../../outside") }, true);
    const name = `bad_${tag}.png`;
    out["corrupt upload"] = await upload(url, name, NOT_AN_IMAGE);
    await run(
      "corrupt image",
      {
        "1": { class_type: "LoadImage", inputs: { image: name } },
        "2": save("1", `ws/${tag}d`),
      },
      true,
    );
    return out;
  } finally {
    ws.close();
  }
}

/**
 * Each run-time error the test server simulates, on one server: every saver the release has
 * (those of `savers` whose class it lists) saving outside the output folder, and every image
 * loader given an upload that is not an image. Returns each failure's `execution_error` from
 * history: type, message and traceback (its install directory masked), frame by frame.
 */
async function runtimeErrorsScenario(
  url: string,
  tag: string,
  color: number,
  has: (c: string) => boolean,
) {
  const image = { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color } };
  const audio = {
    class_type: "EmptyAudio",
    inputs: { duration: 0.01, sample_rate: 8000, channels: 1 },
  };
  const savers: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
    SaveImage: [{ "1": image }, { images: ["1", 0] }],
    SaveAnimatedPNG: [{ "1": image }, { images: ["1", 0], fps: 6, compress_level: 4 }],
    SaveAnimatedWEBP: [
      { "1": image },
      { images: ["1", 0], fps: 6, lossless: false, quality: 80, method: "default" },
    ],
    SaveLatent: [
      {
        "1": {
          class_type: "EmptyLatentImage",
          inputs: { width: 64, height: 64, batch_size: 1 },
        },
      },
      { samples: ["1", 0] },
    ],
    SaveAudio: [{ "1": audio }, { audio: ["1", 0] }],
    SaveAudioMP3: [{ "1": audio }, { audio: ["1", 0], quality: "V0" }],
    SaveWEBM: [{ "1": image }, { images: ["1", 0], codec: "vp9", fps: 24, crf: 32 }],
    SaveVideo: [
      { "1": image, "3": { class_type: "CreateVideo", inputs: { images: ["1", 0], fps: 24 } } },
      { video: ["3", 0], format: "auto", codec: "auto" },
    ],
    SaveText: [{}, { text: "x", format: "txt" }],
  };
  const failure = async (prompt: Record<string, unknown>) => {
    const { entry } = await runToHistory(url, JSON.stringify({ prompt }));
    const messages = (entry as unknown as { status: { messages: [string, unknown][] } }).status
      .messages;
    const error = messages.find(([kind]) => kind === "execution_error")?.[1] as
      Record<string, unknown> | undefined;
    if (!error) return "no error";
    return masked({
      node_type: error["node_type"],
      exception_type: error["exception_type"],
      exception_message: error["exception_message"],
      traceback: error["traceback"],
    });
  };
  const out: Record<string, unknown> = {};
  for (const [cls, [upstream, inputs]] of Object.entries(savers)) {
    if (!has(cls)) continue;
    out[cls] = await failure({
      ...upstream,
      "2": { class_type: cls, inputs: { ...inputs, filename_prefix: "../../outside" } },
    });
  }
  const loaders = [
    ["LoadImage", "input", {}],
    ["LoadImageMask", "input", { channel: "alpha" }],
    ["LoadImageOutput", "output", {}],
  ] as const;
  for (const [cls, type, extra] of loaders) {
    const name = `bad_${cls}_${tag}.png`;
    const uploaded = await upload(url, name, NOT_AN_IMAGE, { type });
    expect(uploaded.status).toBe(200);
    out[cls] = await failure({
      "1": {
        class_type: cls,
        inputs: { image: type === "input" ? name : `${name} [${type}]`, ...extra },
      },
      "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
    });
  }
  return out;
}

/**
 * An interrupt while a node that reports no progress runs (protocol §3.6): the node completes,
 * the interrupt fires on the next one. Timing decides which node is running when the interrupt
 * lands, so what is compared is the shape: the sequence's tail, that the interrupted node is
 * the one announced last, that `executed` lists exactly the finished nodes, and the history.
 */
async function interruptScenario(url: string, tag: string, color: number) {
  const clientId = `int-${tag}`;
  const ws = await rawSocket(url, clientId);
  try {
    await ws.waitFor((m) => m.type === "status");
    const prompt: Record<string, unknown> = {
      "1": {
        class_type: "EmptyImage",
        inputs: { width: 256, height: 256, batch_size: 1, color },
      },
    };
    for (let i = 0; i < 12; i++)
      prompt[String(10 + i)] = {
        class_type: "ImageBlur",
        inputs: { image: [i === 0 ? "1" : String(9 + i), 0], blur_radius: 31, sigma: 10 },
      };
    prompt["2"] = {
      class_type: "SaveImage",
      inputs: { images: ["21", 0], filename_prefix: `int/${tag}` },
    };
    const from = ws.messages.length;
    const res = await fetch(`${url}/prompt`, {
      method: "POST",
      body: JSON.stringify({ prompt, client_id: clientId }),
    });
    const id = ((await res.json()) as { prompt_id: string }).prompt_id;
    await ws.waitFor((m) => m.type === "executing" && m.data.node === "11");
    await fetch(`${url}/interrupt`, { method: "POST" });
    await ws.waitFor(
      (m) => m.type === "executing" && m.data.node === null && m.data.prompt_id === id,
    );
    const mine = ws.messages.filter((m) => m.data?.prompt_id === id);
    const interrupted = mine.find((m) => m.type === "execution_interrupted")!;
    const announced = mine.filter((m) => m.type === "executing").map((m) => m.data.node);
    const last = [...mine].reverse().find((m) => m.type === "progress_state")!;
    const finished = Object.entries(last.data.nodes as Record<string, { state: string }>)
      .filter(([, n]) => n.state === "finished")
      .map(([node]) => node)
      .sort();
    const history = (await (await fetch(`${url}/history/${id}`)).json()) as Record<
      string,
      { status: { status_str: string; completed: boolean }; outputs: unknown }
    >;
    return {
      tail: ws.messages
        .slice(from)
        .slice(-3)
        .map((m) => m.type),
      types: [...new Set(mine.map((m) => m.type))].sort(),
      interruptedIsLastAnnounced: interrupted.data.node_id === announced.at(-2),
      nodeType: interrupted.data.node_type,
      executedIsFinished: [...interrupted.data.executed].sort().join() === finished.join(),
      // Node 11 itself may or may not run: the interrupt lands either before its pre-run check
      // (it never runs) or while it runs (it completes, the next node is interrupted).
      ranTheFirstBlur: finished.includes("10"),
      history: {
        status: history[id]!.status.status_str,
        completed: history[id]!.status.completed,
        outputs: history[id]!.outputs,
      },
    };
  } finally {
    ws.close();
  }
}

/**
 * `POST /upload/image` and `GET /view` (protocol §2.10, §2.11) on one server: a new name, the
 * same bytes again, other bytes under the same name, overwrite, a subfolder, an escaping
 * subfolder, no file, the temp type; then each stored file and the refused paths through /view.
 */
async function filesScenario(url: string, tag: string) {
  const red = onePixelPng(false);
  const green = onePixelPng(true);
  const name = `up_${tag}.png`;
  const out: Record<string, unknown> = {
    new: await upload(url, name, red),
    "same bytes": await upload(url, name, red),
    "other bytes": await upload(url, name, green),
    overwrite: await upload(url, name, green, { overwrite: "true" }),
    "overwrite=1": await upload(url, name, red, { overwrite: "1" }),
    "overwrite=yes": await upload(url, name, green, { overwrite: "yes" }),
    subfolder: await upload(url, name, red, { subfolder: `sub_${tag}` }),
    "escaping subfolder": await upload(url, name, red, { subfolder: "../.." }),
    "no file": await upload(url, undefined, undefined, { subfolder: "x" }),
    temp: await upload(url, name, green, { type: "temp" }),
  };
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const view = async (params: Record<string, string>) => {
    const res = await fetch(`${url}/view?${new URLSearchParams(params)}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      type: res.status === 200 ? res.headers.get("content-type") : null,
      disposition: res.headers.get("content-disposition"),
      // A re-encoded image (`channel`) is compared by its pixels and colour type: Pillow's
      // and pngjs's deflate differ.
      ...(params["channel"] && res.status === 200
        ? { colorType: bytes[25], pixels: sha(PNG.sync.read(bytes).data) }
        : { bytes: bytes.length > 0 ? sha(bytes) : "" }),
    };
  };
  const views: Record<string, Record<string, string>> = {
    input: { filename: name, type: "input" },
    "input (1)": { filename: `up_${tag} (1).png`, type: "input" },
    subfolder: { filename: name, type: "input", subfolder: `sub_${tag}` },
    temp: { filename: name, type: "temp" },
    annotated: { filename: `${name} [input]` },
    "default type is output": { filename: name },
    "unknown type": { filename: name, type: "bogus" },
    "dot-dot filename": { filename: `../${name}`, type: "input" },
    "absolute filename": { filename: `/etc/${name}`, type: "input" },
    "escaping subfolder": { filename: name, type: "input", subfolder: "../../.." },
    "no filename": { type: "input" },
    missing: { filename: `none_${tag}.png`, type: "input" },
    "channel rgb": { filename: name, type: "input", channel: "rgb" },
    "channel a": { filename: name, type: "input", channel: "a" },
  };
  for (const [label, params] of Object.entries(views)) out[`view ${label}`] = await view(params);
  return out;
}

/**
 * What `ComfyClient` makes of one server (comfyc's runtime on both sides): a run's executing
 * order, outputs, files, texts; the same prompt again (cached nodes); a rejected output (the
 * typed error and its fields); a run-time error; a corrupt upload through `uploadImage`.
 */
async function clientScenario(url: string, tag: string, color: number) {
  const client = new ComfyClient({ url });
  const failure = async (promise: Promise<unknown>) => {
    const e = (await promise.then(
      () => undefined,
      (x: unknown) => x,
    )) as Record<string, unknown> | undefined;
    if (!e) return "no error";
    return masked({
      class: e.constructor.name,
      code: e["code"],
      nodeId: e["nodeId"],
      nodeType: e["nodeType"],
      exceptionType: e["exceptionType"],
      exception_message: e["exceptionMessage"],
      traceback: e["traceback"],
      partial: e["partial"],
      nodeErrors: e["nodeErrors"],
      error: e["error"],
    });
  };
  try {
    const prompt = {
      "1": { class_type: "EmptyImage", inputs: { width: 4, height: 2, batch_size: 1, color } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: `rt/${tag}` } },
      "4": { class_type: "PreviewAny", inputs: { source: ["2", 0] } },
    };
    const job = client.submit(prompt);
    const executing: string[] = [];
    job.on("executing", (e) => executing.push(e.node));
    const first = await job.result();
    const again = await client.run(prompt);
    const uploaded = await client.uploadImage(NOT_AN_IMAGE, { name: `rt_${tag}.png` });
    return {
      // Nodes 3 and 4 are both outputs, ready at once: ComfyUI picks between them in the order
      // of a Python set of node ids (string hashes vary per process), so only 1, 2 is ordered.
      executing: [...executing.slice(0, 2), ...executing.slice(2).sort()],
      outputs: first.outputs,
      files: first.files.map((f) => ({ ...f, url: undefined })),
      texts: first.texts,
      cachedAgain: [...again.cachedNodes].sort(),
      rejected: await failure(
        client.run({
          "1": { ...prompt["1"], inputs: { ...prompt["1"].inputs, width: 0 } },
          "3": prompt["3"],
        }),
      ),
      failed: await failure(
        client.run({
          "1": prompt["1"],
          "3": {
            class_type: "SaveImage",
            inputs: { images: ["1", 0], filename_prefix: "../../x" },
          },
        }),
      ),
      uploaded,
      corrupt: await failure(
        client.run({
          "1": { class_type: "LoadImage", inputs: { image: uploaded.name } },
          "3": { ...prompt["3"], inputs: { ...prompt["3"].inputs, images: ["1", 0] } },
        }),
      ),
    };
  } finally {
    await client.close();
  }
}

/** What a `POST /prompt` answer says, without what legitimately varies between runs. */
function comparable(answer: Answer, setOrder = false, validationFrames = true): Answer {
  if (answer.status === 500) return { status: 500, body: "500" };
  const body = structuredClone(answer.body) as Record<string, unknown>;
  if (answer.status === 200) {
    delete body["prompt_id"];
    delete body["number"];
  }
  const nodeErrors = body["node_errors"] as Record<
    string,
    { errors: unknown[]; dependent_outputs: string[] }
  >;
  for (const entry of Object.values(nodeErrors ?? {})) {
    // Python iterates inputs in set order: the order of errors is not stable (protocol §5.2).
    entry.errors = entry.errors
      .map((e) => {
        const info = (e as { extra_info?: Record<string, unknown> }).extra_info;
        // Validation tracebacks: frame by frame (install directory masked), except against
        // the offline validator, which has no frames to write (`traceback: []`).
        if (info && "traceback" in info)
          info["traceback"] = validationFrames
            ? maskedTraceback(info["traceback"])
            : "<validation frames>";
        return e;
      })
      .sort((a, b) => (stringifyJson(a) < stringifyJson(b) ? -1 : 1));
    entry.dependent_outputs = setOrder ? ["<set order>"] : [...entry.dependent_outputs].sort();
  }
  return { status: answer.status, body };
}

async function postPrompt(url: string, text: string): Promise<Answer> {
  const res = await fetch(`${url}/prompt`, { method: "POST", body: text });
  const raw = await res.text();
  let body: unknown = raw;
  try {
    body = parseJsonLossless(raw);
  } catch {
    // aiohttp's plain-text 500
  }
  return { status: res.status, body };
}

function offlineAnswer(
  text: string,
  schema: ReturnType<typeof normalizeObjectInfo>,
  version: string,
): Answer {
  const parsed = parseJsonLossless(text, { floats: true });
  // Offline there is no request body: anything but an object gives the validator no prompt.
  const body = (
    parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {}
  ) as Record<string, unknown>;
  if (!("prompt" in body))
    return {
      status: 400,
      body: {
        error: {
          type: "no_prompt",
          message: "No prompt provided",
          details: "No prompt provided",
          extra_info: {},
        },
        node_errors: {},
      },
    };
  const r = validatePrompt(body["prompt"], schema, { comfyuiVersion: version });
  return r.valid
    ? { status: 200, body: { node_errors: r.nodeErrors } }
    : { status: 400, body: { error: r.error, node_errors: r.nodeErrors } };
}

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, args, { timeout: 600_000 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${cmd} failed: ${stderr || error.message}`))
        : resolveRun(stdout.trim()),
    );
  });
}

interface Side {
  readonly version: Release;
  url: string;
  pid?: string;
  schema?: ReturnType<typeof normalizeObjectInfo>;
  server?: TestServer;
}

// Without ../shared/comfyui-real, one line for every skipped suite says so (test/shared.setup.ts).
describe.runIf(HAS_REAL_COMFYUI)("differential: real ComfyUI vs comfyc", () => {
  const sides: Side[] = RELEASES.map((r) => ({
    version: r.version,
    url: process.env[r.env] ?? "",
  }));
  const workdir = HAS_REAL_COMFYUI ? mkdtempSync(join(tmpdir(), "comfyc-real-")) : "";

  beforeAll(async () => {
    for (const side of sides) {
      if (!side.url) {
        const line = await run(join(REAL, "start.sh"), [
          side.version,
          String(await freePort()),
          workdir,
        ]);
        side.url = line.slice(0, line.indexOf(" pid "));
        side.pid = line.slice(line.indexOf(" pid ") + 5);
      }
      // With floats: a limit written 1000.0 is a Python float, and messages print it so.
      const info = parseJsonLossless(await (await fetch(`${side.url}/object_info`)).text(), {
        floats: true,
      });
      side.schema = normalizeObjectInfo(info, `${side.url}/object_info`);
      side.server = await startTestServer({
        port: 0,
        objectInfo: info as Record<string, unknown>,
        comfyuiVersion: side.version,
      });
    }
  }, 900_000);

  afterAll(async () => {
    for (const side of sides) {
      await side.server?.close();
      if (side.pid) await run(join(REAL, "stop.sh"), [side.pid]);
    }
  }, 60_000);

  test.each(RELEASES.map((r) => r.version))(
    "each release reports its own version (%s)",
    async (v) => {
      const side = sides.find((s) => s.version === v)!;
      for (const url of [side.url, side.server!.url]) {
        const stats = (await (await fetch(`${url}/system_stats`)).json()) as {
          system: { comfyui_version: string };
        };
        expect(stats.system.comfyui_version).toBe(v);
      }
    },
  );

  const cases = EXCHANGES.flatMap((c) => RELEASES.map((r) => [c.name, r.version, c] as const));
  test.each(cases)("%s (%s)", async (_name, version, exchange) => {
    const side = sides.find((s) => s.version === version)!;
    const answer = await postPrompt(side.url, exchange.body);
    const real = comparable(answer, exchange.setOrder);
    const why = exchange.differs?.[version];
    const server = comparable(await postPrompt(side.server!.url, exchange.body), exchange.setOrder);
    if (why?.server) expect(server, `expected to differ: ${why.server}`).not.toEqual(real);
    else expect(server, "test server").toEqual(real);
    const offline = comparable(
      offlineAnswer(exchange.body, side.schema!, version),
      exchange.setOrder,
      false,
    );
    const realUnframed = comparable(answer, exchange.setOrder, false);
    if (why?.offline)
      expect(offline, `expected to differ: ${why.offline}`).not.toEqual(realUnframed);
    else expect(offline, "offline validator").toEqual(realUnframed);
  });

  test.each(RELEASES.map((r) => r.version))(
    "comfyc validate --url answers as the release does for prompts the CLI used to refuse (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const prompts: Record<string, unknown>[] = [
        {},
        { "1": {} },
        { "1": { inputs: {} } },
        { "2": { class_type: "SaveImage" } },
        {
          "1": { class_type: "EmptyImage" },
          "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
        },
      ];
      const dir = mkdtempSync(join(tmpdir(), "comfyc-validate-"));
      for (const [i, p] of prompts.entries()) {
        const real = await postPrompt(side.url, stringifyJson({ prompt: p }));
        expect(real.status, stringifyJson(p)).toBe(400);
        const file = join(dir, `p${i}.json`);
        writeFileSync(file, stringifyJson(p));
        const out = await cli("validate", file, "--url", side.url, "--json");
        expect(out.code, `${stringifyJson(p)}: ${out.stderr}`).toBe(1);
        const ours: Answer = { status: 400, body: parseJsonLossless(out.stdout) };
        expect(comparable(ours, false, false), stringifyJson(p)).toEqual(
          comparable(real, false, false),
        );
      }
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "the test server's /object_info writes the release's floats as floats (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      /** JSON paths of the numbers a parse with floats recorded as written as floats. */
      const floatPaths = (value: unknown, path: string, out: string[]): string[] => {
        if (value === null || typeof value !== "object") return out;
        for (const [key, v] of Object.entries(value)) {
          const at = `${path}/${key}`;
          if (writtenAsFloat(value, Array.isArray(value) ? Number(key) : key)) out.push(at);
          floatPaths(v, at, out);
        }
        return out;
      };
      const read = async (url: string) =>
        floatPaths(
          parseJsonLossless(await (await fetch(`${url}/object_info`)).text(), { floats: true }),
          "",
          [],
        ).sort();
      const real = await read(side.url);
      expect(real.length).toBeGreaterThan(500);
      expect(await read(side.server!.url)).toEqual(real);
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "comfyc validate --url reads the file's and the server's floats as the release does (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const dir = mkdtempSync(join(tmpdir(), "comfyc-floats-"));
      // A link index of 0.0, a classic FLOAT input with an int max (LatentBlend's 1), a STRING of
      // 5.0, and a combo given 5.0: what a file can say that a JavaScript number cannot.
      const bodies = [
        prompt({ "1": empty(), "2": preview("1", "0.0") }),
        prompt({
          "9": `{"class_type": "EmptyLatentImage", "inputs": {"width": 16, "height": 16, "batch_size": 1}}`,
          "1": `{"class_type": "LatentBlend", "inputs": {"samples1": ["9", 0], "samples2": ["9", 0], "blend_factor": 2}}`,
          "3": `{"class_type": "ImageScaleBy", "inputs": {"image": ["4", 0], "upscale_method": 5.0, "scale_by": 9}}`,
          "4": empty(),
          "2": `{"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}`,
          "5": preview("3"),
        }),
      ];
      for (const [i, body] of bodies.entries()) {
        const real = await postPrompt(side.url, body);
        expect(real.status, body).toBe(400);
        const file = join(dir, `f${i}.json`);
        writeFileSync(file, body);
        const out = await cli("validate", file, "--url", side.url, "--json");
        expect(out.code, `${body}: ${out.stderr}`).toBe(1);
        const ours: Answer = { status: 400, body: parseJsonLossless(out.stdout) };
        // Two outputs: dependent_outputs follows Python's set order (see Exchange.setOrder).
        expect(comparable(ours, true, false), body).toEqual(comparable(real, true, false));
      }
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "comfyc validate judges a saved POST /prompt body with its partial_execution_targets (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      // Output 2 is valid, output 3 links to a node that is not there.
      const prompt = {
        "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
        "3": { class_type: "PreviewImage", inputs: { images: ["9", 0] } },
      };
      const dir = mkdtempSync(join(tmpdir(), "comfyc-targets-"));
      const targets: unknown[] = [["2"], ["3"], [], [2], "23", { "2": 1 }, null];
      for (const [i, partial] of targets.entries()) {
        const body = stringifyJson({ prompt, partial_execution_targets: partial });
        const real = await postPrompt(side.url, body);
        const file = join(dir, `b${i}.json`);
        writeFileSync(file, body);
        const out = await cli("validate", file, "--url", side.url, "--json");
        const clean =
          real.status === 200 &&
          Object.keys((real.body as { node_errors: object }).node_errors).length === 0;
        expect(out.code, `${body}: ${out.stderr}`).toBe(clean ? 0 : 1);
        if (clean) continue;
        const ours = parseJsonLossless(out.stdout) as { error: unknown; node_errors: unknown };
        const answer: Answer =
          real.status === 200
            ? { status: 200, body: { node_errors: ours.node_errors } }
            : { status: 400, body: ours };
        expect(comparable(answer, false, false), body).toEqual(comparable(real, false, false));
      }
      // Not iterable: the server fails (500); the CLI refuses the file.
      const bad = stringifyJson({ prompt, partial_execution_targets: 5 });
      expect((await postPrompt(side.url, bad)).status).toBe(500);
      const file = join(dir, "bad.json");
      writeFileSync(file, bad);
      const out = await cli("validate", file, "--url", side.url);
      expect(out.code, out.stderr).toBe(3);
      expect(out.stderr).toContain("partial_execution_targets is 5");
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "a body over the 100 MiB upload limit: aiohttp's 413 on /prompt and /upload/image (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const limit = 104857600;
      const MiB = 1 << 20;
      const pattern = /^Maximum request body size (\d+) exceeded, actual body size (\d+)$/;
      const form = {
        head: Buffer.from(
          '--edge\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n',
        ),
        tail: Buffer.from("\r\n--edge--\r\n"),
        headers: { "Content-Type": "multipart/form-data; boundary=edge" },
      };
      // One 101 MiB body at a time, streamed from a reused buffer.
      for (const [path, options] of [
        ["/prompt", { headers: { "Content-Type": "application/json" } }],
        ["/upload/image", form],
      ] as const) {
        const answers = [];
        for (const url of [side.url, side.server!.url]) {
          const got = await postStreamed(url, path, { ...options, size: limit + MiB });
          const m = pattern.exec(got.text);
          expect(m, `${url}${path}: ${got.text}`).not.toBeNull();
          expect(Number(m![1])).toBe(limit);
          // Where the limit was crossed depends on how the bytes arrived, on both sides.
          expect(Number(m![2])).toBeGreaterThanOrEqual(limit + (path === "/prompt" ? 0 : 1));
          expect(Number(m![2])).toBeLessThanOrEqual(limit + MiB);
          answers.push({ ...got, text: "<size>" });
        }
        expect(answers[1], `test server, ${path}`).toEqual(answers[0]);
      }
    },
    180_000,
  );

  test.each(RELEASES.map((r) => r.version))(
    "saved pixels, PNG text and strings (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const now = Date.now();
      const prefix = `px/d${now.toString(36)}`;
      const color = 0xc86432 + (now % 1000); // 200, 100, 50-ish: inversion truncates
      const real = await outputsScenario(side.url, prefix, color);
      expect(real.colorType).toBe(2);
      expect(await outputsScenario(side.server!.url, prefix, color)).toEqual(real);
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "SaveText and audio file names (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const prefix = `sv/d${Date.now().toString(36)}`;
      const has = (c: string) => side.schema!.classes.has(c);
      const real = await saversScenario(side.url, prefix, has);
      // Both releases have the audio nodes; SaveText came with 0.28.0.
      expect(Object.keys(real.outputs).sort()).toEqual(version === "0.3.64" ? ["4"] : ["2", "4"]);
      expect(await saversScenario(side.server!.url, prefix, has)).toEqual(real);
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "a client's number comes back as the float Python writes (5.0) (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const jobsApi = version !== "0.3.64";
      const real = await numberScenario(side.url, jobsApi);
      // What the test is about: the real release writes the float, not the int.
      expect(real[0]!.slice(1)).toEqual(jobsApi ? ["5.0", "5.0", "5.0"] : ["5.0", "5.0"]);
      expect(await numberScenario(side.server!.url, jobsApi)).toEqual(real);
    },
  );

  test.each(RELEASES.map((r) => r.version))("the jobs API (%s)", async (version) => {
    const side = sides.find((s) => s.version === version)!;
    // A prefix and a colour no earlier run used: both sides save <prefix>_00001_.png, and
    // neither has the image in its cache.
    const now = Date.now();
    const prefix = `jobs/d${now.toString(36)}`;
    const color = now % 0xffffff;
    const real = await jobsScenario(side.url, prefix, color);
    expect(await jobsScenario(side.server!.url, prefix, color)).toEqual(real);
  });

  test.each(RELEASES.map((r) => r.version))(
    "the runtime's status and cancel routes: attach, dequeue, interrupt (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const color = Date.now() % 0xfff000;
      const real = await runtimeScenario(side.url, color);
      const jobsApi = version !== "0.3.64";
      expect(real).toEqual({
        attachedFiles: 1,
        outcomes: [{ state: "dequeued" }, { state: "interrupted" }],
        statuses: ["cancelled", "cancelled", "CANCELLED"],
        statusRoutes: jobsApi ? "jobs" : "classic",
        cancelRequests: jobsApi
          ? { "POST /api/jobs/{id}/cancel": 2, "POST /api/queue": 0, "POST /api/interrupt": 0 }
          : { "POST /api/jobs/{id}/cancel": 0, "POST /api/queue": 1, "POST /api/interrupt": 1 },
        systemStats: 1,
      });
      // The test server's blurs take what it is told: long enough to be cancelled mid-chain.
      side.server!.script.node("ImageBlur", { durationMs: 200 });
      try {
        expect(await runtimeScenario(side.server!.url, color)).toEqual(real);
      } finally {
        side.server!.script.clearNodes();
      }
    },
    240_000,
  );

  test.each(RELEASES.map((r) => r.version))(
    "WebSocket sequences: fresh, cached, partly cached, rejected output, errors (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const now = Date.now();
      const tag = `${version.replaceAll(".", "")}${now.toString(36)}`;
      const color = now % 0xfffff;
      const real = await socketScenario(side.url, tag, color);
      expect(await socketScenario(side.server!.url, tag, color)).toEqual(real);
    },
  );

  test.each(RELEASES.map((r) => r.version))(
    "run-time errors of each saver and image loader, tracebacks frame by frame (%s)",
    async (version) => {
      const side = sides.find((s) => s.version === version)!;
      const now = Date.now();
      const tag = `${version.replaceAll(".", "")}${now.toString(36)}`;
      const has = (c: string) => side.schema!.classes.has(c);
      const real = await runtimeErrorsScenario(side.url, tag, now % 0xfffff, has);
      for (const [cls, error] of Object.entries(real))
        expect((error as { traceback: string[] }).traceback.length, cls).toBeGreaterThanOrEqual(5);
      expect(await runtimeErrorsScenario(side.server!.url, tag, now % 0xfffff, has)).toEqual(real);
    },
    240_000,
  );

  test.each(RELEASES.map((r) => r.version))("an interrupt mid-run (%s)", async (version) => {
    const side = sides.find((s) => s.version === version)!;
    const now = Date.now();
    const tag = `${version.replaceAll(".", "")}${now.toString(36)}`;
    const real = await interruptScenario(side.url, tag, now % 0xfffff);
    expect(real.tail).toEqual(["execution_interrupted", "status", "executing"]);
    // ImageBlur reports no progress: the test server lets it take a while, as on the real one.
    side.server!.script.node("ImageBlur", { durationMs: 300 });
    expect(await interruptScenario(side.server!.url, tag, now % 0xfffff)).toEqual(real);
  });

  test.each(RELEASES.map((r) => r.version))("uploads and /view (%s)", async (version) => {
    const side = sides.find((s) => s.version === version)!;
    const tag = `${version.replaceAll(".", "")}${Date.now().toString(36)}`;
    const real = await filesScenario(side.url, tag);
    expect(await filesScenario(side.server!.url, tag)).toEqual(real);
  });
  test.each(RELEASES.map((r) => r.version))("ComfyClient on both (%s)", async (version) => {
    const side = sides.find((s) => s.version === version)!;
    const now = Date.now();
    const tag = `${version.replaceAll(".", "")}${now.toString(36)}`;
    const real = await clientScenario(side.url, tag, now % 0xfffff);
    expect(real.cachedAgain).toEqual(["1", "2", "3", "4"]);
    expect(await clientScenario(side.server!.url, tag, now % 0xfffff)).toEqual(real);
  });
  test.each(RELEASES.map((r) => r.version))("3D previews (%s)", async (version) => {
    const side = sides.find((s) => s.version === version)!;
    const scenario = async (url: string) => {
      // A model path as a string: Preview3D only shows it (no file is read or written). The
      // jobs API (0.6.0+) normalises it into a 3D preview item.
      const { id, entry } = await runToHistory(
        url,
        JSON.stringify({
          prompt: {
            // One output node: with two, the jobs API's preview would follow Python set order.
            "1": { class_type: "Preview3D", inputs: { model_file: `sub/m${Date.now()}.glb` } },
          },
        }),
      );
      const job = await fetch(`${url}/api/jobs/${id}`);
      const detail = job.status === 200 ? ((await job.json()) as Record<string, unknown>) : {};
      const found = {
        outputs: entry.outputs,
        jobs: job.status,
        jobOutputs: detail["outputs"],
        preview: detail["preview_output"],
        counts: [detail["outputs_count"], detail["previewable_outputs_count"]],
      };
      return JSON.parse(JSON.stringify(found).replace(/m\d+\.glb/g, "<name>.glb")) as unknown;
    };
    const real = await scenario(side.url);
    expect(await scenario(side.server!.url)).toEqual(real);
  });
});
