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

/**
 * A file {@link generateFiles} makes: its text is printed statement by statement as a writer
 * reads its parts ({@link partsOf}), each part hashed (for the index's record of the pack files)
 * and then let go. Holding a pack's printed statements until the file was written made them all
 * survive V8's young generation: on the 1,686-class dump, a hundred scavenges copying megabytes
 * of text, a fifth of a cold `comfyc codegen`. Read `content` instead, and the parts are kept
 * and joined.
 */
class PrintedFile implements GeneratedFile {
  readonly path: string;
  /** The parts not printed yet; undefined once all are. */
  #pending: Iterator<string> | undefined;
  /** Parts printed for `content` (or by {@link finish}) and not yet joined. */
  #printed: string[] = [];
  #content: string | undefined;
  /** Whether {@link stream} handed the parts out (and so kept none). */
  #streamed = false;

  constructor(path: string, parts: Iterable<string>) {
    this.path = path;
    this.#pending = parts[Symbol.iterator]();
  }

  get content(): string {
    if (this.#content === undefined) {
      if (this.#streamed)
        throw new Error(`${this.path}: content read after its parts were written`);
      this.#keepPending();
      this.#content = this.#printed.join("");
      this.#printed = [];
    }
    return this.#content;
  }

  /**
   * The parts whose concatenation is `content`: printed as they are read, and then not kept,
   * unless they were printed already (`content` read, or a caller that held the files).
   */
  *stream(): Generator<string> {
    if (this.#content !== undefined) {
      yield this.#content;
      return;
    }
    if (this.#pending === undefined) {
      yield* this.#printed;
      return;
    }
    this.#streamed = true;
    const pending = this.#pending;
    for (;;) {
      let r: IteratorResult<string>;
      try {
        r = pending.next();
      } catch (e) {
        if (typeof e === "object" && e !== null) generationFailures.add(e);
        throw e;
      }
      if (r.done) break;
      yield r.value;
    }
    this.#pending = undefined;
  }

  /**
   * Prints what no reader took (kept for `content`, unless the parts were streamed), so the
   * file's hash is complete before the next file's starts.
   */
  finish(): void {
    if (this.#streamed) {
      const pending = this.#pending;
      if (pending === undefined) return;
      while (!pending.next().done);
      this.#pending = undefined;
    } else this.#keepPending();
  }

  #keepPending(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    for (let r = pending.next(); !r.done; r = pending.next()) this.#printed.push(r.value);
    this.#pending = undefined;
  }
}

/** Errors thrown while printing a streamed file's parts (see {@link isGenerationFailure}). */
const generationFailures = new WeakSet<object>();

/**
 * Whether `error` was thrown by printing a file's parts as a writer read them ({@link partsOf}):
 * a failure of making the file, not of writing it.
 */
export function isGenerationFailure(error: unknown): boolean {
  return typeof error === "object" && error !== null && generationFailures.has(error);
}

/**
 * The parts whose concatenation is `file.content`, for a file `generateFiles` made, printed as
 * they are read: read them once, and not `content` afterwards.
 */
export function partsOf(file: GeneratedFile): Iterable<string> | undefined {
  return file instanceof PrintedFile ? file.stream() : undefined;
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
 * a big schema. Iterate the files once; a file's text is printed as `writeGenerated` writes it
 * and not kept, so read a file's `content` before it is written, if at all.
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
    function* hashed(path: string, parts: Iterable<string>): Generator<string> {
      packFiles.begin(path);
      for (const part of parts) {
        packFiles.part(part);
        yield part;
      }
      packFiles.end();
    }
    // Each file is printed to its end before the next one starts, so the hash takes them in order.
    let previous: PrintedFile | undefined;
    const file = (path: string, header: string, statements: Iterable<Statement>) => {
      previous?.finish();
      return (previous = new PrintedFile(path, hashed(path, printSourceParts(header, statements))));
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
    previous?.finish();
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
