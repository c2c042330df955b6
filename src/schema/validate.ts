import { comfyuiRules, type ComfyuiRules } from "../protocol/comfyui-version.js";
import type { ErrorObj, NodeErrors } from "../protocol/prompt.js";
import { exactLimit } from "../protocol/integers.js";
import { noteFloat, writtenAsFloat } from "../protocol/json.js";
import { PyException, pyBoolOf, pyFloatOf, pyIntOf, pyStrOf, pyTypeName } from "./coerce.js";
import type { InputConfig, InputIR, NodeClassIR, NodeSchema } from "./ir.js";
import { pyFloat, pyInt, pyRepr, pyStr } from "./python-format.js";

/**
 * A prompt checked against a schema with ComfyUI's own rules (protocol §5): the order of
 * checks, value coercion, type matching, combo membership, min/max, required inputs, links to
 * missing nodes or outputs. Errors come back in the exact shape of a `/prompt` rejection, so
 * local and server rejections share one code path.
 */

/** What a node class looks like to the validator: the normalized class, identifier optional. */
export type ValidatorClass = Omit<NodeClassIR, "identifier">;

/** Looks a class up by `class_type`. */
export type ClassLookup = (classType: string) => ValidatorClass | undefined;

/**
 * A node's custom validator (`VALIDATE_INPUTS`): the inputs it declares, which the server then
 * does not range- or membership-check, and an optional check of their values as the server passes
 * them (`get_input_data` in execution.py: a link is `null`, an input not given is absent). `true`
 * passes; a string is the reason it failed; a thrown `PyException` is an exception raised inside
 * `VALIDATE_INPUTS`, reported as the server reports one (`exception_during_inner_validation` on
 * the node, from the node that links to it).
 */
export interface CustomValidator {
  readonly inputs: readonly string[];
  readonly check?: (values: Readonly<Record<string, unknown>>) => true | string;
}

/** Classes whose `VALIDATE_INPUTS(s, image)` checks `folder_paths.exists_annotated_filepath`. */
const IMAGE_LOADERS: ReadonlySet<string> = new Set([
  "LoadImage",
  "LoadImageMask",
  "LoadImageOutput",
]);

/**
 * The `image` argument of LoadImage's, LoadImageMask's or LoadImageOutput's `VALIDATE_INPUTS`
 * (nodes.py) up to the file lookup, raising what the real release raises first
 * (observed on 0.3.64 and 0.33.0):
 * - no `image` given: `TypeError` `LoadImage.VALIDATE_INPUTS() missing 1 required positional
 *   argument: 'image'` (LoadImageMask names itself before 0.33.0, where it has a method of its own;
 *   the release that made it a LoadImage subclass is not dated, so releases between take 0.3.64's,
 *   as for `tracebackFrames0330`);
 * - an `image` that is not a str (a number, a list, `null` for a link): `AttributeError`
 *   `'int' object has no attribute 'endswith'`, from `folder_paths.annotated_filepath` (`'float'`
 *   for a number written as a float, `writtenAsFloat(values, "image")`).
 *
 * @returns the file reference (`"name.png [output]"`), for the caller to look up.
 * @throws PyException as above.
 */
export function imageLoaderArgument(
  classType: string,
  values: Readonly<Record<string, unknown>>,
  rules: ComfyuiRules,
): string {
  if (!("image" in values)) {
    const owner =
      classType === "LoadImageMask" && !rules.has("tracebackFrames0330") ? classType : "LoadImage";
    throw new PyException(
      "TypeError",
      `${owner}.VALIDATE_INPUTS() missing 1 required positional argument: 'image'`,
    );
  }
  const image = values["image"];
  if (typeof image !== "string")
    throw new PyException(
      "AttributeError",
      `'${pyTypeName(image, writtenAsFloat(values, "image"))}' object has no attribute 'endswith'`,
    );
  return image;
}

/** Options of {@link validatePrompt}. */
export interface ValidateOptions {
  /**
   * The ComfyUI release to behave like (`"0.3.64"`, `"0.33.0"`), or its rules from
   * `comfyuiRules()`. Each rule applies from the release that brought it (`COMFYUI_BEHAVIOURS`);
   * unset means `NEWEST_COMFYUI_VERSION`. A string that is not a release number throws
   * `ComfyuiVersionError` (code `USAGE`; `parseComfyuiVersion`: a leading `v` is fine, a
   * pre-release or partial number is not). A release newer than `NEWEST_COMFYUI_VERSION` gets the
   * newest rules, one older than `OLDEST_COMFYUI_VERSION` the oldest's, with one process warning
   * per version (`noteComfyuiVersion`).
   */
  readonly comfyuiVersion?: string | ComfyuiRules;
  /** `partial_execution_targets`: only these output nodes count. */
  readonly partialExecutionTargets?: readonly string[];
  /**
   * Classes absent from the schema that are accepted without checks (the builder's `$raw`
   * nodes); links from them are not type-checked.
   */
  readonly opaqueClasses?: ReadonlySet<string>;
  /**
   * Custom validators by class type. Without one, inputs whose values are files uploaded to
   * the server (`image_upload` and friends, `remote` lists) are treated as covered by one, as
   * `LoadImage`'s are: not membership-checked, because offline the file list is unknown.
   */
  readonly customValidators?: Readonly<Record<string, CustomValidator>>;
  /**
   * Values that stand for a file the caller uploads before it sends the prompt (the builder's
   * `localFile()` and `fileBytes()` markers): an image loader's built-in check takes them as the
   * file name they will become, not as the object they are now.
   */
  readonly pendingUpload?: (value: unknown) => boolean;
}

/** The outcome: `valid` means ComfyUI would queue the prompt (a 200). */
export interface ValidationResult {
  readonly valid: boolean;
  /** The top-level error of the 400 reply, when not valid. */
  readonly error?: ErrorObj;
  /**
   * Errors per node; may be non-empty on a valid prompt (some outputs were dropped). An
   * exception raised while validating (`exception_during_validation`,
   * `exception_during_inner_validation`) has `extra_info.traceback: []`: the server's frames
   * name files under its install directory and its release's line numbers, neither of which is
   * known offline (line numbers are recorded for 0.3.64 and 0.33.0 only). The test server, which
   * has both, writes the release's frames (`comfyc/testing`).
   */
  readonly nodeErrors: NodeErrors;
  /** Output node ids that passed validation and will run. */
  readonly outputs: readonly string[];
  /**
   * The prompt after ComfyUI's coercion (what executes and what history stores). A new object;
   * nodes whose values coercion changed are copies, the others are the given prompt's own
   * node objects (not copied, for speed): treat it as read-only.
   */
  readonly prompt: Record<string, unknown>;
}

/** A lookup over a normalized schema. */
export function schemaLookup(schema: NodeSchema): ClassLookup {
  return (classType) => schema.classes.get(classType);
}

type Verdict = readonly [valid: boolean, errors: ErrorObj[]];

/**
 * One node's `validate_inputs` in progress: what its loop over the inputs needs to stop at a link
 * to a node not validated yet and go on once that node's verdict is known (see Context.validate).
 */
class NodeFrame {
  /** The index in `declared` of the next input to check (or of the pending link). */
  next = 0;
  valid = true;
  readonly errors: ErrorObj[] = [];
  /** The node's `inputs`: {@link given} until a coercion copies them. */
  inputs: Record<string, unknown>;

  constructor(
    readonly id: string,
    /** The node's `inputs` as given: read until a coercion writes (then {@link inputs}). */
    readonly given: Record<string, unknown>,
    readonly custom: CustomValidator | undefined,
    readonly declared: readonly Declared[],
    readonly shortMissing: boolean,
  ) {
    this.inputs = given;
  }
}

interface Declared {
  readonly key: string;
  readonly input: InputIR;
  readonly required: boolean;
}

/** Validates `prompt` the way `POST /prompt` does. Never throws for bad prompts. */
export function validatePrompt(
  prompt: unknown,
  lookup: ClassLookup | NodeSchema,
  options: ValidateOptions = {},
): ValidationResult {
  const find = typeof lookup === "function" ? lookup : schemaLookup(lookup);
  const rules = comfyuiRules(options.comfyuiVersion, { source: "comfyuiVersion" });
  const coerced: Record<string, unknown> =
    prompt !== null && typeof prompt === "object" && !Array.isArray(prompt)
      ? shallowCopy(prompt as Record<string, unknown>)
      : {};
  const reject = (error: ErrorObj): ValidationResult => ({
    valid: false,
    error,
    nodeErrors: {},
    outputs: [],
    prompt: coerced,
  });

  // 1. Node-level pass: class_type present and registered; collect output nodes.
  const outputs: string[] = [];
  const targets = options.partialExecutionTargets
    ? new Set(options.partialExecutionTargets)
    : undefined;
  for (const [id, node] of Object.entries(coerced)) {
    const obj =
      node !== null && typeof node === "object" && !Array.isArray(node)
        ? (node as Record<string, unknown>)
        : undefined;
    if (!obj || !("class_type" in obj)) {
      // execution.py: `node_data.get('_meta', {}).get('title')`, shown only when truthy.
      const title = metaOf(obj)["title"];
      return reject(
        !rules.has("missingNodeType")
          ? pyError(
              "invalid_prompt",
              "Cannot execute because a node is missing the class_type property.",
              `Node ID '#${id}'`,
            )
          : pyError(
              "missing_node_type",
              `Node '${pyBoolOf(title) ? pyStr(title) : `ID #${id}`}' has no class_type. The workflow may be corrupted or a custom node is missing.`,
              `Node ID '#${id}'`,
              { node_id: id, class_type: null, node_title: title ?? null },
            ),
      );
    }
    const classType = obj["class_type"];
    const cls = typeof classType === "string" ? find(classType) : undefined;
    if (!cls) {
      if (typeof classType === "string" && options.opaqueClasses?.has(classType)) continue;
      // execution.py: `.get('title', class_type)`: a present title wins, whatever its value.
      const meta = metaOf(obj);
      const title = "title" in meta ? meta["title"] : classType;
      return reject(
        !rules.has("missingNodeType")
          ? pyError(
              "invalid_prompt",
              `Cannot execute because node ${pyStr(classType)} does not exist.`,
              `Node ID '#${id}'`,
            )
          : pyError(
              "missing_node_type",
              `Node '${pyStr(title)}' not found. The custom node may not be installed.`,
              `Node ID '#${id}'`,
              { node_id: id, class_type: classType ?? null, node_title: title ?? null },
            ),
      );
    }
    if (cls.outputNode && (!targets || targets.has(id))) outputs.push(id);
  }
  if (outputs.length === 0)
    return reject(pyError("prompt_no_outputs", "Prompt has no outputs", ""));

  // 2. Per-output recursive validation, memoised per node id.
  const ctx = new Context(coerced, find, rules, options);
  const good: string[] = [];
  const failed: [string, ErrorObj[]][] = [];
  const nodeErrors: NodeErrors = {};
  for (const o of outputs) {
    let verdict: Verdict;
    try {
      verdict = ctx.validate(o);
    } catch (e) {
      const ex = asPyException(e);
      verdict = [
        false,
        [
          pyError("exception_during_validation", "Exception when validating node", ex.message, {
            exception_type: ex.type,
            traceback: [],
          }),
        ],
      ];
      ctx.memo.set(o, verdict);
    }
    if (verdict[0]) {
      good.push(o);
      continue;
    }
    failed.push([o, verdict[1]]);
    // ComfyUI appends the failed output to every node with errors known so far (§5.1).
    for (const [nodeId, [valid, errors]] of ctx.memo) {
      if (valid || errors.length === 0) continue;
      nodeErrors[nodeId] ??= {
        errors,
        dependent_outputs: [],
        class_type: String((coerced[nodeId] as { class_type?: unknown })?.class_type),
      };
      nodeErrors[nodeId].dependent_outputs.push(o);
    }
  }
  if (good.length === 0) {
    const details = failed
      .flatMap(([, errors]) => errors.map((e) => `${e.message}: ${e.details}`))
      .join("\n");
    return {
      valid: false,
      error: pyError(
        "prompt_outputs_failed_validation",
        "Prompt outputs failed validation",
        details,
      ),
      nodeErrors,
      outputs: [],
      prompt: coerced,
    };
  }
  return { valid: true, nodeErrors, outputs: good, prompt: coerced };
}

/**
 * The copy of a prompt that validation coerces, copy on write: validation only ever replaces a
 * node's `inputs` or one of its values, so the nodes are shared until one is written to
 * ({@link Context.own} copies that node and its `inputs` first). Copying every node up front
 * cost a sixth of validating a 1,000-node prompt whose values need no coercion.
 */
function shallowCopy(prompt: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const id of Object.keys(prompt)) setOwn(out, id, prompt[id]);
  return out;
}

/**
 * `object[key] = value`, where a key `__proto__` stays an own key; other keys are plain stores
 * (defining each property would turn a 1,000-node copy into a slow dictionary).
 */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else object[key] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A node's `_meta` object, or `{}` (Python's `.get('_meta', {})`). */
function metaOf(node: Record<string, unknown> | undefined): Record<string, unknown> {
  const meta = node?.["_meta"];
  return meta !== null && typeof meta === "object" && !Array.isArray(meta)
    ? (meta as Record<string, unknown>)
    : {};
}

function pyError(
  type: string,
  message: string,
  details: string,
  extra: Record<string, unknown> = {},
): ErrorObj {
  return { type, message, details, extra_info: extra };
}

function asPyException(e: unknown): PyException {
  if (e instanceof PyException) return e;
  if (e instanceof RangeError)
    return new PyException(
      "RecursionError",
      "maximum recursion depth exceeded while calling a Python object",
    );
  throw e;
}

/**
 * Where Python's recursion limit (1000 frames, the server's own frames included) stops
 * `validate_inputs`, in link depths below an output (the output is depth 1). Validating a node at
 * depth `raiseAt` raises `RecursionError`; each `except` on the way up calls
 * `traceback.format_tb`, which needs six more frames and so raises again, until the handler at
 * depth `caughtAt` records `exception_during_inner_validation` on the node below it. Nodes between
 * keep no verdict. Measured with chains of ImageInvert against the real releases (a chain of
 * 983 inverts passes on 0.3.64, 984 fails at depth 981; 981 and 982 on 0.33.0). The first
 * validation after start-up may land a few links higher (Python then reads its source files for
 * the traceback); that is not modelled.
 */
interface RecursionDepths {
  readonly raiseAt: number;
  readonly caughtAt: number;
}
const RECURSION_0_3_64: RecursionDepths = { raiseAt: 986, caughtAt: 980 };
const RECURSION_0_33: RecursionDepths = { raiseAt: 984, caughtAt: 978 };

class Context {
  readonly memo = new Map<string, Verdict>();
  readonly #stack: string[] = [];
  /** The ids on #stack, so checking for a cycle costs O(1), not the depth of the graph. */
  readonly #onStack = new Set<string>();
  readonly #cycleErrors = new Map<string, ErrorObj[]>();
  /** Nodes already copied for writing (see {@link shallowCopy}). */
  readonly #owned = new Set<string>();

  constructor(
    readonly prompt: Record<string, unknown>,
    readonly find: ClassLookup,
    readonly rules: ComfyuiRules,
    readonly options: ValidateOptions,
  ) {
    this.recursion = rules.has("validationRecursionTwoLevelsShallower")
      ? RECURSION_0_33
      : RECURSION_0_3_64;
  }

  /** Where Python's recursion limit stops this release's validation (see {@link validate}). */
  readonly recursion: RecursionDepths;

  /** `prompt[id]`; `idIsFloat`: an integral `id` that Python holds as a float (its repr). */
  node(id: unknown, idIsFloat = false): Record<string, unknown> {
    // Python: prompt[o_id] — a KeyError names the missing key with repr().
    if (typeof id !== "string" || !(id in this.prompt))
      throw new PyException("KeyError", pyRepr(id, idIsFloat));
    return this.prompt[id] as Record<string, unknown>;
  }

  /**
   * The `inputs` of node `id`, writable: on the first write the node and its `inputs` are
   * copied into the coerced prompt, so the caller's prompt is never changed.
   */
  own(id: string): Record<string, unknown> {
    const node = this.prompt[id] as Record<string, unknown>;
    if (this.#owned.has(id)) return node["inputs"] as Record<string, unknown>;
    this.#owned.add(id);
    const inputs = node["inputs"];
    const copy: Record<string, unknown> = {
      ...node,
      inputs: isPlainObject(inputs) ? { ...inputs } : inputs,
    };
    setOwn(this.prompt, id, copy);
    return copy["inputs"] as Record<string, unknown>;
  }

  /**
   * `validate_inputs(unique_id)`: the verdict of node `id` and, first, of every node it links
   * to. Throws PyException where the server would raise.
   *
   * ComfyUI recurses into each linked node; here a loop over an explicit stack of suspended
   * node validations does the same in the same order, so a long chain never depends on the
   * JavaScript stack. Python's own limit is modelled instead ({@link RecursionDepths}).
   */
  validate(id: string): Verdict {
    const first = this.#begin(id);
    if (!(first instanceof NodeFrame)) return first;
    const frames: NodeFrame[] = [first];
    // What the top frame gets next: a fresh start, or the verdict or exception of the node its
    // pending input links to.
    let start = true;
    let verdict: Verdict | undefined;
    let raised: { readonly error: unknown } | undefined;
    for (;;) {
      const frame = frames[frames.length - 1]!;
      let outcome: Verdict | string;
      try {
        outcome = start ? this.#validateNode(frame) : this.#resume(frame, verdict, raised);
      } catch (e) {
        // The node raised: like a Python frame unwinding, to the node that links to it.
        frames.pop();
        this.#end(frame.id);
        if (frames.length === 0) throw e;
        start = false;
        raised = { error: e };
        continue;
      }
      start = false;
      raised = undefined;
      if (typeof outcome !== "string") {
        // The node's verdict: memoised, then handed to the node that links to it.
        frames.pop();
        this.memo.set(frame.id, outcome);
        this.#end(frame.id);
        if (frames.length === 0) return outcome;
        verdict = outcome;
        continue;
      }
      // The node needs the verdict of node `outcome`, which its pending input links to.
      if (this.#stack.length + 1 >= this.recursion.raiseAt) {
        // The handlers below `caughtAt` fail in turn: their nodes unwind without a verdict.
        while (this.#stack.length > this.recursion.caughtAt) this.#end(frames.pop()!.id);
        raised = {
          error: new PyException(
            "RecursionError",
            "maximum recursion depth exceeded while calling a Python object",
          ),
        };
        continue;
      }
      let next: Verdict | NodeFrame;
      try {
        next = this.#begin(outcome);
      } catch (e) {
        raised = { error: e };
        continue;
      }
      if (next instanceof NodeFrame) {
        frames.push(next);
        start = true;
      } else verdict = next;
    }
  }

  /**
   * The start of `validate_inputs(id)`: a known or immediate verdict, or the node's validation,
   * suspended, with `id` pushed on the recursion stack (popped by {@link #end}).
   */
  #begin(id: string): Verdict | NodeFrame {
    const memoised = this.memo.get(id);
    if (memoised) return memoised;
    const node = this.node(id);
    const classType = node["class_type"] as string;
    const cls = this.find(classType);
    if (!cls) {
      const verdict: Verdict = [true, []];
      this.memo.set(id, verdict);
      return verdict;
    }
    if (
      node["inputs"] === null ||
      typeof node["inputs"] !== "object" ||
      Array.isArray(node["inputs"])
    ) {
      // Python indexes prompt[id]['inputs'] and iterates it.
      if (!("inputs" in node)) throw new PyException("KeyError", "'inputs'");
      // `x not in inputs` for each declared input: a list or str is searched, anything else
      // (None, a number, a bool) is not iterable.
      const raw = node["inputs"];
      if (
        cls.inputs.length > 0 &&
        (raw === null || typeof raw !== "object") &&
        typeof raw !== "string"
      )
        throw new PyException(
          "TypeError",
          `argument of type '${pyTypeName(raw, writtenAsFloat(node, "inputs"))}' is not iterable`,
        );
      this.own(id);
      (this.prompt[id] as Record<string, unknown>)["inputs"] = {};
    }
    const inputs = (this.prompt[id] as Record<string, unknown>)["inputs"] as Record<
      string,
      unknown
    >;
    this.#stack.push(id);
    this.#onStack.add(id);
    const expanded = expandInputs(cls.inputs, inputs);
    return new NodeFrame(
      id,
      inputs,
      this.#customValidator(cls),
      expanded.declared,
      // execution.py (0.8.0+): `details` is the last dotted segment only when the node has
      // dynamic paths; `extra_info.input_name` is always the full key.
      expanded.dynamic && this.rules.has("dynamicInputLastSegment"),
    );
  }

  #end(id: string): void {
    this.#stack.pop();
    this.#onStack.delete(id);
  }

  /**
   * The body of `validate_inputs(id)`, from the frame's next input on: the node's verdict, or
   * the id of a node not validated yet that the next input links to (the frame waits for
   * {@link #resume}).
   */
  #validateNode(frame: NodeFrame): Verdict | string {
    const { id, custom, declared, shortMissing, errors, given } = frame;
    // Read from the node's `inputs` until a coercion writes a value: then from its own copy.
    let inputs = frame.inputs;
    let valid = frame.valid;
    const covered = custom?.inputs;
    for (let i = frame.next; i < declared.length; i++) {
      const { key, input, required } = declared[i]!;
      const config = configOf(input);
      let val = inputs[key];
      // One keyed read for a present value; `in` only for an undefined one (absent or not).
      if (val === undefined && !(key in inputs)) {
        if (required) {
          const details = shortMissing ? (key.split(".").pop() ?? key) : key;
          errors.push(
            pyError("required_input_missing", "Required input is missing", details, {
              input_name: key,
            }),
          );
        }
        continue;
      }
      if (Array.isArray(val)) {
        if (val.length !== 2) {
          errors.push(
            pyError(
              "bad_linked_input",
              "Bad linked input, must be a length-2 list of [node_id, slot_index]",
              key,
              { input_name: key, input_config: [config[0], config[1]], received_value: val },
            ),
          );
          continue;
        }
        const [sourceId, index] = val as [unknown, unknown];
        const source = this.node(sourceId, writtenAsFloat(val, 0));
        const sourceClass = this.find(String(source["class_type"]));
        const receivedType = sourceClass
          ? returnType(sourceClass, index, writtenAsFloat(val, 1))
          : undefined;
        if (sourceClass && !this.#typesMatch(receivedType!, config[0])) {
          const shown = typeof receivedType === "string" ? receivedType : pyRepr(receivedType);
          errors.push(
            pyError(
              "return_type_mismatch",
              "Return type mismatch between linked nodes",
              `${key}, received_type(${shown}) mismatch input_type(${typeof config[0] === "string" ? config[0] : pyRepr(config[0])})`,
              {
                input_name: key,
                input_config: [config[0], config[1]],
                received_type: receivedType,
                linked_node: val,
              },
            ),
          );
          continue;
        }
        const target = sourceId as string;
        // Most links reach a node validated already: its verdict, without the cycle check.
        const known = this.memo.get(target);
        if (known) {
          if (!known[0]) valid = false;
          continue;
        }
        if (this.#onStack.has(target)) {
          // Before 0.20.0 the recursion runs into Python's limit; the frames that unwind
          // overwrite the memo, so every node of the cycle ends invalid with no error of its own
          // (observed on 0.3.64: 400 with empty node_errors).
          if (this.rules.has("dependencyCycle")) this.#recordCycle(target);
          valid = false;
          continue;
        }
        frame.inputs = inputs;
        frame.valid = valid;
        frame.next = i;
        return target;
      }
      // A constant: unwrap __value__, coerce by the exact type string, write back. `isFloat`:
      // an integral number that Python holds as a float (written `5.0` in the prompt's JSON).
      let isFloat: boolean;
      if (val !== null && typeof val === "object" && "__value__" in val) {
        isFloat = writtenAsFloat(val, "__value__");
        val = (val as { __value__: unknown }).__value__;
        if (inputs === given) inputs = this.own(id);
        inputs[key] = val;
      } else isFloat = typeof val === "number" && writtenAsFloat(given, key);
      const type = config[0];
      try {
        if (type === "INT") {
          val = pyIntOf(val);
          isFloat = false;
        } else if (type === "FLOAT") {
          val = pyFloatOf(val);
          isFloat = true;
        } else if (type === "STRING") val = pyStrOf(val, isFloat);
        else if (type === "BOOLEAN") val = pyBoolOf(val);
        if (!Object.is(val, inputs[key])) {
          if (inputs === given) inputs = this.own(id);
          inputs[key] = val;
        }
      } catch (e) {
        const ex = asPyException(e);
        errors.push(
          pyError(
            "invalid_input_type",
            `Failed to convert an input value to a ${type} value`,
            `${key}, ${pyStr(val, isFloat)}, ${ex.message}`,
            {
              input_name: key,
              input_config: [config[0], config[1]],
              received_value: val,
              exception_message: ex.message,
            },
          ),
        );
        continue;
      }
      if (covered?.includes(key)) continue;
      const options = config[1];
      const isNumber = typeof val === "number" || typeof val === "bigint";
      const min = options["min"];
      const max = options["max"];
      if (isNumber && isLimit(min) && (val as number) < exactLimit(min)) {
        errors.push(
          pyError(
            "value_smaller_than_min",
            `Value ${pyNumber(val, isFloat)} smaller than min of ${this.#limit(id, config, "min")}`,
            key,
            { input_name: key, input_config: [config[0], config[1]], received_value: val },
          ),
        );
        continue;
      }
      if (isNumber && isLimit(max) && (val as number) > exactLimit(max)) {
        errors.push(
          pyError(
            "value_bigger_than_max",
            `Value ${pyNumber(val, isFloat)} bigger than max of ${this.#limit(id, config, "max")}`,
            key,
            { input_name: key, input_config: [config[0], config[1]], received_value: val },
          ),
        );
        continue;
      }
      const list = Array.isArray(type)
        ? type
        : type === "COMBO" && this.rules.has("comboOptionsChecked")
          ? ((options["options"] as unknown[]) ?? [])
          : undefined;
      if (list) {
        const perElement =
          Array.isArray(val) &&
          options["multiselect"] === true &&
          this.rules.has("multiselectPerElement");
        // One value (the common case) is looked up without allocating; indexOf compares with
        // ===, as Python's `in` does for these scalars (NaN is never in the list).
        const missing = perElement
          ? (val as unknown[]).flatMap((v, i) =>
              list.indexOf(v) === -1 ? [pyRepr(v, writtenAsFloat(val as unknown[], i))] : [],
            )
          : list.indexOf(val) === -1
            ? [pyRepr(val, isFloat)]
            : [];
        if (missing.length > 0) {
          const long = list.length > 20;
          const listInfo = long ? `(list of length ${list.length})` : pyRepr(list);
          // 0.21.0 lists the repr() of each invalid value; before, the value's str() in quotes.
          const shown = this.rules.has("multiselectPerElement")
            ? missing.join(", ")
            : `'${pyStr(val, isFloat)}'`;
          errors.push(
            pyError(
              "value_not_in_list",
              "Value not in list",
              `${key}: ${shown} not in ${listInfo}`,
              {
                input_name: key,
                input_config: long ? null : [config[0], config[1]],
                received_value: val,
              },
            ),
          );
          continue;
        }
      }
    }
    if (custom?.check) {
      const args = custom.inputs.filter((name) => name in inputs);
      // get_input_data without outputs: a link's value is None (execution.py is_link).
      const values = Object.fromEntries(
        args.map((name) => [name, isLink(inputs[name]) ? null : inputs[name]]),
      );
      for (const name of args) {
        if (typeof values[name] === "number" && writtenAsFloat(given, name))
          noteFloat(values, name);
      }
      const result = custom.check(values);
      if (result !== true) {
        for (const name of args) {
          errors.push(
            pyError(
              "custom_validation_failed",
              "Custom validation failed for node",
              typeof result === "string" ? `${name} - ${result}` : name,
              { input_name: name },
            ),
          );
        }
      }
    }
    const cycle = this.#cycleErrors.get(id);
    if (cycle) errors.push(...cycle);
    return [errors.length === 0 && valid, errors];
  }

  /**
   * Continues node `frame` after the node its pending input links to was validated: `verdict`
   * is that node's verdict, or `raised` what its validation raised, which this node catches as
   * Python's `except Exception` does (`exception_during_inner_validation` on the linked node).
   */
  #resume(
    frame: NodeFrame,
    verdict: Verdict | undefined,
    raised: { readonly error: unknown } | undefined,
  ): Verdict | string {
    if (raised) {
      const { key, input } = frame.declared[frame.next]!;
      const config = configOf(input);
      const link = frame.inputs[key] as [string, unknown];
      const ex = asPyException(raised.error);
      frame.valid = false;
      this.memo.set(link[0], [
        false,
        [
          pyError(
            "exception_during_inner_validation",
            "Exception when validating inner node",
            ex.message,
            {
              input_name: key,
              input_config: [config[0], config[1]],
              exception_message: ex.message,
              exception_type: ex.type,
              traceback: [],
              linked_node: link,
            },
          ),
        ],
      ]);
    } else if (!verdict![0]) frame.valid = false;
    frame.next++;
    return this.#validateNode(frame);
  }

  /**
   * `str(extra_info[name])` of node `id`'s input options: as the object_info wrote it when its
   * class knows (`numbersAsWritten`), else a FLOAT input's as a float and others as ints.
   */
  #limit(id: string, config: InputConfig, name: "min" | "max"): string {
    const limit = exactLimit(config[1][name] as number | bigint);
    const cls = this.find(String((this.prompt[id] as { class_type?: unknown }).class_type));
    const asFloat = cls?.numbersAsWritten ? writtenAsFloat(config[1], name) : config[0] === "FLOAT";
    return pyNumber(limit, asFloat);
  }

  #customValidator(cls: ValidatorClass): CustomValidator | undefined {
    const explicit = this.options.customValidators?.[cls.classType];
    if (explicit) return explicit;
    if (IMAGE_LOADERS.has(cls.classType) && cls.inputs.some((i) => i.name === "image")) {
      // Offline the files are unknown, but what VALIDATE_INPUTS raises before looking is not.
      const { rules, options } = this;
      return {
        inputs: ["image"],
        check: (values) => {
          if (!options.pendingUpload?.(values["image"]))
            imageLoaderArgument(cls.classType, values, rules);
          return true;
        },
      };
    }
    let implied = impliedValidators.get(cls.inputs);
    if (implied === undefined) {
      const uploads = cls.inputs.filter(
        (i) => i.kind === "combo" && (i.upload !== undefined || i.remote),
      );
      implied = uploads.length ? { inputs: uploads.map((i) => i.name) } : null;
      impliedValidators.set(cls.inputs, implied);
    }
    return implied ?? undefined;
  }

  /** `validate_node_input(received, expected)` of comfy_execution/validation.py, per release. */
  #typesMatch(
    received: string | readonly unknown[],
    expected: string | readonly unknown[],
  ): boolean {
    const rules = this.rules;
    if (typeof received === "string" && received === expected) return true;
    // A whole "*" matches on every release: core "*" types are IO enums and custom packs' "*" is
    // an AnyType, both str subclasses whose `__ne__` is False against "*"; /object_info cannot tell
    // them from a plain "*" (0.8.0 made plain "*" match too).
    if (received === "*" || expected === "*") return true;
    const matchType = "COMFY_MATCHTYPE_V3";
    if (rules.has("matchTypeMatchesAny") && (received === matchType || expected === matchType))
      return true;
    if (rules.has("listOutputIntoCombo") && typeof received !== "string" && expected === "COMBO")
      return true;
    if (typeof received !== "string" || typeof expected !== "string") {
      // Python's list != list compares elements: an identical options list matches.
      if (typeof received === "string" || typeof expected === "string") return false;
      return received.length === expected.length && received.every((v, i) => v === expected[i]);
    }
    const r = new Set(received.split(",").map((t) => t.trim()));
    const e = new Set(expected.split(",").map((t) => t.trim()));
    if (rules.has("starMatchesAny") && (r.has("*") || e.has("*"))) return true;
    for (const t of r) if (e.has(t)) return true;
    return false;
  }

  #recordCycle(target: string): void {
    const cycle = this.#stack.slice(this.#stack.indexOf(target));
    const label = (id: string) =>
      `${id} (${String((this.prompt[id] as { class_type?: unknown }).class_type)})`;
    const details = [...cycle, cycle[0]!].map(label).join(" -> ");
    for (const id of cycle) {
      const list = this.#cycleErrors.get(id) ?? [];
      if (list.some((e) => e.type === "dependency_cycle")) continue;
      list.push(
        pyError("dependency_cycle", "Dependency cycle detected", details, {
          node_id: id,
          cycle_nodes: cycle,
        }),
      );
      this.#cycleErrors.set(id, list);
    }
  }
}

/**
 * comfy_execution/graph_utils.py `is_link`: a two-element list of a str node id and a number
 * (a bool is a Python int too).
 */
function isLink(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.length === 2 &&
    typeof v[0] === "string" &&
    (typeof v[1] === "number" || typeof v[1] === "bigint" || typeof v[1] === "boolean")
  );
}

/** Upload and remote combos' implied validator (no check of their own), per class's inputs. */
const impliedValidators = new WeakMap<readonly InputIR[], CustomValidator | null>();

function configOf(input: InputIR): InputConfig {
  return input.config;
}

/**
 * `RETURN_TYPES[index]` with Python indexing: negative indices count from the end. A float
 * index raises `TypeError`, also an integral one (`0.0`, `indexIsFloat`: Python's `json` reads
 * it as a float; observed on 0.3.64 and 0.33.0).
 */
function returnType(
  cls: ValidatorClass,
  index: unknown,
  indexIsFloat = false,
): string | readonly unknown[] {
  // A bool is a Python int: `RETURN_TYPES[True]` is `RETURN_TYPES[1]`.
  if (typeof index === "boolean") index = index ? 1 : 0;
  // A V3 node's RETURN_TYPES is a list, a classic node's a tuple (observed on 0.3.64, 0.33.0).
  const sequence = cls.v3 ? "list" : "tuple";
  if (typeof index !== "number" || !Number.isInteger(index) || indexIsFloat) {
    throw new PyException(
      "TypeError",
      `${sequence} indices must be integers or slices, not ${index === null ? "NoneType" : typeof index === "number" ? "float" : typeof index === "string" ? "str" : typeof index}`,
    );
  }
  const n = cls.outputs.length;
  const i = index < 0 ? n + index : index;
  const output = cls.outputs[i];
  if (i < 0 || !output) throw new PyException("IndexError", `${sequence} index out of range`);
  return output.rawType;
}

/** The declared inputs of one node, given its values. */
export interface ExpandedInputs {
  readonly declared: readonly Declared[];
  /**
   * True when V3 dynamic inputs were expanded (an Autogrow, or a DynamicCombo with a known
   * selection): ComfyUI's `v3_data` holds dynamic paths, which changes `required_input_missing`.
   */
  readonly dynamic: boolean;
}

/**
 * The declared inputs of a node given its values, with V3 dynamic inputs expanded the way
 * `_io.get_finalized_class_inputs` does: a DynamicCombo's selected option adds `<name>.<child>`
 * inputs, an Autogrow adds one input per slot (the first `min` required when its template is).
 */
export function expandInputs(
  inputs: readonly InputIR[],
  values: Readonly<Record<string, unknown>>,
): ExpandedInputs {
  // Without V3 dynamic inputs the expansion does not depend on the values: computed once.
  let fixed = fixedExpansions.get(inputs);
  if (fixed === undefined) {
    fixed = inputs.some((i) => i.kind === "dynamic_combo" || i.kind === "autogrow")
      ? null
      : Object.freeze(expandAll(inputs, {}));
    fixedExpansions.set(inputs, fixed);
  }
  return fixed ?? expandAll(inputs, values);
}

const fixedExpansions = new WeakMap<readonly InputIR[], ExpandedInputs | null>();

function expandAll(
  inputs: readonly InputIR[],
  values: Readonly<Record<string, unknown>>,
): ExpandedInputs {
  const declared: Declared[] = [];
  let dynamic = false;
  const walk = (list: readonly InputIR[], prefix: string): void => {
    for (const input of list) {
      const key = `${prefix}${input.name}`;
      if (input.kind === "dynamic_combo") {
        if (!(key in values)) continue;
        const option = input.options.find((o) => o.key === values[key]);
        if (!option) continue;
        dynamic = true;
        declared.push({ key, input, required: input.required });
        walk(option.inputs, `${key}.`);
        continue;
      }
      if (input.kind === "autogrow") {
        // Autogrow always records a dynamic path, even when no slot has a value.
        dynamic = true;
        input.names.forEach((name, i) => {
          declared.push({
            key: `${key}.${name}`,
            input: input.template,
            required: i < input.min && input.template.required,
          });
        });
        continue;
      }
      declared.push({ key, input, required: input.required });
    }
  };
  walk(inputs, "");
  return { declared, dynamic };
}

function isLimit(v: unknown): v is number | bigint {
  return typeof v === "number" || typeof v === "bigint";
}

/** `str()` of a number Python holds as a float when `asFloat` (or when it is not integral). */
function pyNumber(n: unknown, asFloat: boolean): string {
  if (typeof n === "bigint") return n.toString();
  if (typeof n !== "number") return pyStr(n);
  return asFloat || !Number.isInteger(n) ? pyFloat(n) : pyInt(n);
}
