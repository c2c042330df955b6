import type { ComboValue } from "../protocol/object-info.js";
import type { ComboInputIR, InputConfig, InputIR, NodeClassIR, NodeSchema } from "./ir.js";

/**
 * Extensions of model weight files: ComfyUI's `folder_paths.supported_pt_extensions`
 * (`.ckpt .pt .pt2 .bin .pth .safetensors .pkl .sft`) plus `.gguf` (ComfyUI-GGUF) and `.onnx`
 * (detectors and face models of common custom nodes).
 */
export const MODEL_FILE_EXTENSIONS: readonly string[] = [
  ".ckpt",
  ".pt",
  ".pt2",
  ".bin",
  ".pth",
  ".safetensors",
  ".pkl",
  ".sft",
  ".gguf",
  ".onnx",
];

/** Core loader inputs whose combo lists a model folder, even when the list is empty. */
const MODEL_INPUT_NAMES = new Set([
  "ckpt_name",
  "lora_name",
  "vae_name",
  "control_net_name",
  "unet_name",
  "clip_name",
  "clip_name1",
  "clip_name2",
  "clip_name3",
  "clip_name4",
  "style_model_name",
  "model_name",
  "gligen_name",
  "audio_encoder_name",
  "config_name",
  "hypernetwork_name",
  "upscale_model_name",
]);

const looksLikeModelFile = (value: unknown): boolean =>
  typeof value === "string" &&
  MODEL_FILE_EXTENSIONS.some((ext) => value.toLowerCase().endsWith(ext));

/**
 * Whether a combo input lists model files installed on the server (which differ per machine):
 * a core loader input (`ckpt_name`, `lora_name`, …), or a combo whose options or the given
 * value are model files by extension ({@link MODEL_FILE_EXTENSIONS}). Upload combos
 * (`LoadImage.image`: files in the input folder) are not model-file combos.
 */
export function isModelFileCombo(input: InputIR, value?: unknown): input is ComboInputIR {
  if (input.kind !== "combo" || input.upload) return false;
  return (
    MODEL_INPUT_NAMES.has(input.name) ||
    looksLikeModelFile(value) ||
    input.options.some(looksLikeModelFile)
  );
}

/**
 * A copy of `schema` in which every model-file combo (see {@link isModelFileCombo}) also lists
 * the values `prompt` gives it, as if the server had those files installed. Validating against
 * it checks everything except which model files are installed: `comfyc validate
 * --ignore-models`. Returns the names of the added files by `class_type.input`.
 *
 * @example
 * const { schema: relaxed } = assumeModelFiles(schema, prompt);
 * validatePrompt(prompt, relaxed); // no value_not_in_list for ckpt_name, lora_name, …
 */
export function assumeModelFiles(
  schema: NodeSchema,
  prompt: Readonly<Record<string, unknown>>,
): { schema: NodeSchema; assumed: ReadonlyMap<string, readonly string[]> } {
  const wanted = new Map<string, Map<string, Set<string>>>();
  for (const node of Object.values(prompt)) {
    const { class_type: classType, inputs } = (node ?? {}) as {
      class_type?: unknown;
      inputs?: unknown;
    };
    const cls = typeof classType === "string" ? schema.classes.get(classType) : undefined;
    if (!cls || inputs === null || typeof inputs !== "object") continue;
    for (const input of cls.inputs) {
      const value = (inputs as Record<string, unknown>)[input.name];
      if (typeof value !== "string" || !isModelFileCombo(input, value)) continue;
      if (input.options.includes(value)) continue;
      const perClass = wanted.get(cls.classType) ?? new Map<string, Set<string>>();
      wanted.set(cls.classType, perClass);
      const values = perClass.get(input.name) ?? new Set<string>();
      perClass.set(input.name, values);
      values.add(value);
    }
  }
  if (wanted.size === 0) return { schema, assumed: new Map() };
  const classes = new Map(schema.classes);
  const assumed = new Map<string, readonly string[]>();
  for (const [classType, perInput] of wanted) {
    const cls = classes.get(classType)!;
    const inputs = cls.inputs.map((input) => {
      const extra = perInput.get(input.name);
      if (!extra || input.kind !== "combo") return input;
      assumed.set(`${classType}.${input.name}`, [...extra]);
      return withOptions(input, [...input.options, ...extra]);
    });
    classes.set(classType, { ...cls, inputs } satisfies NodeClassIR);
  }
  return { schema: { ...schema, classes }, assumed };
}

/** The combo with `options`, in both the IR field and the `input_config` validation reads. */
function withOptions(input: ComboInputIR, options: readonly ComboValue[]): ComboInputIR {
  const [type, extra] = input.config;
  const config: InputConfig = Array.isArray(type)
    ? [options, extra]
    : [type, { ...extra, options: [...options] }];
  return { ...input, options, config };
}
