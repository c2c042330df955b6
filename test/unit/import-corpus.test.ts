import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { convertWorkflow } from "../../src/import/convert.js";
import { normalizeObjectInfo } from "../../src/schema/normalize.js";
import type { NodeSchema } from "../../src/schema/ir.js";
import { HAS_SHARED_DATA, SHARED_DATA } from "../helpers.js";
import { sharedUnionObjectInfo } from "../import-helpers.js";

/**
 * Every UI workflow of `../shared/data` converted and compared with what ComfyUI's own editor
 * queued for it (`../shared/data/workflows/ui-converted`, frontend v1.45.0). Runs when
 * `../shared` is beside the repository.
 */
const UI = join(SHARED_DATA, "workflows", "ui");
const CONVERTED = join(SHARED_DATA, "workflows", "ui-converted");
// One line for all corpus sweeps says when they are skipped (test/shared.setup.ts).
const present = HAS_SHARED_DATA;

/** The editor's node definitions: ComfyUI 0.33.0's own, then the dumps in the order it used. */
function editorSchema(): NodeSchema {
  return normalizeObjectInfo(sharedUnionObjectInfo(SHARED_DATA), "editor union");
}

/**
 * Files whose editor output is not the reference, with the reason. The editor in the harness
 * runs without node packs' own editor code, and v1.45 mis-maps legacy group-node widgets.
 */
const NOT_REFERENCE: Record<string, string> = {
  "ui_fe_legacy_group_node.json":
    'v1.45 lays the group\'s 17 values onto its inner widgets shifted (noise_seed "enable", steps "randomize"); we split them per inner node (§5.5)',
};

type ApiNode = { class_type?: string; inputs?: Record<string, unknown> };

describe.skipIf(!present)(
  "UI workflows of ../shared/data against the editor's own conversion",
  () => {
    const files = present
      ? readdirSync(UI)
          .filter((f) => f.endsWith(".json"))
          .sort()
      : [];
    const schema = present ? editorSchema() : undefined;

    test.each(files.filter((f) => !(f in NOT_REFERENCE)))("%s", (file) => {
      const doc = JSON.parse(readFileSync(join(UI, file), "utf8")) as {
        nodes: { id: number; type: string; widgets_values?: unknown }[];
      };
      const { prompt } = convertWorkflow(doc, schema!);
      const editor = JSON.parse(readFileSync(join(CONVERTED, file), "utf8")) as Record<
        string,
        ApiNode
      >;
      // Explained differences, each a rule:
      // - the editor keeps nodes of classes it does not know without class_type (placeholders,
      //   incl. KJNodes Set/Get and Impact components, whose pack code the harness lacks), and
      //   links into them; we keep their class and resolve Set/Get;
      // - VideoHelperSuite's object-form widgets_values needs that pack's editor code;
      // - `audioUI` is the editor's audio player widget (ignored by the server);
      // - `_meta.title` comes from the editor's bundled locale.
      const placeholders = new Set(
        Object.entries(editor)
          .filter(([, n]) => !n.class_type)
          .map(([id]) => id),
      );
      const objectForm = new Set(
        doc.nodes
          .filter((n) => n.widgets_values && !Array.isArray(n.widgets_values))
          .map((n) => String(n.id)),
      );
      const linksToPlaceholder = (v: unknown) => Array.isArray(v) && placeholders.has(String(v[0]));
      for (const [id, node] of Object.entries(editor)) {
        if (placeholders.has(id) || objectForm.has(id)) continue;
        expect(prompt[id]?.class_type, `${file} node ${id}`).toBe(node.class_type);
        const keep = (entries: [string, unknown][]) =>
          Object.fromEntries(
            entries.filter(
              ([k, v]) =>
                k !== "audioUI" &&
                !linksToPlaceholder(editor[id]!.inputs?.[k]) &&
                !linksToPlaceholder(v),
            ),
          );
        const theirs = keep(Object.entries(node.inputs ?? {}));
        const ours = keep(
          Object.entries(prompt[id]!.inputs).filter(([k]) => !linksToPlaceholder(node.inputs?.[k])),
        );
        expect(ours, `${file} node ${id}`).toEqual(theirs);
      }
      // Nothing the editor emits is missing, and we emit nothing it does not (apart from
      // placeholders of unknown classes, which we keep as the editor does).
      expect(Object.keys(prompt).sort(), file).toEqual(
        Object.keys(editor)
          .filter((id) => !placeholders.has(id) || id in prompt)
          .sort(),
      );
    });
  },
);
