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
  let doubles = 0;
  let singles = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 34) doubles++;
    else if (c === 39) singles++;
  }
  if (doubles <= singles) return json;
  // Single quotes: `\"` loses its backslash and a bare `'` gains one; other escapes stay. A
  // scan collecting slices, not a regex callback per quote (embedded node-info JSON is full of
  // them), joined once into a flat string rather than a rope of thousands of pieces.
  const parts: string[] = ["'"];
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 92) {
      if (raw.charCodeAt(i + 1) === 34) {
        parts.push(raw.slice(from, i));
        from = i + 1;
      }
      i++;
    } else if (c === 39) {
      parts.push(raw.slice(from, i), "\\");
      from = i;
    }
  }
  parts.push(raw.slice(from), "'");
  return parts.join("");
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
 * The one TSDoc escaper: untrusted text placed inside a `/** … *\/` comment. `*\/` would end
 * the comment and is broken up; `@` at a word start would read as a tag and is escaped;
 * CR/LF variants and Unicode line separators become plain newlines.
 */
export function docText(text: string): string {
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
