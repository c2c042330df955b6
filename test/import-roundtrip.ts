import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { generate } from "../src/codegen/generate.js";
import { writeGenerated } from "../src/codegen/write.js";
import type { ApiPrompt } from "../src/builder/types.js";
import type { AnyWorkflow } from "../src/builder/define-workflow.js";
import type { NodeSchema } from "../src/schema/ir.js";
import { ROOT } from "./helpers.js";

/** A folder under the repository's tmp/ (so vitest transforms the TypeScript written there). */
export function repoTempDir(prefix: string): string {
  mkdirSync(join(ROOT, "tmp"), { recursive: true });
  return mkdtempSync(join(ROOT, "tmp", prefix));
}

/**
 * Generates the node modules of `objectInfo` into `<dir>/generated`, only `classes` when given
 * (type-checking a few hundred classes costs the tests time and nothing else).
 */
export async function generateInto(
  dir: string,
  objectInfo: unknown,
  classes?: readonly string[],
): Promise<string> {
  const out = join(dir, "generated");
  const { files } = await generate(objectInfo, classes ? { include: [...classes] } : {});
  await writeGenerated(out, files);
  return out;
}

/** Writes an imported module into `dir` and loads its default export. */
export async function loadImported(
  dir: string,
  name: string,
  source: string,
): Promise<AnyWorkflow> {
  const file = join(dir, `${name}.ts`);
  writeFileSync(file, source);
  const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as {
    default: AnyWorkflow;
  };
  return mod.default;
}

/** The `--generated` module path of `generatedDir` as seen from `dir`. */
export function generatedPath(dir: string, generatedDir: string): string {
  const rel = relative(dir, generatedDir).split("\\").join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/**
 * Differences between a compiled prompt and the prompt it was imported from, other than inputs
 * the compile added with the schema's default value (the builder fills those by design).
 */
export function roundTripDifferences(
  source: ApiPrompt,
  compiled: ApiPrompt,
  schema: NodeSchema,
): string[] {
  const out: string[] = [];
  const ids = new Set([...Object.keys(source), ...Object.keys(compiled)]);
  for (const id of ids) {
    const a = source[id];
    const b = compiled[id];
    if (!a || !b) {
      out.push(`node ${id} ${a ? "missing from" : "added by"} the compiled prompt`);
      continue;
    }
    if (a.class_type !== b.class_type)
      out.push(`node ${id}: class ${a.class_type} → ${b.class_type}`);
    if (a._meta?.title !== undefined && a._meta.title !== b._meta?.title)
      out.push(`node ${id}: title ${a._meta?.title} → ${b._meta?.title}`);
    const cls = schema.classes.get(a.class_type);
    for (const key of new Set([...Object.keys(a.inputs), ...Object.keys(b.inputs)])) {
      const x = JSON.stringify(a.inputs[key], bigints);
      const y = JSON.stringify(b.inputs[key], bigints);
      if (x === y) continue;
      const declared = cls?.inputs.find((i) => i.name === key);
      const filled =
        !(key in a.inputs) &&
        declared &&
        "default" in declared &&
        JSON.stringify(declared.default) === y;
      if (!filled) out.push(`node ${id} input ${key}: ${x} → ${y}`);
    }
  }
  return out;
}

const bigints = (_: string, v: unknown) => (typeof v === "bigint" ? `${v}n` : v);

/** Compiles an imported workflow as the round trip needs: every node kept, no validation. */
export function compileAll(wf: AnyWorkflow): ApiPrompt {
  const options = { keepUnreachable: true, validate: false } as const;
  return "paramsJsonSchema" in wf ? wf.compile({}, options) : wf.compile(options);
}
