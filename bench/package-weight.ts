/**
 * What a project installs with comfyc: the `node_modules` size of a project that only builds
 * and runs workflows (`npm install comfyc`, optional peer dependencies left out), and of one
 * with everything the CLI uses (`npm install comfyc` plus every optional peer). Both from
 * `npm pack` of this checkout, in fresh `npm init -y` projects; the ratio is full ÷ runtime.
 * Sizes are the apparent bytes of every file (MB = 10^6 bytes), as `du -s --apparent-size`.
 * Target for the runtime-only project: at most 15 MB (issue #10).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { OPTIONAL_PACKAGES } from "../src/errors.js";
import { install, newProject, packComfyc, removeAll, treeBytes } from "../test/packed.js";
import { ROOT } from "./util.js";

const tarball = packComfyc();
const runtime = newProject("comfyc-weight-runtime-");
const full = newProject("comfyc-weight-full-");
try {
  const peers = (
    JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      peerDependencies: Record<string, string>;
    }
  ).peerDependencies;
  install(runtime, [tarball]);
  install(full, [tarball, ...OPTIONAL_PACKAGES.map((p) => `${p}@${peers[p]}`)]);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const count = (dir: string) =>
    readdirSync(join(dir, "node_modules")).flatMap((n) =>
      n.startsWith("@") ? readdirSync(join(dir, "node_modules", n)) : n.startsWith(".") ? [] : [n],
    ).length;
  const r = treeBytes(join(runtime, "node_modules"));
  const f = treeBytes(join(full, "node_modules"));
  const own = treeBytes(join(runtime, "node_modules", "comfyc"));
  console.log("node_modules of a fresh npm project that installs the packed comfyc:");
  console.log(
    `  runtime only (npm install comfyc)        ${mb(r).padStart(9)}  ${count(runtime)} packages (comfyc itself ${mb(own)}) ${r <= 15e6 ? "≤ 15 MB target" : "OVER the 15 MB target"}`,
  );
  console.log(
    `  full CLI (+ ${OPTIONAL_PACKAGES.length} optional peers)            ${mb(f).padStart(9)}  ${count(full)} packages  (${(f / r).toFixed(1)}× runtime only)`,
  );
} finally {
  removeAll(runtime, full, join(tarball, ".."));
}
