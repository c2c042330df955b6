import { ComfycError } from "../errors.js";

/**
 * ComfyUI releases and the client-visible behaviours each one brought: the one version model the
 * validator, the test server, the runtime and codegen all read.
 *
 * Versions compare numerically per component: the numbering went from 0.3.76 to 0.4.0 and then up
 * one minor per release, so `"0.10.0" > "0.9.2"` (source: the `comfyui_version.py` bumps listed in
 * `comfyui-protocol-changes.md`).
 */

/** A parsed ComfyUI release number. */
export interface ComfyuiVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Canonical `major.minor.patch`, as `comfyui_version.py` writes it. */
  readonly text: string;
}

/**
 * The newest release whose behaviour `comfyui-protocol-changes.md` describes from its source
 * (0.33.0, 2026-08-13). comfyc behaves like it when no version is given.
 */
export const NEWEST_COMFYUI_VERSION = "0.33.0";

/** The oldest release comfyc's rules describe (the protocol document's primary source). */
export const OLDEST_COMFYUI_VERSION = "0.3.64";

/**
 * Thrown for a version string that is not a ComfyUI release number (code `USAGE`): not
 * `major.minor.patch`, a pre-release (`0.33.0-rc1`), a partial number (`0.3`) or a number with a
 * leading zero (`00.3.64`). The message says which.
 */
export class ComfyuiVersionError extends ComfycError {
  constructor(
    /** The text that failed to parse. */
    readonly value: string,
    /** Where it came from: `--comfyui-version`, `comfyuiVersion`, a server's `/system_stats`. */
    readonly source: string,
    /** Why it is not a release number, when more can be said than "not a version". */
    readonly problem?: string,
    /** What to write instead, when the default advice does not fit. */
    fix?: string,
  ) {
    super(
      "USAGE",
      `${source}: ${JSON.stringify(value)} is not a ComfyUI version${problem ? ` (${problem})` : ""}`,
      fix ??
        `Give a release number such as ${OLDEST_COMFYUI_VERSION} or ${NEWEST_COMFYUI_VERSION} (major.minor.patch, as /system_stats reports in system.comfyui_version; a leading "v" is fine); omit it to behave like ${NEWEST_COMFYUI_VERSION}.`,
    );
  }
}

// A release as comfyui_version.py writes it ("0.3.64"), or its git tag ("v0.3.64"); build
// metadata ("+cu128") does not change the release (semver §10) and is dropped.
const VERSION_RE =
  /^[vV]?(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Parses a ComfyUI release number: `major.minor.patch` as `comfyui_version.py` writes it, with
 * an optional leading `v` (its git tags) and an optional build suffix (`+cu128`, ignored).
 * Refused with a reason: a pre-release (`0.33.0-rc1`: it precedes 0.33.0 and may lack some of
 * its changes, so neither release's rules are known to fit), a partial number (`0.3`: every
 * ComfyUI release has three parts, and `0.3` could mean 0.3.0 or the whole 0.3 series), a leading
 * zero (`00.3.64`). Any release number parses, also one outside what comfyc models; see
 * {@link comfyuiVersionNote}.
 *
 * @param source names the flag or field in the error (`--comfyui-version`).
 * @throws {ComfyuiVersionError} (code `USAGE`) when `text` is not a release number.
 * @example parseComfyuiVersion("v0.10.0").minor // 10
 */
export function parseComfyuiVersion(text: string, source = "comfyuiVersion"): ComfyuiVersion {
  const parsed = tryParseComfyuiVersion(text);
  if (parsed) return parsed;
  const value = String(text);
  const core = value.trim().replace(/^[vV]/, "");
  const pre = /^(\d+\.\d+\.\d+)-([0-9A-Za-z.-]+)/.exec(core);
  if (pre && tryParseComfyuiVersion(pre[1]))
    throw new ComfyuiVersionError(
      value,
      source,
      `"-${pre[2]}" marks a pre-release, which comes before ${pre[1]} and may lack some of its changes`,
      `comfyc models releases only: give ${pre[1]} if the build has all of that release's changes, or the release before it.`,
    );
  if (/^\d+\.\d+$/.test(core) || /^\d+$/.test(core))
    throw new ComfyuiVersionError(
      value,
      source,
      "a release number has three parts, major.minor.patch",
      `Give the whole release number, such as ${OLDEST_COMFYUI_VERSION} or ${NEWEST_COMFYUI_VERSION}, as /system_stats reports it in system.comfyui_version.`,
    );
  if (/^\d+\.\d+\.\d+$/.test(core) && /(^|\.)0\d/.test(core))
    throw new ComfyuiVersionError(
      value,
      source,
      "a part has a leading zero",
      `Write it without leading zeros: ${core.split(".").map(Number).join(".")}.`,
    );
  throw new ComfyuiVersionError(value, source);
}

/**
 * {@link parseComfyuiVersion} that returns `undefined` instead of throwing (server replies: a
 * server reporting something else, such as a fork's own numbering, is treated as unknown).
 */
export function tryParseComfyuiVersion(text: unknown): ComfyuiVersion | undefined {
  if (typeof text !== "string") return undefined;
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  const [major, minor, patch] = [m[1]!, m[2]!, m[3]!].map(Number) as [number, number, number];
  return Object.freeze({ major, minor, patch, text: `${major}.${minor}.${patch}` });
}

/**
 * The release whose rules comfyc applies for `version`: the version itself between
 * {@link OLDEST_COMFYUI_VERSION} and {@link NEWEST_COMFYUI_VERSION}; a newer one gets the newest
 * release's rules (comfyc cannot know what changed since), an older one the oldest's (the
 * protocol document describes nothing before 0.3.64).
 */
export function appliedComfyuiRelease(version: string | ComfyuiVersion): string {
  const v = typeof version === "string" ? parseComfyuiVersion(version) : version;
  if (compareComfyuiVersions(v, NEWEST_COMFYUI_VERSION) > 0) return NEWEST_COMFYUI_VERSION;
  if (compareComfyuiVersions(v, OLDEST_COMFYUI_VERSION) < 0) return OLDEST_COMFYUI_VERSION;
  return v.text;
}

/**
 * One line for a version outside the releases comfyc models, naming the release whose rules
 * apply instead (see {@link appliedComfyuiRelease}); `undefined` for a modelled one.
 *
 * @param source names where the version came from (`--comfyui-version`, the server's `/system_stats`).
 * @example comfyuiVersionNote("0.34.0", "--comfyui-version")
 * // "--comfyui-version: ComfyUI 0.34.0 is newer than the newest release comfyc models (0.33.0): 0.33.0's rules apply, and what 0.34.0 changed is not modelled"
 */
export function comfyuiVersionNote(
  version: string | ComfyuiVersion,
  source = "comfyuiVersion",
): string | undefined {
  const v = typeof version === "string" ? parseComfyuiVersion(version, source) : version;
  const applied = appliedComfyuiRelease(v);
  if (applied === v.text) return undefined;
  return applied === NEWEST_COMFYUI_VERSION
    ? `${source}: ComfyUI ${v.text} is newer than the newest release comfyc models (${applied}): ${applied}'s rules apply, and what ${v.text} changed is not modelled`
    : `${source}: ComfyUI ${v.text} is older than the oldest release comfyc models (${applied}): ${applied}'s rules apply`;
}

/** Versions already warned about, so each is reported once per process. */
const noted = new Set<string>();

/**
 * Reports {@link comfyuiVersionNote} once per version and process: to `warn` when given (the
 * CLI's stderr), else as a Node process warning (`process.emitWarning`, code
 * `COMFYC_UNMODELLED_COMFYUI`; listen with `process.on("warning")`, silence with
 * `--no-warnings`). Returns the note, or `undefined` for a modelled release.
 */
export function noteComfyuiVersion(
  version: ComfyuiVersion,
  source: string,
  warn?: (line: string) => void,
): string | undefined {
  const note = comfyuiVersionNote(version, source);
  if (note === undefined || noted.has(version.text)) return note;
  noted.add(version.text);
  if (warn) warn(note);
  else process.emitWarning(note, { code: "COMFYC_UNMODELLED_COMFYUI" });
  return note;
}

/**
 * Compares two versions numerically per component: negative when `a` is older, 0 when equal,
 * positive when newer. Strings are parsed (and throw {@link ComfyuiVersionError} when invalid).
 */
export function compareComfyuiVersions(
  a: string | ComfyuiVersion,
  b: string | ComfyuiVersion,
): number {
  const x = typeof a === "string" ? parseComfyuiVersion(a) : a;
  const y = typeof b === "string" ? parseComfyuiVersion(b) : b;
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch;
}

/** One version-dependent behaviour, keyed by the first release that has it. */
export interface ComfyuiBehaviourInfo {
  /** First release that has it, or `null` when seen only in unreleased files (off unless asked). */
  readonly since: string | null;
  /** What changes for a client. */
  readonly summary: string;
  /** Commit, PR and row of `comfyui-protocol-changes.md` it comes from. */
  readonly source: string;
}

/**
 * Every version-dependent behaviour comfyc models, keyed by the first release that has it.
 * Before `since`, ComfyUI behaves as v0.3.64 did (protocol document).
 */
export const COMFYUI_BEHAVIOURS = {
  // Validation (execution.py, comfy_execution/validation.py).
  matchTypeMatchesAny: {
    since: "0.4.0",
    summary: "COMFY_MATCHTYPE_V3 on either side of a link always matches",
    source: "c120eee5, #10832 (changes #9)",
  },
  comboOptionsChecked: {
    since: "0.8.0",
    summary: 'V3 "COMBO" values are membership-checked against options (default [])',
    source: "0be8a76c, #11345 (changes #6)",
  },
  starMatchesAny: {
    since: "0.8.0",
    summary: '"*" on either side of a link, or inside a comma set, matches any type',
    source: "0be8a76c, validation.py (changes #8)",
  },
  listOutputIntoCombo: {
    since: "0.8.0",
    summary: 'a list-typed (combo) output linked into a "COMBO" input matches',
    source: "0be8a76c, validation.py (changes #8)",
  },
  comboOutputTyped: {
    since: "0.8.0",
    summary: 'a V3 Combo.Output reports "COMBO" in /object_info, not its options list',
    source: "0be8a76c (changes #10)",
  },
  dynamicInputLastSegment: {
    since: "0.8.0",
    summary:
      "required_input_missing on a node with V3 dynamic inputs: details is the last dotted segment",
    source: "0be8a76c, #11345 execution.py (changes #12)",
  },
  nodeReplacement: {
    since: "0.14.0",
    summary:
      "POST /prompt rewrites replaced node classes before validation; a prompt that is not an object answers 500",
    source: "596ed686, #12014 (changes #18)",
  },
  nodeReplacementSkipsIncomplete: {
    since: "0.15.1",
    summary: "node replacement skips nodes without class_type or inputs (0.14.x answers 500)",
    source: "33f83d53, #12595 (changes #5)",
  },
  missingNodeType: {
    since: "0.12.0",
    summary: "missing_node_type (with _meta.title) replaces invalid_prompt for unknown classes",
    source: "32621c6a, #12194 (changes #5)",
  },
  dependencyCycle: {
    since: "0.20.0",
    summary: "dependency_cycle on every node of a cycle (0.3.64 answers 400 with no node_errors)",
    source: "2327fa1c, #13169 (changes #11)",
  },
  annotatedFileNames: {
    since: "0.20.0",
    summary: 'GET /internal/files/{type} lists "name [type]", so LoadImageOutput values carry it',
    source: "138571da, #13305 (changes #20)",
  },
  multiselectPerElement: {
    since: "0.21.0",
    summary: "multiselect lists are checked per element; details list only the invalid values",
    source: "431fadb5, #13484 (changes #7)",
  },
  // Server, queue and history (server.py, main.py, comfy_execution/jobs.py).
  queueSensitiveElement: {
    since: "0.3.68",
    summary: "API keys in extra_data move to a 6th queue element and leave /queue and history",
    source: "8cf2ba4b, #10502 (changes #14)",
  },
  extraDataCreateTime: {
    since: "0.3.69",
    summary: "extra_data.create_time (ms) is added at queue time",
    source: "2fde9597, #10741 (changes #15)",
  },
  usageSourceHeader: {
    since: "0.25.0",
    summary:
      "POST /prompt stores the Comfy-Usage-Source header as extra_data.comfy_usage_source when absent",
    source: "bc5f8eca, #14404 (changes #17)",
  },
  systemStatsPlatform: {
    since: "0.4.0",
    summary: '/system_stats system.os is sys.platform ("linux"), not os.name ("posix")',
    source: "server.py (changes #27)",
  },
  jobsApi: {
    since: "0.6.0",
    summary: "GET /api/jobs and GET /api/jobs/{id}",
    source: "1ca89b81, #11054 (changes #2)",
  },
  jobsCancelledStatus: {
    since: "0.9.0",
    summary: 'jobs report the status "cancelled"',
    source: "04c49a29 (changes #4)",
  },
  ramPressureCache: {
    since: "0.23.0",
    summary: "the default cache keeps results across unrelated prompts while RAM allows",
    source: "5aa5ccc9, #13802 (changes #39)",
  },
  promptIdUuid: {
    since: "0.25.0",
    summary:
      "POST /prompt: a client prompt_id must be a canonical lowercase UUID (400 invalid_prompt_id)",
    source: "e5b7140d, #13998 (changes #1)",
  },
  audioNamesNoTrailingUnderscore: {
    since: "0.25.0",
    summary: "saved audio files are named <prefix>_00001.flac (no trailing underscore)",
    source: "ab0d8a92, #13871 (changes #26)",
  },
  jobsCancel: {
    since: "0.26.0",
    summary: "POST /api/jobs/{id}/cancel and POST /api/jobs/cancel (atomic interrupt_if_running)",
    source: "4e716f7c, #14493 (changes #3)",
  },
  saveText: {
    since: "0.28.0",
    summary: 'SaveText writes <prefix>_00001.txt and shows {"text": [...], "files": [...]}',
    source: "94fa0822 (changes #25, #26)",
  },
  jobsPreviewableCount: {
    since: "0.32.0",
    summary: "jobs carry previewable_outputs_count",
    source: "a683fa6e (changes #4)",
  },
  previewUI3DBackground: {
    since: "0.4.0",
    summary:
      'Preview3D shows {"result": [model_file, camera_info, bg_image_path]} (a third item, null without bg_image)',
    source: "440268d3 (changes #25)",
  },
  // Seen on the real 0.33.0 and not on 0.3.64 (differential suite); the changes document does
  // not name the release that brought them, so they are keyed to 0.33.0, the first release known
  // to have them.
  previewAnySixEdgeItems: {
    since: "0.33.0",
    summary:
      "PreviewAny prints tensors with torch.set_printoptions(edgeitems=6) (six items per edge of a summarised dimension)",
    source: "comfy_extras/nodes_preview_any.py of 0.33.0 vs 0.3.64 (not in the changes document)",
  },
  saveOutsideErrorWithoutCommonpath: {
    since: "0.33.0",
    summary:
      "a save outside the output folder fails with a message naming full_output_folder and output_dir, without the commonpath line",
    source: "folder_paths.py get_save_image_path of 0.33.0 vs 0.3.64 (not in the changes document)",
  },
  validationRecursionTwoLevelsShallower: {
    since: "0.33.0",
    summary:
      "validate_inputs hits Python's recursion limit two links sooner: RecursionError at link depth 979 (the output node is depth 1) where 0.3.64 reaches 981",
    source:
      "observed on the real 0.3.64 and 0.33.0 with chains of ImageInvert (execution.py validate_inputs recursion; the server's frames below it changed; not in the changes document)",
  },
  tracebackFrames0330: {
    since: "0.33.0",
    summary:
      "execution_error tracebacks carry 0.33.0's frames (execution.py lines 545/344/318/306, V3 savers through comfy_api's wrappers, LoadImage reading through PyAV first, so a missing file raises av.error.FileNotFoundError); before, 0.3.64's",
    source:
      "traceback.format_tb of the real 0.33.0 vs 0.3.64 (differential suite). Line numbers move with almost every release and the changes document dates none of them: releases between get 0.3.64's frames, their own line numbers are unknown",
  },
  // Seen only in later single files whose release is unknown (changes §J): off unless asked.
  duplicatePromptId: {
    since: null,
    summary: 'POST /prompt with a prompt_id already used answers 409 "prompt_id already exists"',
    source: "server.py@5e14d797 only (changes #1, §J)",
  },
  socketConnectionId: {
    since: null,
    summary: "a reconnecting clientId no longer loses its socket to the stale one's cleanup",
    source: "server.py@5e14d797 only (changes #34, §B)",
  },
  progressStateActivity: {
    since: null,
    summary: "progress_state nodes carry activity and seconds",
    source: "progress.py@f098700b only (changes #34)",
  },
} as const satisfies Record<string, ComfyuiBehaviourInfo>;

/** The name of a version-dependent behaviour (a key of {@link COMFYUI_BEHAVIOURS}). */
export type ComfyuiBehaviour = keyof typeof COMFYUI_BEHAVIOURS;

/** The behaviours that no release is known to have. */
export type UnreleasedBehaviour = {
  [K in ComfyuiBehaviour]: (typeof COMFYUI_BEHAVIOURS)[K]["since"] extends null ? K : never;
}[ComfyuiBehaviour];

/** Options of {@link comfyuiRules}. */
export interface ComfyuiRulesOptions {
  /** Turns on behaviours seen only in unreleased files (off by default for every version). */
  readonly unreleased?: readonly UnreleasedBehaviour[];
  /** Names the option or flag the version came from, for the error text. */
  readonly source?: string;
  /**
   * How a version outside the releases comfyc models is reported (once per version and
   * process, see {@link noteComfyuiVersion}): a function for the line (a CLI's stderr), `false`
   * for not at all; default a Node process warning.
   */
  readonly warn?: ((line: string) => void) | false;
}

/** What one ComfyUI release does: its version and the behaviours it has. */
export interface ComfyuiRules {
  readonly version: ComfyuiVersion;
  /** True when this release has `behaviour` (or it was asked for, for unreleased ones). */
  has(behaviour: ComfyuiBehaviour): boolean;
}

/**
 * The behaviours of one ComfyUI release. Without a version, those of
 * {@link NEWEST_COMFYUI_VERSION}; unreleased behaviours are off unless listed in `unreleased`.
 * A release newer than {@link NEWEST_COMFYUI_VERSION} gets the newest release's behaviours, one
 * older than {@link OLDEST_COMFYUI_VERSION} the oldest's, and a warning says so (`warn`).
 *
 * @throws {ComfyuiVersionError} for a string that is not a version.
 * @example comfyuiRules("0.3.64").has("dependencyCycle") // false
 */
export function comfyuiRules(
  version?: string | ComfyuiVersion | ComfyuiRules,
  options: ComfyuiRulesOptions = {},
): ComfyuiRules {
  if (version !== undefined && typeof version === "object" && "has" in version) return version;
  // The default rules are asked for on every validation (the builder's compile): made once.
  const isDefault = version === undefined && !options.unreleased?.length;
  if (isDefault && defaultRules) return defaultRules;
  const v =
    version === undefined
      ? parseComfyuiVersion(NEWEST_COMFYUI_VERSION)
      : typeof version === "string"
        ? parseComfyuiVersion(version, options.source)
        : version;
  if (version !== undefined && options.warn !== false)
    noteComfyuiVersion(v, options.source ?? "comfyuiVersion", options.warn);
  const asked = new Set<ComfyuiBehaviour>(options.unreleased ?? []);
  const enabled = new Set<ComfyuiBehaviour>();
  for (const [name, info] of Object.entries(COMFYUI_BEHAVIOURS) as [
    ComfyuiBehaviour,
    ComfyuiBehaviourInfo,
  ][]) {
    const on = info.since === null ? asked.has(name) : compareComfyuiVersions(v, info.since) >= 0;
    if (on) enabled.add(name);
  }
  const rules = Object.freeze({ version: v, has: (b: ComfyuiBehaviour) => enabled.has(b) });
  if (isDefault) defaultRules = rules;
  return rules;
}

let defaultRules: ComfyuiRules | undefined;
