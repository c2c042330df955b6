import { isIdentifierName } from "../../schema/identifiers.js";

/**
 * The one quoting helper for property names: identifier names are written bare, anything else
 * as a JSON string literal (`"input_blocks.0."`), which cannot break out of the property.
 */
export function propertyName(name: string): string {
  return isIdentifierName(name) && name !== "__proto__" ? name : stringLiteral(name);
}

/**
 * A string literal for any untrusted text: JSON escaping is valid TypeScript escaping. Quotes
 * follow prettier's choice (see {@link prettierString}) so printed code is already formatted.
 */
export function stringLiteral(text: string): string {
  return prettierString(text);
}

/**
 * A string literal as prettier prints it: double quotes unless the text holds more double than
 * single quotes, escapes kept.
 */
export function prettierString(text: string): string {
  const json = JSON.stringify(text);
  const raw = json.slice(1, -1);
  // Counted and rewritten with indexOf (native) rather than a loop over every character: this
  // runs over every embedded node-info JSON, megabytes on big schemas.
  if (!prefersSingleQuotes(raw)) return json;
  // Single quotes: `\"` loses its backslash and a bare `'` gains one; other escapes stay
  // (JSON.stringify never escapes `'`). The slices are joined once into a flat string.
  const parts: string[] = ["'"];
  let from = 0;
  let backslash = raw.indexOf("\\");
  let quote = raw.indexOf("'");
  while (backslash !== -1 || quote !== -1) {
    if (quote === -1 || (backslash !== -1 && backslash < quote)) {
      if (raw.charCodeAt(backslash + 1) === 34) {
        parts.push(raw.slice(from, backslash));
        from = backslash + 1;
      }
      backslash = raw.indexOf("\\", backslash + 2);
    } else {
      parts.push(raw.slice(from, quote), "\\");
      from = quote;
      quote = raw.indexOf("'", quote + 1);
    }
  }
  parts.push(raw.slice(from), "'");
  return parts.join("");
}

/**
 * {@link stringLiteral} of text that `JSON.stringify` produced, which holds no raw control
 * characters or lone surrogates: quoting it only escapes `"` and `\\`, so the single-quoted
 * form prettier prefers is the text with `\\` doubled and `'` escaped, made without quoting it
 * twice. Used for the node-info JSON embedded in generated modules.
 */
export function jsonTextLiteral(json: string): string {
  if (!prefersSingleQuotes(json)) return JSON.stringify(json);
  return `'${json.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** Prettier's choice: single quotes when the text holds more double than single quotes. */
function prefersSingleQuotes(text: string): boolean {
  let singles = 0;
  for (let i = text.indexOf("'"); i !== -1; i = text.indexOf("'", i + 1)) singles++;
  // Double quotes are counted only until they outnumber the single ones: a node-info JSON holds
  // hundreds of them (275,000 on a 1,686-class schema) and mostly no single quote.
  let doubles = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) {
    if (++doubles > singles) return true;
  }
  return false;
}

/** A literal type or expression for a combo value. */
export function literal(value: string | number | boolean): string {
  if (typeof value === "string") return stringLiteral(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "number";
    return Object.is(value, -0) ? "0" : String(value);
  }
  return value ? "true" : "false";
}

/**
 * Anything {@link docText} would change: a line break or separator, a control character, `@`,
 * `*\/`, or white space at either end.
 */
const NEEDS_DOC_ESCAPE =
  /[\n\r\u2028\u2029\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f@]|\*\/|^\s|\s$/;

/**
 * The one TSDoc escaper: untrusted text placed inside a `/** … *\/` comment. `*\/` would end
 * the comment and is broken up; `@` at a word start would read as a tag and is escaped;
 * CR/LF variants and Unicode line separators become plain newlines.
 */
export function docText(text: string): string {
  // Most texts hold nothing to change: one native test instead of five rewrites.
  if (!NEEDS_DOC_ESCAPE.test(text)) return text;
  return text
    .replace(/\r\n?|[\u2028\u2029]/g, "\n")
    .replace(/\*\//g, "*\\/")
    .replace(/(^|\s)@/g, "$1\\@")
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "")
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim();
}

/** Inline code in TSDoc: backticks inside are replaced so the span cannot end early. */
export function docCode(text: string): string {
  return `\`${docText(text).replace(/`/g, "ˋ").replace(/\n/g, " ")}\``;
}
