import type { ComfyuiRules } from "../protocol/comfyui-version.js";

/**
 * Python tracebacks of `execution_error` as a real ComfyUI release writes them: the list of
 * `traceback.format_tb(ex.__traceback__)` (`execution.py` `execute`), one string per frame,
 * `  File "<path>", line <n>, in <function>\n    <source line>\n    <carets>\n`, copied frame by
 * frame from the real 0.3.64 and 0.33.0 running the same failing prompts (the differential suite
 * and `test/fixtures/testing/tracebacks.json` check them). The caret line is Python 3.11's
 * (PEP 657), as on Debian 12, which the reference servers run; Python leaves it out when the
 * carets would cover the whole line, and so does {@link formatFrame}.
 *
 * Paths: ComfyUI's own files are written under the test server's data directory (the folder
 * that holds its `input/`, `output/` and `temp/`), standing in for the real install directory,
 * which holds those folders too; so tracebacks and exception messages share one prefix, as on a
 * real server. Third-party frames keep the path of the reference servers' Debian packages
 * (`/usr/lib/python3/dist-packages/PIL/Image.py`, Pillow 9.4; PyAV 10's Cython `.pyx` frames).
 */

/**
 * One frame: file (relative to the install directory, unless absolute or a Cython `.pyx`
 * module path), line number, function name, the stripped source line (absent for Cython frames)
 * and the caret span `[start, end)` in that stripped line, or its start and marker text where
 * Python marks a subscript's value with `~` and the failing part with `^` (absent when Python
 * prints no caret line).
 */
export type PyFrame = readonly [
  file: string,
  line: number,
  name: string,
  source?: string,
  carets?: readonly [number, number] | readonly [number, string],
];

/** Where a simulated node failed: decides the frames below `process_inputs`. */
export type FailureSite =
  /** `folder_paths.get_save_image_path` refused a prefix that leaves the output folder. */
  | "save_outside"
  /** LoadImage and its subclasses: the file is not an image. */
  | "image_unreadable"
  /** LoadImage and its subclasses: the file is gone (deleted after validation). */
  | "image_missing";

/** The frames of one release. */
interface ReleaseFrames {
  /** `execute` → `get_output_data` → `_async_map_node_over_list` → `process_inputs`. */
  readonly execute: readonly PyFrame[];
  /** What each failing class adds below `process_inputs`, per site. */
  readonly sites: Readonly<Record<FailureSite, Readonly<Record<string, readonly PyFrame[]>>>>;
}

// V1 saver call, shared by SaveImage and the animated savers of 0.3.64 (same line text).
const SAVE_IMAGES_CALL =
  "full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(filename_prefix, self.output_dir, images[0].shape[1], images[0].shape[0])";
const SAVE_PATH_CALL =
  "full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(filename_prefix, self.output_dir)";
const SAVE_GLB_CALL =
  "full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(filename_prefix, folder_paths.get_output_directory())";
const SAVE_CALL_OPEN =
  "full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(";
const UI_SAVE_CALL_OPEN =
  "full_output_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(";
const at68 = (line: string) => [68, line.length] as const;
const PIL_IMAGE = "/usr/lib/python3/dist-packages/PIL/Image.py";
const PIL_UNIDENTIFIED: PyFrame = [PIL_IMAGE, 3283, "open", "raise UnidentifiedImageError(msg)"];
const PIL_MISSING: PyFrame = [
  PIL_IMAGE,
  3227,
  "open",
  'fp = builtins.open(filename, "rb")',
  [5, 34],
];

/** comfy_api's wrapper around a V3 node's `execute`, whose `_io.py` line moves per release. */
const v3Wrapper = (ioLine: number): PyFrame[] => [
  [
    "comfy_api/internal/__init__.py",
    149,
    "wrapped_func",
    "return method(locked_class, **inputs)",
    [7, 37],
  ],
  [
    "comfy_api/latest/_io.py",
    ioLine,
    "EXECUTE_NORMALIZED",
    "to_return = cls.execute(*args, **kwargs)",
    [12, 40],
  ],
];

/**
 * `execute` → `get_output_data` → `_async_map_node_over_list` → `process_inputs` of
 * `execution.py`, at a release's line numbers; `hidden` is how `get_output_data` is passed the
 * hidden inputs (`hidden_inputs=hidden_inputs` in 0.3.64, `v3_data=v3_data` in 0.33.0).
 */
function executeChain(lines: readonly [number, number, number, number], hidden: string): PyFrame[] {
  const output = `output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, ${hidden})`;
  const map = `return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, ${hidden})`;
  return [
    ["execution.py", lines[0], "execute", output, [58, output.length]],
    ["execution.py", lines[1], "get_output_data", map, [16, map.length]],
    ["execution.py", lines[2], "_async_map_node_over_list", "await process_inputs(input_dict, i)"],
    ["execution.py", lines[3], "process_inputs", "result = f(**inputs)", [9, 20]],
  ];
}

/** Frames of ComfyUI 0.3.64 (a125cd84), seen on the real server. */
function frames0364(): ReleaseFrames {
  const raise: PyFrame = ["folder_paths.py", 397, "get_save_image_path", "raise Exception(err)"];
  const v3 = v3Wrapper(1270);
  const saveAudio = (line: number, name: string, quality: boolean): PyFrame[] => {
    const call = `return save_audio(self, audio, filename_prefix, format, prompt, extra_pnginfo${quality ? ", quality" : ""})`;
    return [
      ["comfy_extras/nodes_audio.py", line, name, call, [7, call.length]],
      ["comfy_extras/nodes_audio.py", 97, "save_audio", SAVE_PATH_CALL, at68(SAVE_PATH_CALL)],
      raise,
    ];
  };
  const video = (line: number): PyFrame[] => [
    ...v3,
    ["comfy_extras/nodes_video.py", line, "execute", SAVE_CALL_OPEN, at68(SAVE_CALL_OPEN)],
    raise,
  ];
  const pillow: PyFrame = ["node_helpers.py", 31, "pillow", "x = fn(arg)", [4, 11]];
  const loadImage: PyFrame = [
    "nodes.py",
    1647,
    "load_image",
    "img = node_helpers.pillow(Image.open, image_path)",
    [6, 49],
  ];
  const loadMask: PyFrame = [
    "nodes.py",
    1723,
    "load_image",
    "i = node_helpers.pillow(Image.open, image_path)",
    [4, 47],
  ];
  return {
    execute: executeChain([496, 315, 289, 277], "hidden_inputs=hidden_inputs"),
    sites: {
      save_outside: {
        SaveImage: [
          ["nodes.py", 1590, "save_images", SAVE_IMAGES_CALL, at68(SAVE_IMAGES_CALL)],
          raise,
        ],
        SaveAnimatedPNG: [
          [
            "comfy_extras/nodes_images.py",
            190,
            "save_images",
            SAVE_IMAGES_CALL,
            at68(SAVE_IMAGES_CALL),
          ],
          raise,
        ],
        SaveAnimatedWEBP: [
          [
            "comfy_extras/nodes_images.py",
            129,
            "save_images",
            SAVE_IMAGES_CALL,
            at68(SAVE_IMAGES_CALL),
          ],
          raise,
        ],
        SaveLatent: [["nodes.py", 474, "save", SAVE_PATH_CALL, at68(SAVE_PATH_CALL)], raise],
        SaveAudio: saveAudio(218, "save_flac", false),
        SaveAudioMP3: saveAudio(243, "save_mp3", true),
        SaveAudioOpus: saveAudio(268, "save_opus", true),
        SaveWEBM: video(38),
        SaveVideo: video(93),
        // From the source (comfy_extras/nodes_hunyuan3d.py): no model-free prompt reaches it.
        SaveGLB: [
          ["comfy_extras/nodes_hunyuan3d.py", 599, "save", SAVE_GLB_CALL, at68(SAVE_GLB_CALL)],
          raise,
        ],
      },
      image_unreadable: {
        LoadImage: [loadImage, pillow, PIL_UNIDENTIFIED],
        LoadImageOutput: [loadImage, pillow, PIL_UNIDENTIFIED],
        LoadImageMask: [loadMask, pillow, PIL_UNIDENTIFIED],
      },
      image_missing: {
        LoadImage: [loadImage, pillow, PIL_MISSING],
        LoadImageOutput: [loadImage, pillow, PIL_MISSING],
        LoadImageMask: [loadMask, pillow, PIL_MISSING],
      },
    },
  };
}

/** Frames of ComfyUI 0.33.0 (2f35f4a0), seen on the real server. */
function frames0330(): ReleaseFrames {
  const raise: PyFrame = ["folder_paths.py", 557, "get_save_image_path", "raise Exception(err)"];
  const v3 = v3Wrapper(1990);
  const uiSave = (line: number, name: string): PyFrame => [
    "comfy_api/latest/_ui.py",
    line,
    name,
    UI_SAVE_CALL_OPEN,
    [54, UI_SAVE_CALL_OPEN.length],
  ];
  const animated = (
    line: number,
    helper: string,
    helperLine: number,
    saver: string,
    saverLine: number,
  ): PyFrame[] => {
    const call = `ui=UI.ImageSaveHelper.${helper}(`;
    const inner = `result = ImageSaveHelper.${saver}(`;
    return [
      ...v3,
      ["comfy_extras/nodes_images.py", line, "execute", call, [3, call.length]],
      ["comfy_api/latest/_ui.py", helperLine, helper, inner, [9, inner.length]],
      uiSave(saverLine, saver),
      raise,
    ];
  };
  const audio = (line: number, call: string): PyFrame[] => [
    ...v3,
    ["comfy_extras/nodes_audio.py", line, "execute", call, [3, call.length]],
    ["comfy_api/latest/_ui.py", 382, "get_save_audio_ui", "AudioSaveHelper.save_audio("],
    uiSave(277, "save_audio"),
    raise,
  ];
  const audioOpen = "ui=UI.AudioSaveHelper.get_save_audio_ui(";
  const v3Save = (file: string, line: number): PyFrame[] => [
    ...v3,
    [file, line, "execute", SAVE_CALL_OPEN, at68(SAVE_CALL_OPEN)],
    raise,
  ];
  const pillow: PyFrame = ["node_helpers.py", 62, "pillow", "x = fn(arg)", [4, 11]];
  const loadImagePillow: PyFrame = [
    "nodes.py",
    1765,
    "load_image",
    "img = node_helpers.pillow(Image.open, image_path)",
    [6, 49],
  ];
  // LoadImageMask.load_image_mask calls LoadImage.load_image from 0.33.0.
  const loadMask: PyFrame = [
    "nodes.py",
    1835,
    "load_image_mask",
    "image_tensor, mask_tensor = super().load_image(image)",
    [28, 53],
  ];
  // LoadImage reads through PyAV first: a missing file fails there, inside PyAV's Cython code.
  const missing: PyFrame[] = [
    [
      "nodes.py",
      1760,
      "load_image",
      "components = InputImpl.VideoFromFile(image_path).get_components()",
      [13, 65],
    ],
    [
      "comfy_api/latest/_input_impl/video_types.py",
      456,
      "get_components",
      "with av.open(self.__file, mode='r') as container:",
      [5, 35],
    ],
    ["av/container/core.pyx", 401, "av.container.core.open"],
    ["av/container/core.pyx", 272, "av.container.core.Container.__cinit__"],
    ["av/container/core.pyx", 292, "av.container.core.Container.err_check"],
    ["av/error.pyx", 336, "av.error.err_check"],
  ];
  const unreadable: PyFrame[] = [loadImagePillow, pillow, PIL_UNIDENTIFIED];
  return {
    execute: executeChain([545, 344, 318, 306], "v3_data=v3_data"),
    sites: {
      save_outside: {
        SaveImage: [
          ["nodes.py", 1694, "save_images", SAVE_IMAGES_CALL, at68(SAVE_IMAGES_CALL)],
          raise,
        ],
        SaveAnimatedPNG: animated(259, "get_save_animated_png_ui", 196, "save_animated_png", 174),
        SaveAnimatedWEBP: animated(
          224,
          "get_save_animated_webp_ui",
          247,
          "save_animated_webp",
          218,
        ),
        SaveLatent: [["nodes.py", 527, "save", SAVE_PATH_CALL, at68(SAVE_PATH_CALL)], raise],
        SaveAudio: audio(
          184,
          "ui=UI.AudioSaveHelper.get_save_audio_ui(audio, filename_prefix=filename_prefix, cls=cls, format=format)",
        ),
        SaveAudioMP3: audio(214, audioOpen),
        SaveAudioOpus: audio(245, audioOpen),
        SaveWEBM: v3Save("comfy_extras/nodes_video.py", 35),
        SaveVideo: v3Save("comfy_extras/nodes_video.py", 125),
        SaveText: v3Save("comfy_extras/nodes_text.py", 41),
        // From the source (comfy_extras/nodes_save_3d.py): no model-free prompt reaches it.
        SaveGLB: [
          ...v3,
          ["comfy_extras/nodes_save_3d.py", 357, "execute", SAVE_GLB_CALL, at68(SAVE_GLB_CALL)],
          raise,
        ],
      },
      image_unreadable: {
        LoadImage: unreadable,
        LoadImageOutput: unreadable,
        LoadImageMask: [loadMask, ...unreadable],
      },
      image_missing: {
        LoadImage: missing,
        LoadImageOutput: missing,
        LoadImageMask: [loadMask, ...missing],
      },
    },
  };
}

const FRAMES = { "0.3.64": frames0364(), "0.33.0": frames0330() } as const;

/** The frame set a release writes (rule `tracebackFrames0330`, else 0.3.64's). */
function framesOf(rules: ComfyuiRules): ReleaseFrames {
  return rules.has("tracebackFrames0330") ? FRAMES["0.33.0"] : FRAMES["0.3.64"];
}

/**
 * One frame as `traceback.format_tb` prints it (Python 3.11): the location line, the stripped
 * source line indented by four spaces, and the caret line unless it would cover the whole line.
 *
 * @param root the install directory that files relative to it are joined to.
 */
export function formatFrame(frame: PyFrame, root: string): string {
  const [file, line, name, source, carets] = frame;
  const path = file.startsWith("/") || file.endsWith(".pyx") ? file : `${root}/${file}`;
  let text = `  File "${path}", line ${line}, in ${name}\n`;
  if (source === undefined) return text;
  text += `    ${source}\n`;
  if (!carets) return text;
  const [start, end] = carets;
  if (typeof end === "string") text += `    ${" ".repeat(start)}${end}\n`;
  else if (!(start === 0 && end >= source.length))
    text += `    ${" ".repeat(start)}${"^".repeat(end - start)}\n`;
  return text;
}

/** What failed, for {@link pythonTraceback}. */
export interface FailureInfo {
  /** The failing node's class. */
  readonly classType: string;
  /** Where it failed, when the simulation knows the real code path. */
  readonly site?: FailureSite;
  /** A failure scripted by a test (`script.node(…, { fail })`). */
  readonly scripted?: boolean;
}

/**
 * The `traceback` of an `execution_error` for a failure of the test server's simulated nodes,
 * as the release `rules` describes writes it, with ComfyUI's files under `root`.
 *
 * The frames below `process_inputs` are the real ones for each failure the simulation knows the
 * code path of (a save outside the output folder, an unreadable or missing LoadImage file);
 * other failures (scripted ones, a missing IMAGE) end in one stand-in frame,
 * `<root>/comfyc_testing.py`, line 1, in `scripted_failure` or `simulated_node`, below the
 * release's real `execute` chain.
 *
 * @example pythonTraceback({ classType: "SaveImage", site: "save_outside" }, comfyuiRules("0.33.0"), "/ComfyUI")
 * // ['  File "/ComfyUI/execution.py", line 545, in execute\n    output_data, …\n    ^^^…\n', …] (6 frames)
 */
export function pythonTraceback(failure: FailureInfo, rules: ComfyuiRules, root: string): string[] {
  const frames = framesOf(rules);
  const tail = (failure.site && frames.sites[failure.site][failure.classType]) ?? [
    [
      "comfyc_testing.py",
      1,
      failure.scripted ? "scripted_failure" : "simulated_node",
    ] satisfies PyFrame,
  ];
  return [...frames.execute, ...tail].map((f) => formatFrame(f, root));
}

/**
 * The exception type LoadImage raises for a file that is gone: Python's `FileNotFoundError`
 * through Pillow, or PyAV's `av.error.FileNotFoundError` from 0.33.0 (rule
 * `tracebackFrames0330`), where LoadImage reads through PyAV first.
 */
export function missingImageExceptionType(rules: ComfyuiRules): string {
  return rules.has("tracebackFrames0330") ? "av.error.FileNotFoundError" : "FileNotFoundError";
}

/** Where `validate_prompt` / `validate_inputs` raise, per release (`execution.py`). */
interface ValidationLines {
  /** `validate_prompt`: `m = await validate_inputs(…)` for an output node. */
  readonly prompt: number;
  /** `validate_inputs`: `r = await validate_inputs(…)` for a linked node. */
  readonly inner: number;
  /** `inputs = prompt[unique_id]['inputs']`: a node without inputs (KeyError 'inputs'). */
  readonly inputs: number;
  /** `o_class_type = prompt[o_id]['class_type']`: a link to a missing node (KeyError). */
  readonly linkedClass: number;
  /** `received_type = r[val[1]]`: a bad output index (IndexError, TypeError). */
  readonly returnType: number;
  /** `if x not in inputs:`: `inputs` that is not iterable (None, a number: TypeError). */
  readonly notIn: number;
  /** 0.33.0 passes `visiting` down (cycle detection). */
  readonly visiting: boolean;
  /**
   * A V1 `VALIDATE_INPUTS` call: `validate_inputs`' `ret = await _async_map_node_over_list(…)`,
   * `_async_map_node_over_list`'s call with values and without (`process_inputs({})`: no
   * argument given), `process_inputs`' `result = f(**inputs)`.
   */
  readonly custom: readonly [call: number, each: number, none: number, process: number];
  /**
   * The image loaders' `VALIDATE_INPUTS` (nodes.py) by class, then folder_paths.py's
   * `exists_annotated_filepath` and `annotated_filepath` (`name.endswith("[output]")`).
   */
  readonly loaders: Readonly<Record<string, number>>;
  readonly annotated: readonly [exists: number, endswith: number];
}

const VALIDATION_LINES: Readonly<Record<"0.3.64" | "0.33.0", ValidationLines>> = {
  "0.3.64": {
    prompt: 1010,
    inner: 808,
    inputs: 730,
    linkedClass: 788,
    returnType: 790,
    notIn: 757,
    visiting: false,
    custom: [932, 289, 285, 277],
    // LoadImageOutput inherits LoadImage's; LoadImageMask has its own in 0.3.64.
    loaders: { LoadImage: 1701, LoadImageOutput: 1701, LoadImageMask: 1750 },
    annotated: [205, 177],
  },
  "0.33.0": {
    prompt: 1184,
    inner: 955,
    inputs: 870,
    linkedClass: 933,
    returnType: 935,
    notIn: 901,
    visiting: true,
    custom: [1091, 318, 314, 306],
    // LoadImageMask and LoadImageOutput both subclass LoadImage in 0.33.0.
    loaders: { LoadImage: 1808, LoadImageOutput: 1808, LoadImageMask: 1808 },
    annotated: [361, 258],
  },
};

/**
 * The `extra_info.traceback` of an `exception_during_validation` (the output node itself
 * raised: `validate_prompt` → `validate_inputs`) or `exception_during_inner_validation` (a linked
 * node raised: the caller's `validate_inputs` → the linked node's), as the release writes it:
 * the caller's frame, then where the node raised: two frames in all for the checks of
 * `validate_inputs` itself, because each `validate_inputs` catches what its inputs' validation
 * raises; four for an image loader's `VALIDATE_INPUTS` called without its argument (TypeError)
 * and seven for one given a value that is not a str (AttributeError in folder_paths.py).
 * `[]` for an exception the validator raises where the real frames are not known
 * (`RecursionError`, whose frames run to Python's recursion limit).
 *
 * @param details the error's `details` (the exception message): `'inputs'` is the KeyError of a
 *   node without inputs, another KeyError a link to a missing node.
 * @param classType the class of the node that raised (the `node_errors` entry's): picks the
 *   image loader's `VALIDATE_INPUTS` line.
 */
export function validationTraceback(
  kind: "exception_during_validation" | "exception_during_inner_validation",
  exceptionType: string,
  details: string,
  rules: ComfyuiRules,
  root: string,
  classType?: string,
): string[] {
  const at = VALIDATION_LINES[rules.has("tracebackFrames0330") ? "0.33.0" : "0.3.64"];
  let raised: PyFrame[];
  const loader = classType === undefined ? undefined : at.loaders[classType];
  if (exceptionType === "KeyError" && details === "'inputs'")
    raised = [
      [
        "execution.py",
        at.inputs,
        "validate_inputs",
        "inputs = prompt[unique_id]['inputs']",
        [9, "~~~~~~~~~~~~~~~~~^^^^^^^^^^"],
      ],
    ];
  else if (exceptionType === "KeyError")
    raised = [
      [
        "execution.py",
        at.linkedClass,
        "validate_inputs",
        "o_class_type = prompt[o_id]['class_type']",
        [15, "~~~~~~^^^^^^"],
      ],
    ];
  else if (loader && exceptionType === "TypeError" && details.includes("VALIDATE_INPUTS()"))
    raised = customCall(at, false);
  else if (loader && exceptionType === "AttributeError" && details.endsWith("'endswith'"))
    raised = [
      ...customCall(at, true),
      [
        "nodes.py",
        loader,
        "VALIDATE_INPUTS",
        "if not folder_paths.exists_annotated_filepath(image):",
        [7, 52],
      ],
      [
        "folder_paths.py",
        at.annotated[0],
        "exists_annotated_filepath",
        "name, base_dir = annotated_filepath(name)",
        [17, 41],
      ],
      [
        "folder_paths.py",
        at.annotated[1],
        "annotated_filepath",
        'if name.endswith("[output]"):',
        [3, 16],
      ],
    ];
  else if (exceptionType === "TypeError" && details.endsWith("is not iterable"))
    raised = [["execution.py", at.notIn, "validate_inputs", "if x not in inputs:", [3, 18]]];
  else if (exceptionType === "IndexError" || exceptionType === "TypeError")
    raised = [
      [
        "execution.py",
        at.returnType,
        "validate_inputs",
        "received_type = r[val[1]]",
        [16, "~^^^^^^^^"],
      ],
    ];
  else return [];
  const caller: PyFrame =
    kind === "exception_during_validation"
      ? [
          "execution.py",
          at.prompt,
          "validate_prompt",
          "m = await validate_inputs(prompt_id, prompt, o, validated)",
          [4, 58],
        ]
      : [
          "execution.py",
          at.inner,
          "validate_inputs",
          `r = await validate_inputs(prompt_id, prompt, o_id, validated${at.visiting ? ", visiting" : ""})`,
          [4, at.visiting ? 71 : 61],
        ];
  return [caller, ...raised].map((f) => formatFrame(f, root));
}

/** `validate_inputs` calling a V1 `VALIDATE_INPUTS`, down to `process_inputs`' call. */
function customCall(at: ValidationLines, withValues: boolean): PyFrame[] {
  const [call, each, none, process] = at.custom;
  const map = `ret = await _async_map_node_over_list(prompt_id, unique_id, obj_class, input_filtered, validate_function_name, ${at.visiting ? "v3_data=v3_data" : "hidden_inputs=hidden_inputs"})`;
  return [
    ["execution.py", call, "validate_inputs", map, [6, map.length]],
    withValues
      ? ["execution.py", each, "_async_map_node_over_list", "await process_inputs(input_dict, i)"]
      : ["execution.py", none, "_async_map_node_over_list", "await process_inputs({})"],
    ["execution.py", process, "process_inputs", "result = f(**inputs)", [9, 20]],
  ];
}

/**
 * `node_errors` with the tracebacks of validation exceptions filled in as the release writes
 * them ({@link validationTraceback}); comfyc's validator leaves them empty, having no frames.
 */
export function withValidationTracebacks<T extends Record<string, { errors: readonly unknown[] }>>(
  nodeErrors: T,
  rules: ComfyuiRules,
  root: string,
): T {
  const out: Record<string, unknown> = {};
  for (const [id, entry] of Object.entries(nodeErrors)) {
    out[id] = {
      ...entry,
      errors: entry.errors.map((e) => {
        const error = e as {
          type?: unknown;
          details?: unknown;
          extra_info?: Record<string, unknown>;
        };
        const info = error.extra_info;
        if (
          (error.type !== "exception_during_validation" &&
            error.type !== "exception_during_inner_validation") ||
          !info ||
          !Array.isArray(info["traceback"]) ||
          info["traceback"].length > 0
        )
          return e;
        return {
          ...error,
          extra_info: {
            ...info,
            traceback: validationTraceback(
              error.type,
              String(info["exception_type"]),
              String(error.details),
              rules,
              root,
              (entry as { class_type?: string }).class_type,
            ),
          },
        };
      }),
    };
  }
  return out as T;
}
