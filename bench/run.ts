/** Runs every benchmark in bench/ in turn: `npm run bench`, or `npm run bench -- codegen`. */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
for (const file of readdirSync(dir).sort()) {
  const name = file.replace(/\.ts$/, "");
  if (!file.endsWith(".ts") || ["run", "util"].includes(name)) continue;
  if (only.length && !only.includes(name)) continue;
  console.log(`\n## ${name}`);
  await import(new URL(file, import.meta.url).href);
}
