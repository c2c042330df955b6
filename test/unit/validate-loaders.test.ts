import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseJsonLossless } from "../../src/protocol/json.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import { validatePrompt } from "../../src/schema/validate.js";
import { BUNDLED_SCHEMA, readJson } from "../helpers.js";

/**
 * The offline validator on the image loaders' `VALIDATE_INPUTS` raising (nodes.py), against what
 * the real 0.3.64 and 0.33.0 answered (`test/fixtures/testing/edge-answers.json`, recorded by the
 * .py beside it). Offline the files are unknown, but what the check raises before it looks is
 * not: the same `node_errors`, except the traceback, which the validator does not write.
 */

interface Recorded {
  readonly request: { readonly body?: string };
  readonly status: number;
  readonly body: { error: unknown; node_errors: Record<string, { errors: unknown[] }> };
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/testing/edge-answers.json", import.meta.url), "utf8"),
) as Record<string, Record<string, Recorded>>;
const schema = normalizeObjectInfo(readJson(BUNDLED_SCHEMA));

const cases = Object.entries(fixture).flatMap(([version, byCase]) =>
  Object.entries(byCase)
    .filter(([name]) => name.startsWith("Load"))
    .map(([name, real]) => [version, name, real] as const),
);

/** The real answer with each validation traceback emptied, as the validator writes it. */
function withoutFrames(real: Recorded["body"]): Recorded["body"] {
  const copy = structuredClone(real);
  for (const entry of Object.values(copy.node_errors))
    for (const e of entry.errors as { extra_info: Record<string, unknown> }[])
      if ("traceback" in e.extra_info) e.extra_info["traceback"] = [];
  return copy;
}

describe("validatePrompt: what an image loader's VALIDATE_INPUTS raises", () => {
  test("every release has the loader cases", () => {
    expect(cases.filter(([v]) => v === "0.3.64")).toHaveLength(9);
    expect(cases.filter(([v]) => v === "0.33.0")).toHaveLength(9);
  });

  test.each(cases)("%s: %s", (version, _name, real) => {
    const body = parseJsonLossless(real.request.body!) as { prompt: unknown };
    const r = validatePrompt(body.prompt, schema, { comfyuiVersion: version });
    expect(real.status).toBe(400);
    expect({ error: r.error, node_errors: r.nodeErrors }).toEqual(withoutFrames(real.body));
  });

  test("a file name passes offline (the server's files are unknown here)", () => {
    const r = validatePrompt(
      {
        "1": { class_type: "LoadImageOutput", inputs: { image: "never-uploaded.png [output]" } },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      },
      schema,
    );
    expect(r.valid).toBe(true);
  });

  test("a value the caller uploads first (pendingUpload) counts as a file name", () => {
    const marker = { __comfycUpload: { path: "/tmp/x.png", name: "x.png" } };
    const prompt = {
      "1": { class_type: "LoadImage", inputs: { image: marker } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    };
    expect(validatePrompt(prompt, schema).valid).toBe(false);
    const r = validatePrompt(prompt, schema, { pendingUpload: (v) => v === marker });
    expect(r.valid).toBe(true);
  });

  test("an explicit custom validator replaces the built-in check", () => {
    const r = validatePrompt(
      {
        "1": { class_type: "LoadImage", inputs: { image: 5 } },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      },
      schema,
      { customValidators: { LoadImage: { inputs: ["image"], check: () => true } } },
    );
    expect(r.valid).toBe(true);
  });
});
