import { stringifyJson } from "../protocol/json.js";
import { createRequire } from "node:module";
import type Picomatch from "picomatch";
import { ComfycError } from "../errors.js";
import {
  CanonicalObjectHash,
  canonicalJsonOfData,
  compareCodeUnits,
} from "../schema/canonical-json.js";
import type { NodeInfo } from "../protocol/object-info.js";
import type { NodeClassIR, NodeSchema, SchemaWarning } from "../schema/ir.js";
import { isWellFormedNodeInfo } from "../protocol/object-info-fast.js";
import { normalizeNodeClassesWith, type NodeInfoParser } from "../schema/normalize-node.js";
import {
  emitIndexModule,
  emitPackDeclarations,
  emitPackImplementation,
  headerComment,
  packFileNames,
} from "./emit/module.js";
import { assignClassNames } from "./emit/names.js";
import { printSourceFile, printSourceParts } from "./print.js";
import type { Statement } from "./statements.js";
import { FilesHash, generationRecord } from "./up-to-date.js";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Globs matched against pack names and class types; a class must match one (default: all). */
  readonly include?: readonly string[];
  /** Globs matched against pack names and class types; matching classes are left out. */
  readonly exclude?: readonly string[];
  /** Type combos as their options plus any string. */
  readonly looseCombos?: boolean;
  /** Where the object_info came from, for error messages. */
  readonly source?: string;
}

/** One file of the output, with a path relative to the output folder. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

/** The parts of each file made by {@link generateFiles}, before they are joined. */
const printedParts = new WeakMap<GeneratedFile, readonly string[]>();

/**
 * A generated file whose `content` is joined from `parts` when first read: `writeGenerated`
 * writes the parts of a new file as they are ({@link partsOf}) and never joins them.
 */
function printedFile(path: string, parts: readonly string[]): GeneratedFile {
  let content: string | undefined;
  const file = {
    path,
    get content() {
      return (content ??= parts.join(""));
    },
  };
  printedParts.set(file, parts);
  return file;
}

/** The parts whose concatenation is `file.content`, for a file `generateFiles` made. */
export function partsOf(file: GeneratedFile): readonly string[] | undefined {
  return printedParts.get(file);
}

/** What {@link generate} produced. */
export interface GenerateResult {
  readonly files: readonly GeneratedFile[];
  readonly schema: NodeSchema;
  /** Classes written, after include/exclude. */
  readonly classes: readonly NodeClassIR[];
  readonly warnings: readonly SchemaWarning[];
}

/**
 * Generates the typed node modules for an object_info: per node pack a declaration file
 * (`core.d.ts`: the types and docs) and its implementation (`core.js`: the `defineNode` calls),
 * plus an index. Declarations in `.d.ts` keep type-checking flat as the schema grows: `tsc`
 * reads only the types a workflow uses instead of checking every class.
 * Pure: nothing is written (see `writeGenerated`). The same input always gives byte-identical
 * files.
 *
 * @example
 * const { files } = await generate(JSON.parse(readFileSync("object_info.json", "utf8")));
 */
export async function generate(
  objectInfo: unknown,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const result = await generateFiles(objectInfo, options);
  return { ...result, files: [...result.files] };
}

/**
 * {@link generate} with the files made one at a time as they are iterated, so a caller that
 * writes each as it comes (`writeGenerated`) never holds the whole output: megabytes of text on
 * a big schema. Iterate the files once.
 */
export async function generateFiles(
  objectInfo: unknown,
  options: GenerateOptions = {},
): Promise<Omit<GenerateResult, "files"> & { readonly files: Iterable<GeneratedFile> }> {
  const { classes, warnings } = normalizeNodeClassesWith(
    objectInfo,
    options.source ?? "object_info",
    await nodeInfoParser(objectInfo),
  );
  const raw = objectInfo as Record<string, unknown>;
  const selected = selectClasses([...classes.values()], options);
  if (selected.length === 0) {
    throw new ComfycError(
      "USAGE",
      `No node class matches the include/exclude patterns (${classes.size} classes in the schema)`,
      "Patterns match pack names (core, comfyui-kjnodes, …) and class types (KSampler*).",
    );
  }
  const names = assignClassNames(selected);
  const byPack = new Map<string, NodeClassIR[]>();
  for (const node of selected) {
    const list = byPack.get(node.pack);
    if (list) list.push(node);
    else byPack.set(node.pack, [node]);
  }
  const packs = [...byPack.keys()].sort(compareCodeUnits);
  // Each class is serialized canonically once, for the schema's hash and its pack's, and its
  // text let go at once: holding every class's text until the end was megabytes of peak memory.
  const schemaHash = new CanonicalObjectHash();
  const packHashes = new Map(packs.map((pack) => [pack, new CanonicalObjectHash()]));
  const packOf = new Map(selected.map((n) => [n.classType, n.pack]));
  // Classes the native JSON.stringify writes exactly (no 64-bit limit, NaN or infinity), as
  // that walk finds: their embedded JSON needs no second, Python-faithful walk.
  const exactJson = new Set<string>();
  // The default sort compares UTF-16 code units, as compareCodeUnits does.
  for (const classType of Object.keys(raw).sort()) {
    const { json, exact } = canonicalJsonOfData(raw[classType]);
    schemaHash.add(classType, json);
    const pack = packOf.get(classType);
    if (pack !== undefined) {
      packHashes.get(pack)!.add(classType, json);
      if (exact) exactJson.add(classType);
    }
  }
  const schema: NodeSchema = { classes, warnings, hash: schemaHash.digest() };
  const emitOptions = { looseCombos: options.looseCombos === true };
  function* files(): Generator<GeneratedFile> {
    // The index records a hash of the pack files, taken as they go by.
    const packFiles = new FilesHash();
    const file = (path: string, header: string, statements: Iterable<Statement>) => {
      const parts = printSourceParts(header, statements);
      packFiles.add(path, parts);
      return printedFile(path, parts);
    };
    for (const pack of packs) {
      const nodes = byPack.get(pack)!;
      const header = headerComment(packHashes.get(pack)!.digest());
      const paths = packFileNames(pack);
      yield file(paths.declarations, header, emitPackDeclarations(nodes, names, emitOptions));
      yield file(
        paths.implementation,
        header,
        emitPackImplementation(nodes, names, (c) => specJson(raw[c], exactJson.has(c))),
      );
    }
    const indexHeader = headerComment(schema.hash, generationRecord(options, packFiles.digest()));
    // The index is the same text in both files (re-exports only): printed once.
    const index = printSourceFile(indexHeader, emitIndexModule(packs));
    yield { path: "index.d.ts", content: index };
    yield { path: "index.js", content: index };
  }
  return { files: files(), schema, classes: selected, warnings };
}

/**
 * The node-info check for this object_info: zod's schema (loaded now) when some node is not
 * plainly well formed; when every node is (the usual case), that they are, without loading zod.
 */
async function nodeInfoParser(objectInfo: unknown): Promise<NodeInfoParser> {
  if (
    objectInfo !== null &&
    typeof objectInfo === "object" &&
    Object.values(objectInfo).every(isWellFormedNodeInfo)
  ) {
    return (value) => ({ success: true, data: value as NodeInfo });
  }
  return (await import("../protocol/object-info.js")).safeParseNodeInfo;
}

/** Applies include/exclude globs to pack names and class types. */
export function selectClasses(
  nodes: readonly NodeClassIR[],
  options: Pick<GenerateOptions, "include" | "exclude">,
): NodeClassIR[] {
  // `bash` makes `*` also match `/`, which appears in class types such as "KSampler //Inspire".
  // picomatch (CommonJS) is loaded only when there are globs to match.
  const compile = (globs: readonly string[] | undefined) =>
    globs && globs.length
      ? (createRequire(import.meta.url)("picomatch") as typeof Picomatch)([...globs], {
          bash: true,
          dot: true,
        })
      : undefined;
  const include = compile(options.include);
  const exclude = compile(options.exclude);
  return nodes.filter((n) => {
    const matches = (m: (s: string) => boolean) => m(n.pack) || m(n.classType);
    return (!include || matches(include)) && !(exclude && matches(exclude));
  });
}

/** Node-info keys the builder never reads; left out of the embedded JSON to keep modules small. */
const UNUSED_KEYS = new Set([
  "description",
  "category",
  "search_aliases",
  "price_badge",
  "essentials_category",
  "output_tooltips",
  "output_matchtypes",
  "name",
  "dev_only",
]);

/**
 * The JSON text embedded in a factory: the node info minus what only documentation uses.
 * `exact`: the native `JSON.stringify` writes the node info exactly (see `canonicalJsonOfData`).
 */
function specJson(info: unknown, exact: boolean): string {
  // A shallow copy without entry arrays; an own `__proto__` key is defined, not assigned (which
  // would set the copy's prototype and drop the key from the JSON).
  const from = info as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const k in from) {
    if (!Object.hasOwn(from, k) || UNUSED_KEYS.has(k)) continue;
    if (k === "__proto__") {
      Object.defineProperty(kept, k, { value: from[k], enumerable: true, writable: true });
    } else kept[k] = from[k];
  }
  // Exact: a lossless schema's 64-bit limits are embedded digit for digit.
  return exact ? JSON.stringify(kept) : stringifyJson(kept);
}
