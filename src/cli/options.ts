import { distance } from "fastest-levenshtein";
import { ComfycError } from "../errors.js";
import {
  noteComfyuiVersion,
  parseComfyuiVersion,
  tryParseComfyuiVersion,
} from "../protocol/comfyui-version.js";
import type { ReplyLimits } from "../runtime/http.js";
import { REPLY_LIMIT_ENV } from "../runtime/reply-limit-env.js";
import type { CliIo } from "./io.js";

/**
 * Parsers for command-line values, shared by every command. Each returns a function for
 * commander's `argParser` (`.option("--port <n>", "…", portOption(), 8188)`) that throws a
 * `USAGE` error (exit 2) naming the flag, the value and what to write instead, so a typo never
 * falls back to a default silently.
 */

/** A `USAGE` error (exit 2): what is wrong with the command line, and what to write instead. */
export function usageError(message: string, hint: string): ComfycError {
  return new ComfycError("USAGE", message, hint);
}

/** commander's collector for repeatable options (`--param a=1 --param b=2`). */
export const collect = (value: string, previous: readonly string[] = []): string[] => [
  ...previous,
  value,
];

/** Bounds, unit and an example value of an integer option. */
export interface IntegerBounds {
  readonly min?: number;
  readonly max?: number;
  /** Shown after the range in messages: `"ms"`. */
  readonly unit?: string;
  /** A sensible value to show in the hint. */
  readonly example?: number;
}

/**
 * Parses a whole decimal number (`"30"`, not `"30.5"`, `"3e4"`, `"abc"` or `""`) within bounds.
 *
 * @throws ComfycError `USAGE` naming `flag`.
 */
export function parseInteger(text: string, flag: string, bounds: IntegerBounds = {}): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER, unit } = bounds;
  const range = `${min}–${max}${unit ? ` ${unit}` : ""}`;
  const example = bounds.example ?? Math.max(min, Math.min(max, 1));
  const hint = `Write a whole number in ${range}, for example ${flag} ${example}.`;
  const trimmed = text.trim();
  const digits = /^[+-]?\d+$/.test(trimmed);
  const n = digits ? Number(trimmed) : Number.NaN;
  // Digits beyond 2^53 are a whole number all the same: too large, not malformed.
  if (digits && !Number.isSafeInteger(n))
    throw usageError(`${flag}: ${trimmed} is out of range`, hint);
  if (!Number.isSafeInteger(n))
    throw usageError(`${flag}: ${JSON.stringify(text)} is not a whole number`, hint);
  if (n < min || n > max) throw usageError(`${flag}: ${n} is out of range`, hint);
  return n;
}

/**
 * The size limits of the CLI's clients (`run`, `validate --url`, `codegen --url`, `worker`, …)
 * from `$COMFYC_MAX_REPLY_BYTES`, `$COMFYC_MAX_FILE_BYTES` and `$COMFYC_MAX_MESSAGE_BYTES`
 * (whole bytes); an unset one keeps the client's default (`DEFAULT_REPLY_LIMITS`).
 *
 * @throws ComfycError `USAGE` (exit 2) naming the variable whose value is not a whole number.
 */
export function replyLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ReplyLimits {
  const limits: Partial<Record<keyof ReplyLimits, number>> = {};
  for (const [name, variable] of Object.entries(REPLY_LIMIT_ENV) as [keyof ReplyLimits, string][]) {
    const text = env[variable];
    if (text === undefined || text.trim() === "") continue;
    limits[name] = parseInteger(text, `$${variable}`, { min: 1, example: 536870912 });
  }
  return limits;
}

/** commander parser for {@link parseInteger}. */
export const integerOption =
  (flag: string, bounds: IntegerBounds = {}) =>
  (text: string): number =>
    parseInteger(text, flag, bounds);

/** commander parser for a duration in milliseconds, at least `min` (default 1). */
export const millisecondsOption = (flag: string, min = 1, example = 60_000) =>
  integerOption(flag, { min, max: 2 ** 31 - 1, unit: "ms", example });

/** commander parser for a TCP port; 0 asks the system for a free one. */
export const portOption =
  (flag = "--port") =>
  (text: string): number => {
    try {
      return parseInteger(text, flag, { min: 0, max: 65535 });
    } catch {
      throw usageError(
        `${flag}: ${JSON.stringify(text)} is not a port number`,
        "Write a port in 0–65535; 0 picks a free one.",
      );
    }
  };

/**
 * Checks and normalizes a ComfyUI server URL: `http:` or `https:`, a host, no query, fragment
 * or credentials; a trailing `/api` is dropped because comfyc adds it to every route itself
 * (ComfyUI serves each route at both `/x` and `/api/x`). A path prefix (a reverse proxy's
 * `https://host/comfy`) is kept. Returns the URL without a trailing slash.
 *
 * @throws ComfycError `USAGE` naming `flag`, with the likely intended URL as hint.
 * @example parseServerUrl("http://127.0.0.1:8188/api/", "--server") // "http://127.0.0.1:8188"
 */
export function parseServerUrl(text: string, flag: string): string {
  const trimmed = text.trim();
  const example = "for example http://127.0.0.1:8188";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1];
  if (!scheme) {
    // "127.0.0.1:8188", "localhost:8188", "http:/host": what people type when they mean http://…
    const bare = trimmed.replace(/^https?:\/*/i, "");
    throw usageError(
      `${flag}: ${JSON.stringify(text)} is not a server URL (no http:// or https://)`,
      bare && !/\s/.test(bare) ? `Did you mean http://${bare}?` : `Write a URL, ${example}.`,
    );
  }
  const rest = trimmed.slice(scheme.length + 3);
  const lower = scheme.toLowerCase();
  if (lower !== "http" && lower !== "https") {
    const guess = lower.startsWith("ws")
      ? lower.replace("ws", "http")
      : didYouMean(lower, ["http", "https"]);
    throw usageError(
      `${flag}: ${JSON.stringify(text)} has the scheme ${scheme}://; a ComfyUI server is http:// or https://`,
      guess
        ? `Did you mean ${guess}://${rest}?${lower.startsWith("ws") ? " (comfyc opens the WebSocket itself.)" : ""}`
        : `Write a URL, ${example}.`,
    );
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw usageError(
      `${flag}: ${JSON.stringify(text)} is not a valid URL`,
      `Write a URL, ${example}.`,
    );
  }
  if (!url.hostname)
    throw usageError(`${flag}: ${JSON.stringify(text)} names no host`, `Write a URL, ${example}.`);
  if (url.username || url.password)
    throw usageError(
      `${flag}: credentials in the URL are not sent`,
      'Pass them as a header instead: --header "Authorization: Basic …" (or Bearer).',
    );
  if (url.search || url.hash)
    throw usageError(
      `${flag}: ${JSON.stringify(text)} has a query or fragment, which comfyc would drop`,
      `Give the server's base URL only (${url.origin}${url.pathname.replace(/\/+$/, "")}); pass tokens with --header.`,
    );
  const path = url.pathname.replace(/\/+$/, "").replace(/\/api$/, "");
  return `${url.origin}${path}`;
}

/** commander parser for {@link parseServerUrl}. */
export const serverUrlOption =
  (flag: string) =>
  (text: string): string =>
    parseServerUrl(text, flag);

/**
 * The candidate closest to `name` by edit distance, when it is close enough to be a typo
 * (at most a third of the longer name, and at most 3 edits), else undefined.
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.min(3, Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)));
  return bestDistance <= limit ? best : undefined;
}

/**
 * commander's parser for `--comfyui-version`: a ComfyUI release number (`0.3.64`, `v0.33.0`;
 * `parseComfyuiVersion` says why anything else is refused, exit 2). A release outside the ones
 * comfyc models is accepted with one `warning:` line on stderr naming the release whose rules
 * apply instead (`comfyuiVersionNote`).
 */
export function comfyuiVersionOption(io: CliIo, flag = "--comfyui-version") {
  return (text: string): string => {
    const version = parseComfyuiVersion(text, flag);
    noteComfyuiVersion(version, flag, (line) => io.warn(`warning: ${line}`));
    return version.text;
  };
}

/**
 * Warns once on stderr when a server reports a ComfyUI release outside the ones comfyc models
 * (the rules that apply instead are named); `version` is the text `readServerSchema` returns.
 */
export function noteServerComfyuiVersion(
  version: string | undefined,
  server: string,
  io: CliIo,
): void {
  const parsed = tryParseComfyuiVersion(version);
  if (parsed)
    noteComfyuiVersion(parsed, `${server} (/system_stats)`, (line) => io.warn(`warning: ${line}`));
}
