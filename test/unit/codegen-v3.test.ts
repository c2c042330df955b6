import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { generate } from "../../src/codegen/generate.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { readJson, ROOT, tempDir, typecheckDirs } from "../helpers.js";

// Five classes as ComfyUI 0.33.0 lists them (test/fixtures/object-info/README.md).
const raw = readJson(
  join(ROOT, "test", "fixtures", "object-info", "comfyui-0.33.0-v3-values.json"),
);

describe("codegen of ComfyUI 0.33.0's V3 types and node fields", () => {
  const schema = normalizeObjectInfo(raw);

  test("V3 value types are widgets with their defaults; V3's null fields read as unset", () => {
    const overlay = schema.classes.get("TextOverlay")!;
    expect(overlay.inputs.find((i) => i.name === "color")).toMatchObject({
      kind: "link",
      type: "COLOR",
      value: true,
      default: "#ffffff",
    });
    expect(
      schema.classes.get("ImageCropV2")!.inputs.find((i) => i.name === "crop_region"),
    ).toMatchObject({
      value: true,
      default: { x: 0, y: 0, width: 512, height: 512 },
    });
    expect(schema.classes.get("ImageCropV2")).toMatchObject({
      essentialsCategory: "Image Tools",
      searchAliases: ["crop", "cut", "trim"],
    });
    const curve = schema.classes.get("CurveEditor")!;
    expect(curve.priceBadge).toBeUndefined();
    expect(curve.searchAliases).toBeUndefined();
    expect(curve.essentialsCategory).toBeUndefined();
    expect(schema.warnings).toEqual([]);
  });

  test("generated code takes constants for V3 value inputs and documents the node fields", async () => {
    const { files } = await generate(raw);
    const dts = files.find((f) => f.path === "core.d.ts")!.content;
    expect(dts).toContain('color?: string | Link<"COLOR">;');
    expect(dts).toContain("Essentials: Image Tools.");
    expect(dts).toContain("Also found as: crop, cut, trim.");
    const out = tempDir();
    for (const f of files) writeFileSync(join(out, f.path), f.content);
    writeFileSync(
      join(out, "use.ts"),
      `import { workflow } from "comfyc";
import { CurveEditor, EmptyImageNotHere, ImageCropV2, TextOverlay } from "./core.js";
declare const images: import("comfyc").Output<"IMAGE">;
const wf = workflow();
wf.add(TextOverlay, { images, text: "hi", color: "#ff0000" });
wf.add(ImageCropV2, { image: images, crop_region: { x: 1, y: 2, width: 3, height: 4 } });
wf.add(CurveEditor, { curve: { points: [[0, 0], [1, 1]], interpolation: "linear" } });
// @ts-expect-error a COLOR is a string
wf.add(TextOverlay, { images, text: "hi", color: 5 });
// @ts-expect-error a BOUNDING_BOX has x, y, width and height
wf.add(ImageCropV2, { image: images, crop_region: { x: 1 } });
`.replace("EmptyImageNotHere, ", ""),
    );
    expect(await typecheckDirs([out])).toBe("");
  }, 180_000);
});
