import type { ValidationResult } from "../schema/validate.js";

/**
 * One output slot of a node in a workflow: compiles to the link `["<nodeId>", <index>]`. The
 * `type` field keeps `Output<"IMAGE">` and `Output<"LATENT">` distinct, so wiring an output into
 * an input of another type is a compile error.
 */
export interface Output<T extends string = string> {
  readonly nodeId: string;
  readonly index: number;
  readonly type: T;
}

/**
 * What an input of socket type `T` accepts: an output of that type, or of type `"*"` (outputs
 * of reroute-like and MatchType nodes, which ComfyUI matches with any input).
 */
export type Link<T extends string> = Output<T> | Output<"*">;

/** Members every node handle has; generated handle interfaces add one property per output. */
export interface NodeHandle {
  /** The node's id in the compiled prompt. */
  readonly nodeId: string;
  /** The node's `class_type`. */
  readonly classType: string;
}

// The UI output shapes are wire shapes: defined once in protocol/, with the schemas that check them.
export type {
  UiAnimated,
  UiAudio,
  UiFile,
  UiImages,
  UiLatents,
  UiText,
} from "../protocol/ui-outputs.js";

/**
 * A node class usable with `wf.add()`: generated code creates one per `/object_info` entry with
 * `defineNode()`. `I` is the inputs interface and `H` the handle `wf.add()` returns.
 */
export interface NodeClass<I, H extends NodeHandle> {
  readonly classType: string;
  /** Phantom members carrying the types; never set at runtime. */
  readonly __inputs?: I;
  readonly __handle?: H;
}

/** Options of one `wf.add()` call. */
export interface AddOptions {
  /** The node id in the compiled prompt (default: the next free number in creation order). */
  readonly id?: string;
  /** `_meta.title` (default: the class's display name). */
  readonly title?: string;
}

/** Options of `wf.$raw()`. */
export interface RawAddOptions extends AddOptions {
  /**
   * Whether this class is an output node. Unknown by default: a raw node is then kept when
   * compiling, with its ancestors, since it may be one.
   */
  readonly outputNode?: boolean;
}

/** Handle of a node added with `wf.$raw()`: untyped outputs addressed by index. */
export interface RawNodeHandle extends NodeHandle {
  /** The output at `index`, untyped: it can be wired into any input. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  output(index: number): Output<any>;
}

/** A constant or link in an API-format prompt. Bigints are written as JSON integers. */
export type PromptValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | readonly [string, number]
  | { readonly __value__: unknown }
  | { readonly [key: string]: unknown };

/** One node of an API-format prompt (protocol §4). */
export interface PromptNode {
  class_type: string;
  inputs: Record<string, PromptValue>;
  _meta?: { title?: string };
}

/** An API-format prompt: node id → node, as `POST /prompt` takes it. */
export type ApiPrompt = Record<string, PromptNode>;

/** Where in the user's code a node was created. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** A node `compile()` left out because no output node depends on it. */
export interface DroppedNode {
  readonly nodeId: string;
  readonly classType: string;
  readonly title: string;
  readonly source?: SourceLocation;
}

/** Everything `compile()` knows about the result, for tools that report on it. */
export interface CompileReport {
  readonly prompt: ApiPrompt;
  /** Nodes left out (or, with `keepUnreachable`, kept) that feed no output node. */
  readonly unreachable: readonly DroppedNode[];
  /** Where each node of the prompt was created. */
  readonly sources: ReadonlyMap<string, SourceLocation>;
  /**
   * Ids of the prompt's output nodes (classes the schema marks `output_node`), known whether or
   * not validation ran: the runtime completes a job from its socket events once each reported.
   */
  readonly outputs: readonly string[];
  /** The validation result, unless validation was turned off. */
  readonly validation?: ValidationResult;
}

/**
 * A local file (or bytes) given to an upload input such as `LoadImage.image`. The runtime
 * uploads it at submission under a content-hash name and writes that name into the prompt.
 */
export interface UploadSource {
  readonly __comfycUpload: {
    readonly path?: string;
    readonly bytes?: Uint8Array;
    /** File name used for the extension and in messages. */
    readonly name: string;
  };
}
