import { describe, expect, test } from "vitest";
import { $unsafeLink, isComfycError, serializePrompt, workflow } from "comfyc";
import {
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyImage,
  ImageInvert,
  PreviewImage,
  SaveImage,
  SplitSigmas,
} from "../../generated/core.js";
import {
  BatchImagesNode,
  ResizeImageMaskNode,
  StringFormat,
} from "../fixtures/generated-v3/core.js";

describe("workflow builder", () => {
  test("numbers nodes in creation order, fills defaults, titles from display names", () => {
    const wf = workflow();
    const image = wf.add(EmptyImage, { width: 64 });
    wf.add(SaveImage, { images: image });
    expect(wf.compile()).toEqual({
      "1": {
        class_type: "EmptyImage",
        inputs: { width: 64, height: 512, batch_size: 1, color: 0 },
        _meta: { title: "EmptyImage" },
      },
      "2": {
        class_type: "SaveImage",
        inputs: { images: ["1", 0], filename_prefix: "ComfyUI" },
        _meta: { title: "Save Image" },
      },
    });
  });

  test("ids and titles can be set; automatic ids skip taken ones; duplicates are rejected", () => {
    const wf = workflow();
    wf.add(EmptyImage, {}, { id: "2", title: "Canvas" });
    const a = wf.add(EmptyImage, {});
    const b = wf.add(EmptyImage, {});
    expect([a.nodeId, b.nodeId]).toEqual(["1", "3"]);
    expect(() => wf.add(EmptyImage, {}, { id: "3" })).toThrow(/already used/);
  });

  test("drops and reports nodes that feed no output node", () => {
    const wf = workflow();
    const used = wf.add(EmptyImage, {});
    wf.add(ImageInvert, { image: used });
    wf.add(PreviewImage, { images: used });
    const report = wf.compileWithReport();
    expect(Object.keys(report.prompt)).toEqual(["1", "3"]);
    expect(report.unreachable.map((n) => [n.nodeId, n.classType])).toEqual([["2", "ImageInvert"]]);
    expect(report.unreachable[0]!.source?.file).toContain("builder.test.ts");
    expect(Object.keys(wf.compile({ keepUnreachable: true }))).toEqual(["1", "2", "3"]);
  });

  test("records where each node was created, read lazily; sourceLocations: false records none", () => {
    const wf = workflow();
    const image = wf.add(EmptyImage, {});
    wf.add(PreviewImage, { images: image });
    const { sources } = wf.compileWithReport();
    expect(sources).toBeInstanceOf(Map);
    expect(sources.size).toBe(2);
    expect(sources.get("2")!.line).toBe(sources.get("1")!.line + 1);
    expect(sources.get(image.nodeId)!.file).toContain("builder.test.ts");
    expect([...sources.keys()]).toEqual(["1", "2"]);
    expect(wf.getSource(image.nodeId)).toEqual(sources.get(image.nodeId));

    const bare = workflow({ sourceLocations: false });
    bare.add(PreviewImage, { images: bare.add(EmptyImage, {}) });
    const report = bare.compileWithReport();
    expect(report.sources.size).toBe(0);
    expect(report.sources.get("1")).toBeUndefined();
    expect(report.prompt).toEqual(wf.compile());
  });

  test("NODE_ENV=production turns source locations off by default; the option wins", () => {
    const build = (options?: { sourceLocations?: boolean }) => {
      const wf = workflow(options);
      wf.add(PreviewImage, { images: wf.add(EmptyImage, {}) });
      return wf.compileWithReport().sources.size;
    };
    const before = process.env["NODE_ENV"];
    try {
      process.env["NODE_ENV"] = "production";
      expect(build()).toBe(0);
      expect(build({ sourceLocations: true })).toBe(2);
      process.env["NODE_ENV"] = "development";
      expect(build()).toBe(2);
      expect(build({ sourceLocations: false })).toBe(0);
    } finally {
      if (before === undefined) delete process.env["NODE_ENV"];
      else process.env["NODE_ENV"] = before;
    }
  });

  test("two workflows build independently", () => {
    const a = workflow();
    const b = workflow();
    a.add(PreviewImage, { images: a.add(EmptyImage, {}) });
    b.add(SaveImage, { images: b.add(ImageInvert, { image: b.add(EmptyImage, {}) }) });
    expect(Object.keys(a.compile())).toEqual(["1", "2"]);
    expect(Object.keys(b.compile())).toEqual(["1", "2", "3"]);
  });

  test("escape hatches: $raw nodes pass through untyped, outputs by index, $unsafeLink", () => {
    const wf = workflow();
    const custom = wf.$raw(
      "MyCustomNode //Pack",
      { strength: 0.5, image: wf.add(EmptyImage, {}) },
      { id: "c" },
    );
    wf.add(PreviewImage, { images: custom.output(0) });
    wf.add(PreviewImage, { images: $unsafeLink("c", 1) });
    const prompt = wf.compile();
    expect(prompt["c"]).toEqual({
      class_type: "MyCustomNode //Pack",
      inputs: { strength: 0.5, image: ["1", 0] },
      _meta: { title: "MyCustomNode //Pack" },
    });
    expect(prompt["3"]!.inputs["images"]).toEqual(["c", 1]);
  });

  test("outputs are reachable by unique name and index; 64-bit ints serialize exactly", () => {
    const wf = workflow();
    const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
    expect(ckpt[1]).toEqual(ckpt.CLIP);
    expect(ckpt.CLIP).toEqual({ nodeId: "1", index: 1, type: "CLIP" });
    const split = wf.add(SplitSigmas, { sigmas: $unsafeLink("x", 0) });
    expect([split.high_sigmas.index, split.low_sigmas.index]).toEqual([0, 1]);
    expect(serializePrompt({ seed: 2n ** 64n - 1n })).toBe('{"seed":18446744073709551615}');
  });

  test("compile errors name the node, input, value, allowed range and this file's line", () => {
    const wf = workflow();
    const image = wf.add(EmptyImage, { width: 0 }, { title: "Too small" });
    wf.add(SaveImage, { images: image });
    try {
      wf.compile();
      expect.unreachable();
    } catch (e) {
      expect(isComfycError(e, "PROMPT_INVALID")).toBe(true);
      expect((e as Error).message).toMatch(
        /Node "1" \(EmptyImage "Too small" at test\/unit\/builder\.test\.ts:\d+:\d+\): input width: 0 is below the minimum \(allowed 1 … 16384\)/,
      );
    }
  });

  test("an output of another workflow is an error naming the input, not a link to this one's node", () => {
    const a = workflow();
    const b = workflow();
    const image = a.add(EmptyImage, {});
    // Node "1" of b would be the SaveImage itself: without the check this compiled to a self-link.
    b.add(SaveImage, { images: image.IMAGE });
    let error: unknown;
    try {
      b.compile({ validate: false });
    } catch (e) {
      error = e;
    }
    expect(isComfycError(error, "INVALID_GRAPH")).toBe(true);
    expect((error as Error).message).toMatch(
      /input images is an output of node "1" of another workflow/,
    );
    // The same through a single-output handle passed directly; $unsafeLink stays deliberate.
    const c = workflow();
    c.add(PreviewImage, { images: image });
    expect(() => c.compile({ validate: false })).toThrow(/another workflow/);
    const d = workflow();
    d.add(EmptyImage, {});
    d.add(PreviewImage, { images: $unsafeLink("1", 0) });
    expect(Object.keys(d.compile())).toEqual(["1", "2"]);
  });

  test("a node with several outputs passed as a link is a clear error", () => {
    const wf = workflow();
    const ckpt = wf.add(CheckpointLoaderSimple, { ckpt_name: "v1-5-pruned-emaonly.safetensors" });
    wf.add(CLIPTextEncode, { clip: ckpt as never, text: "x" });
    expect(() => wf.compile({ validate: false })).toThrow(/given a node with several outputs/);
  });

  test("V3 dynamic inputs flatten to dotted keys, with the chosen option's defaults", () => {
    const wf = workflow();
    const image = wf.add(EmptyImage, {});
    const batch = wf.add(BatchImagesNode, { images: [image, image] });
    const resized = wf.add(ResizeImageMaskNode, {
      input: batch,
      resize_type: { key: "scale by multiplier" },
      scale_method: "area",
    });
    const text = wf.add(StringFormat, { values: { a: "x", b: 2 }, f_string: "{a}-{b}" });
    wf.add(PreviewImage, { images: resized });
    const prompt = wf.compile({ validate: false, keepUnreachable: true });
    expect(prompt[batch.nodeId]!.inputs).toEqual({
      "images.image0": ["1", 0],
      "images.image1": ["1", 0],
    });
    expect(prompt[resized.nodeId]!.inputs).toEqual({
      input: ["2", 0],
      resize_type: "scale by multiplier",
      "resize_type.multiplier": 1,
      scale_method: "area",
    });
    expect(prompt[text.nodeId]!.inputs).toMatchObject({
      "values.a": "x",
      "values.b": 2,
      f_string: "{a}-{b}",
    });
  });

  test("list constants are wrapped in __value__ so ComfyUI does not read them as links", () => {
    const wf = workflow();
    const node = wf.$raw("Lister", { items: ["a", "b"] }, { outputNode: true });
    expect(wf.compile({ validate: false })[node.nodeId]!.inputs["items"]).toEqual({
      __value__: ["a", "b"],
    });
  });
});
