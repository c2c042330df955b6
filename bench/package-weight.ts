/**
 * What a project installs with comfyc: `node_modules` of fresh `npm init -y` projects that
 * install `npm pack` of this checkout
 * - runtime only: `npm install comfyc` (the builder, validator, importer and runtime; npm adds
 *   the peer zod, leaves the optional peers out),
 * - the CLI: plus the optional peers every command but worker/enqueue/jobs uses (the README's
 *   install line),
 * - everything: plus `comfyc/scale` (BullMQ, ioredis, pino, prom-client) and S3 (AWS SDK v3).
 * Sizes are the apparent bytes of every file (MB = 10^6 bytes); ratios are to runtime only.
 * Target for runtime only: at most 15 MB (issue #10).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { S3_PACKAGES, SCALE_PACKAGES } from "../src/scale/packages.js";
import { install, newProject, packComfyc, removeAll, treeBytes } from "../test/packed.js";
import { ROOT } from "./util.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const optional = Object.keys(pkg.peerDependenciesMeta).filter(
  (p) => pkg.peerDependenciesMeta[p]!.optional,
);
const scale = [...SCALE_PACKAGES, ...S3_PACKAGES];
const cliPeers = optional.filter((p) => !scale.includes(p));
const spec = (names: readonly string[]) => names.map((p) => `${p}@${pkg.peerDependencies[p]}`);

const tarball = packComfyc({ build: true });
const rows: [label: string, extra: readonly string[]][] = [
  ["runtime only (npm install comfyc)", []],
  [`the CLI (+ ${cliPeers.length} optional peers)`, cliPeers],
  [`everything (+ scale and S3, ${optional.length} peers)`, optional],
];
const projects: string[] = [];
try {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const count = (dir: string) =>
    readdirSync(dir).flatMap((n) =>
      n.startsWith("@") ? readdirSync(join(dir, n)) : n.startsWith(".") ? [] : [n],
    ).length;
  console.log("node_modules of a fresh npm project installing the packed comfyc:");
  let base = 0;
  for (const [label, extra] of rows) {
    const project = newProject("comfyc-weight-");
    projects.push(project);
    install(project, [tarball, ...spec(extra)]);
    const modules = join(project, "node_modules");
    const bytes = treeBytes(modules);
    base ||= bytes;
    const note =
      base === bytes
        ? `comfyc itself ${mb(treeBytes(join(modules, "comfyc")))}; ${bytes <= 15e6 ? "within" : "OVER"} the 15 MB target`
        : `${(bytes / base).toFixed(1)}× runtime only`;
    console.log(
      `  ${label.padEnd(44)}${mb(bytes).padStart(9)}  ${String(count(modules)).padStart(3)} packages  (${note})`,
    );
  }
} finally {
  removeAll(...projects, join(tarball, ".."));
}
