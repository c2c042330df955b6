import * as prettier from "prettier";

/**
 * Prettier with the layout generated files have (print width 100), whatever the user's own
 * configuration says. Codegen does not run prettier; tests use this to check that its printer
 * writes prettier's layout (the output is a prettier fixpoint).
 */
export async function formatTypeScript(text: string): Promise<string> {
  return prettier.format(text, { parser: "typescript", printWidth: 100 });
}
