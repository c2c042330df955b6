// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Module boundaries from STYLE.md: what each folder of src/ may import. */
const boundary = (folder, forbidden) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: forbidden.map((f) => ({
          group: [`**/${f}/*`, `../${f}/*`, `../../${f}/*`],
          message: `src/${folder} may not import src/${f} (see STYLE.md, module boundaries).`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ["dist/", "generated/", "tmp/", "coverage/", "node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/no-empty-object-type": "off",
      "no-control-regex": "off",
    },
  },
  {
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  boundary("protocol", ["schema", "codegen", "builder", "runtime", "testing", "cli"]),
  boundary("schema", ["codegen", "builder", "runtime", "testing", "cli"]),
  boundary("codegen", ["builder", "runtime", "testing", "cli"]),
  boundary("builder", ["codegen", "runtime", "testing", "cli"]),
  boundary("import", ["codegen", "runtime", "testing", "cli"]),
  boundary("runtime", ["codegen", "testing", "cli", "schema"]),
  boundary("testing", ["codegen", "builder", "runtime", "cli"]),
  boundary("scale", ["codegen", "testing", "cli", "schema", "gateway"]),
);
