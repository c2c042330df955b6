import { fileURLToPath } from "node:url";
import type { SourceLocation } from "./types.js";

const builderDir = fileURLToPath(new URL(".", import.meta.url));

const FRAME = /(?:\(|\s|^)((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/;

/**
 * A creation site, captured cheaply: V8 records the raw frames, and formatting them (with
 * source maps, the expensive part) waits until {@link resolveCallSite} reads them, which only
 * errors and reports do.
 */
export interface CallSite {
  readonly stack?: string;
}

/**
 * Captures the stack above `below` (a builder method the user called) without formatting it.
 * A few frames suffice because the first is already the user's; capturing fewer is cheaper.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function captureCallSite(below: Function = captureCallSite): CallSite {
  const holder: { stack?: string } = {};
  const previous = Error.stackTraceLimit;
  Error.stackTraceLimit = below === captureCallSite ? 12 : 4;
  Error.captureStackTrace(holder, below);
  Error.stackTraceLimit = previous;
  return holder;
}

const resolved = new WeakMap<CallSite, SourceLocation | null>();

/**
 * The first frame of a captured stack outside comfyc's builder: where the user's code created a
 * node. Node and tsx both apply source maps, so TypeScript files report their own lines.
 */
export function resolveCallSite(site: CallSite): SourceLocation | undefined {
  let location = resolved.get(site);
  if (location === undefined) {
    location = firstUserFrame(site.stack) ?? null;
    resolved.set(site, location);
  }
  return location ?? undefined;
}

/** {@link resolveCallSite} of the caller of this function. */
export function callerLocation(): SourceLocation | undefined {
  return resolveCallSite(captureCallSite());
}

function firstUserFrame(stack: string | undefined): SourceLocation | undefined {
  const lines = stack?.split("\n").slice(1) ?? [];
  for (const line of lines) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith("file://")) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    if (file.startsWith("node:") || file.startsWith(builderDir)) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/** `file:line:column`, relative to `cwd` when inside it. */
export function formatLocation(loc: SourceLocation, cwd = process.cwd()): string {
  const file = loc.file.startsWith(`${cwd}/`) ? loc.file.slice(cwd.length + 1) : loc.file;
  return `${file}:${loc.line}:${loc.column}`;
}
