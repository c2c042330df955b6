import { fileURLToPath } from "node:url";
import type { SourceLocation } from "./types.js";

const builderDir = fileURLToPath(new URL(".", import.meta.url));

const FRAME = /(?:\(|\s|^)((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/;

/**
 * The first stack frame outside comfyc's builder: where the user's code created a node. Node
 * and tsx both apply source maps, so TypeScript files report their own lines.
 */
export function callerLocation(): SourceLocation | undefined {
  const holder: { stack?: string } = {};
  const previous = Error.stackTraceLimit;
  Error.stackTraceLimit = 12;
  Error.captureStackTrace(holder, callerLocation);
  Error.stackTraceLimit = previous;
  const lines = holder.stack?.split("\n").slice(1) ?? [];
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
