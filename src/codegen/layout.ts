/**
 * A small layout engine with prettier's semantics (Wadler's pretty printer as prettier implements
 * it): a group is printed flat when it fits in what is left of the line, up to the next line
 * break that follows it, and broken otherwise. Only the document kinds codegen needs.
 */

/** A layout document. */
export type Doc =
  | string
  | readonly Doc[]
  | { readonly kind: "group"; readonly contents: Doc; readonly break: boolean }
  | { readonly kind: "indent"; readonly contents: Doc; readonly by: number }
  | { readonly kind: "line"; readonly soft: boolean; readonly hard: boolean }
  | { readonly kind: "if-break"; readonly broken: Doc; readonly flat: Doc };

/** A space when flat, a new line when the enclosing group breaks. */
export const line: Doc = { kind: "line", soft: false, hard: false };
/** Nothing when flat, a new line when the enclosing group breaks. */
export const softline: Doc = { kind: "line", soft: true, hard: false };
/** Always a new line (breaks every enclosing group). */
export const hardline: Doc = { kind: "line", soft: false, hard: true };

/** Printed flat if it fits, else with its lines broken. */
export function group(contents: Doc, shouldBreak = false): Doc {
  return { kind: "group", contents, break: shouldBreak || containsHardline(contents) };
}

/** Lines inside are indented by two more spaces. */
export function indent(contents: Doc): Doc {
  return { kind: "indent", contents, by: 2 };
}

/** Lines inside are indented by `by` more spaces (prettier's `align`). */
export function align(by: number, contents: Doc): Doc {
  return { kind: "indent", contents, by };
}

/** `broken` when the enclosing group breaks, else `flat`. */
export function ifBreak(broken: Doc, flat: Doc = ""): Doc {
  return { kind: "if-break", broken, flat };
}

/** `docs` with `separator` between them. */
export function join(separator: Doc, docs: readonly Doc[]): Doc[] {
  const out: Doc[] = [];
  docs.forEach((d, i) => {
    if (i > 0) out.push(separator);
    out.push(d);
  });
  return out;
}

function containsHardline(doc: Doc): boolean {
  if (typeof doc === "string") return false;
  if (Array.isArray(doc)) return (doc as readonly Doc[]).some(containsHardline);
  const d = doc as Exclude<Doc, string | readonly Doc[]>;
  switch (d.kind) {
    case "line":
      return d.hard;
    case "group":
      return d.break;
    case "indent":
      return containsHardline(d.contents);
    case "if-break":
      return containsHardline(d.broken) || containsHardline(d.flat);
  }
}

type Mode = "flat" | "break";

/**
 * The layout engine's work list: a stack of (indent, mode, doc) kept in three parallel arrays
 * rather than one tuple per entry, since printing a long combo union pushes tens of thousands.
 */
class Commands {
  readonly indents: number[] = [];
  readonly modes: Mode[] = [];
  readonly docs: Doc[] = [];

  push(indent: number, mode: Mode, doc: Doc): void {
    this.indents.push(indent);
    this.modes.push(mode);
    this.docs.push(doc);
  }
}

/** Prints `doc` starting at column `start` (with `indent` as the base indentation). */
export function printDoc(doc: Doc, width: number, indentation = 0, start = indentation): string {
  // Pieces, joined once: trimming trailing spaces at each line break only touches the last
  // pieces instead of flattening everything printed so far.
  const out: string[] = [];
  let column = start;
  const commands = new Commands();
  const { indents, modes, docs } = commands;
  commands.push(indentation, "break", doc);
  while (docs.length > 0) {
    const ind = indents.pop()!;
    const mode = modes.pop()!;
    const d = docs.pop()!;
    if (typeof d === "string") {
      out.push(d);
      column += d.length;
      continue;
    }
    if (Array.isArray(d)) {
      // Leading strings are printed at once (they would be taken next), the rest stacked.
      const list = d as readonly Doc[];
      let first = 0;
      for (; first < list.length; first++) {
        const item = list[first]!;
        if (typeof item !== "string") break;
        out.push(item);
        column += item.length;
      }
      for (let i = list.length - 1; i >= first; i--) commands.push(ind, mode, list[i]!);
      continue;
    }
    const x = d as Exclude<Doc, string | readonly Doc[]>;
    switch (x.kind) {
      case "group": {
        const flat = !x.break && fits(x.contents, commands, width - column);
        commands.push(ind, flat ? "flat" : "break", x.contents);
        break;
      }
      case "indent":
        // A string prints alike at any indentation (a union member, mostly): printed at once.
        if (typeof x.contents === "string") {
          out.push(x.contents);
          column += x.contents.length;
        } else commands.push(ind + x.by, mode, x.contents);
        break;
      case "if-break":
        commands.push(ind, mode, mode === "break" ? x.broken : x.flat);
        break;
      case "line":
        if (mode === "flat" && !x.hard) {
          if (!x.soft) {
            out.push(" ");
            column += 1;
          }
        } else {
          trimEnd(out);
          out.push("\n" + " ".repeat(ind));
          column = ind;
        }
        break;
    }
  }
  return out.join("");
}

/**
 * Whether `next` printed flat fits in `width` columns, followed by the pending commands up to
 * their first line break (prettier's `fits` with `mustBeFlat` false). Arrays are walked with an
 * index instead of being pushed whole: a long union gives up after a line's worth of members.
 */
function fits(next: Doc, rest: Commands, width: number): boolean {
  const modes: Mode[] = ["flat"];
  const docs: Doc[] = [next];
  /** For an array on the stack, the index of its next element. */
  const positions: number[] = [0];
  let restIndex = rest.docs.length;
  while (width >= 0) {
    const top = docs.length - 1;
    if (top < 0) {
      if (restIndex === 0) return true;
      restIndex--;
      modes.push(rest.modes[restIndex]!);
      docs.push(rest.docs[restIndex]!);
      positions.push(0);
      continue;
    }
    const d = docs[top]!;
    const mode = modes[top]!;
    if (Array.isArray(d)) {
      const list = d as readonly Doc[];
      const i = positions[top]!;
      if (i >= list.length) {
        docs.pop();
        modes.pop();
        positions.pop();
      } else {
        positions[top] = i + 1;
        modes.push(mode);
        docs.push(list[i]!);
        positions.push(0);
      }
      continue;
    }
    docs.pop();
    modes.pop();
    positions.pop();
    if (typeof d === "string") {
      width -= d.length;
      continue;
    }
    const x = d as Exclude<Doc, string | readonly Doc[]>;
    switch (x.kind) {
      case "group":
        modes.push(x.break ? "break" : mode);
        docs.push(x.contents);
        positions.push(0);
        break;
      case "indent":
        modes.push(mode);
        docs.push(x.contents);
        positions.push(0);
        break;
      case "if-break":
        modes.push(mode);
        docs.push(mode === "break" ? x.broken : x.flat);
        positions.push(0);
        break;
      case "line":
        if (mode === "break" || x.hard) return true;
        if (!x.soft) width -= 1;
        break;
    }
  }
  return false;
}

/** Removes trailing white space from pieces as `pieces.join("").trimEnd()` would. */
function trimEnd(pieces: string[]): void {
  while (pieces.length > 0) {
    const last = pieces[pieces.length - 1]!;
    const trimmed = last.trimEnd();
    if (trimmed !== "") {
      pieces[pieces.length - 1] = trimmed;
      return;
    }
    pieces.pop();
  }
}
