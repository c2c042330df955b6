/**
 * Memory of reading workflows from large output files: peak RSS of `comfyc convert` on 1 GiB
 * files (a PNG whose text chunks precede a 1 GiB IDAT, an APNG whose `comf` chunks follow one,
 * an MP4 with a 1 GiB `mdat`) against the same command on the small originals, and against
 * reading the 1 GiB file into memory (what `comfyc convert` did before it read by chunk). Each
 * run is its own process (the CLI from the TypeScript sources through tsx, as `npm run comfyc`);
 * the files are sparse, so making them costs no disk.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { IMPORT_FIXTURES, writeLargeOutputFiles } from "../test/import-helpers.js";
import { ROOT } from "./util.js";

/** The size the media data is grown to: 1 GiB (`BENCH_MEDIA_MIB` to change it). */
const grownBytes = Number(process.env["BENCH_MEDIA_MIB"] ?? 1024) * 1024 * 1024;
const tmp = mkdtempSync(join(tmpdir(), "comfyc-bench-media-"));
try {
  const schema = join(tmp, "object_info.json");
  writeFileSync(
    schema,
    gunzipSync(readFileSync(join(IMPORT_FIXTURES, "object_info-comfyui-0.33.0.json.gz"))),
  );
  const rssHook = join(tmp, "rss.cjs");
  writeFileSync(
    rssHook,
    `process.on("exit", () => require("fs").writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));`,
  );
  /** Runs `node args…`; the child's peak RSS in MiB and its wall time in ms. */
  const run = (args: readonly string[]): { rss: number; ms: number } => {
    const rssFile = join(tmp, "rss");
    const started = performance.now();
    const r = spawnSync(process.execPath, ["--require", rssHook, ...args], {
      cwd: ROOT,
      env: { ...process.env, BENCH_RSS_FILE: rssFile },
      encoding: "utf8",
    });
    const ms = performance.now() - started;
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} failed:\n${r.stderr}`);
    return { rss: Number(readFileSync(rssFile, "utf8")) / 1024, ms };
  };
  const convert = (file: string) =>
    run([
      "--import",
      "tsx",
      "--conditions=comfyc-source",
      join(ROOT, "src", "cli", "bin.ts"),
      "convert",
      file,
      "--schema",
      schema,
      "--out",
      join(tmp, "prompt.json"),
    ]);
  const large = await writeLargeOutputFiles(tmp, grownBytes);
  const media = (name: string) => join(IMPORT_FIXTURES, "media", name);
  const rows: [string, string, string][] = [
    ["PNG (text chunks, then IDAT)", media("comfyui-0.33.0-saveimage.png"), large.png],
    ["APNG (IDAT, then comf chunks)", media("comfyui-0.33.0-saveanimatedpng.png"), large.apng],
    ["MP4 (moov, then mdat)", media("comfyui-0.33.0-savevideo.mp4"), large.mp4],
  ];
  const mib = (n: number) => `${n.toFixed(0)} MiB`;
  // One warm-up so tsx's compile cache is equal for every measured run.
  convert(rows[0]![1]);
  const whole = run(["-e", `require("fs").readFileSync(${JSON.stringify(large.png)})`]);
  const bare = run(["-e", ""]);
  console.log(
    `peak RSS of \`comfyc convert <file> --schema … --out …\` (tsx), small file vs the same grown to ${grownBytes / 1024 / 1024} MiB`,
  );
  for (const [label, small, big] of rows) {
    const a = convert(small);
    const b = convert(big);
    console.log(
      `  ${label.padEnd(30)} ${mib(a.rss)} → ${mib(b.rss)} (${(b.rss / a.rss).toFixed(2)}×), ${a.ms.toFixed(0)} → ${b.ms.toFixed(0)} ms`,
    );
  }
  console.log(
    `  baseline: reading the grown PNG whole (readFileSync, the old way): ${mib(whole.rss)} (a bare node: ${mib(bare.rss)})`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
