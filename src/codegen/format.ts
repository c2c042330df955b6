import * as prettier from "prettier";

/** The formatting generated files get, whatever the user's own prettier configuration says. */
export const PRETTIER_OPTIONS: prettier.Options = {
  parser: "typescript",
  printWidth: 100,
};

/** Formats generated TypeScript with prettier. */
export async function formatTypeScript(text: string): Promise<string> {
  return prettier.format(text, PRETTIER_OPTIONS);
}
