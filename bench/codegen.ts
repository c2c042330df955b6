/**
 * `comfyc codegen` as users run it (the built CLI, one process per run): a cold run into an
 * empty folder, an unchanged re-run, peak memory, and `comfyc --help` start-up. On the bundled
 * schema always; on the 1,686-class dump in ../shared when it is there. When the peer generator
 * (`cfli codegen` of @saintno/comfyui-sdk 0.3.1, `npm ci --prefix bench/peer`) is installed, each
 * comfyc run is paired with the same run of the peer and the ratios are printed. The peer only
 * reads a server, so both read /object_info from the test server (in its own process).
 * Then the type-check cost of a workflow against the 73-class and the 1,686-class output.
 *
 * `BENCH_ROUNDS=n` sets the number of paired rounds (default 5); the peer runs first in every
 * other round.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../src/codegen/generate.js";
import { writeGenerated } from "../src/codegen/write.js";
import { dump, median as medianTime, ms, ROOT, SHARED } from "./util.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5);
const tmp = mkdtempSync(join(tmpdir(), "comfyc-bench-"));
const BIN = join(ROOT, "dist", "cli", "bin.js");
const PEER = join(
  ROOT,
  "bench",
  "peer",
  "node_modules",
  "@saintno",
  "comfyui-sdk",
  "dist",
  "cli.js",
);
const RSS_HOOK = join(tmp, "rss.cjs");
writeFileSync(
  RSS_HOOK,
  `process.on("exit", () => require("fs").writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));`,
);

// The CLI as installed: built JavaScript, not the TypeScript sources through tsx.
execFileSync(process.execPath, [
  join(ROOT, "node_modules", "typescript", "bin", "tsc"),
  "-p",
  join(ROOT, "tsconfig.build.json"),
]);

interface Run {
  readonly ms: number;
  readonly rssMiB: number;
}

/** Runs `node args…` to completion; wall time and the child's peak RSS. */
function run(args: readonly string[]): Run {
  const rssFile = join(tmp, "rss");
  const started = performance.now();
  const r = spawnSync(process.execPath, ["--require", RSS_HOOK, ...args], {
    env: { ...process.env, BENCH_RSS_FILE: rssFile },
    encoding: "utf8",
  });
  const elapsed = performance.now() - started;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
  return { ms: elapsed, rssMiB: Number(readFileSync(rssFile, "utf8")) / 1024 };
}

/** Starts `comfyc serve` on `schema` in its own process; its URL and a stop function. */
async function serve(schema: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--object-info", schema], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.once("data", (line: string) => resolve(line.trim()));
    child.once("exit", (code) => reject(new Error(`comfyc serve exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

const range = (xs: readonly number[], f: (n: number) => string) =>
  `${f(mid(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
const secs = (n: number) => `${(n / 1000).toFixed(2)} s`;
const mib = (n: number) => `${n.toFixed(0)} MiB`;
const times = (n: number) => `${n.toFixed(2)}×`;
const mid = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(label: string, schema: string): Promise<void> {
  const server = await serve(schema);
  const peer = existsSync(PEER);
  const rows = new Map<string, { ours: number[]; theirs: number[] }>();
  const add = (row: string, ours: number, theirs?: number) => {
    const r = rows.get(row) ?? { ours: [], theirs: [] };
    r.ours.push(ours);
    if (theirs !== undefined) r.theirs.push(theirs);
    rows.set(row, r);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const out = join(tmp, `gen-${round}`);
      const peerOut = join(tmp, `peer-${round}.ts`);
      const comfyc = (...extra: string[]) => run([BIN, "codegen", ...extra, "--out", out]);
      const cfli = () =>
        peer ? run([PEER, "codegen", "-H", server.url, "-o", peerOut]) : undefined;
      // Who runs first alternates from round to round, so neither side always meets the
      // caches (and any other load) the other one left.
      const peerFirst = round % 2 === 1;
      const pair = (ours: () => Run) => {
        const theirs = peerFirst ? cfli() : undefined;
        const o = ours();
        return { ours: o, theirs: peerFirst ? theirs : cfli() };
      };
      const { ours: coldUrl, theirs: peerCold } = pair(() => comfyc("--url", server.url));
      add("cold, over HTTP", coldUrl.ms, peerCold?.ms);
      add("peak RSS, cold", coldUrl.rssMiB, peerCold?.rssMiB);
      // The peer has no up-to-date check: its re-run is a full run.
      const { ours: again, theirs: peerAgain } = pair(() => comfyc("--url", server.url));
      add("unchanged re-run, over HTTP", again.ms, peerAgain?.ms);
      add("peak RSS, re-run", again.rssMiB, peerAgain?.rssMiB);
      rmSync(out, { recursive: true });
      add("cold, --file", comfyc("--file", schema).ms);
      add("unchanged re-run, --file", comfyc("--file", schema).ms);
      add(
        "start-up (--help)",
        run([BIN, "--help"]).ms,
        peer ? run([PEER, "--help"]).ms : undefined,
      );
    }
  } finally {
    await server.stop();
  }
  console.log(`${label}, ${ROUNDS} paired rounds, median (min–max):`);
  console.log(
    `  ${"".padEnd(28)}${"comfyc".padEnd(30)}${peer ? "peer (cfli 0.3.1)".padEnd(30) + "comfyc ÷ peer" : ""}`,
  );
  for (const [row, { ours, theirs }] of rows) {
    const f = row.startsWith("peak") ? mib : secs;
    const ratios = theirs.length ? ours.map((o, i) => o / theirs[i]!) : [];
    console.log(
      `  ${row.padEnd(28)}${range(ours, f).padEnd(30)}` +
        (theirs.length ? `${range(theirs, f).padEnd(30)}${range(ratios, times)}` : ""),
    );
  }
  if (!peer)
    console.log("  (peer not installed: `npm ci --prefix bench/peer` adds the comparison)");
}

await compare(
  "codegen of the bundled schema (data/object_info.json)",
  join(ROOT, "data", "object_info.json"),
);

if (!existsSync(join(SHARED, "object_info"))) {
  console.log("skipped: the 1,686-class dump and the tsc figures need ../shared/data");
} else {
  await compare(
    "codegen of oi_2026-05_yuzuki_custom_1686.json (1,686 classes)",
    dump("yuzuki_custom_1686"),
  );
  await typecheckFigures();
}
rmSync(tmp, { recursive: true, force: true });

async function typecheckFigures(): Promise<void> {
  const workflowSource = `import { workflow } from "comfyc";
import { CLIPLoader, CLIPTextEncode, KSampler, LoraLoader, SaveImage, UNETLoader, VAEDecode, VAELoader } from "./gen/core.js";
const wf = workflow();
const unet = wf.add(UNETLoader, { unet_name: "model.safetensors", weight_dtype: "default" });
const clip = wf.add(CLIPLoader, { clip_name: "clip.safetensors", type: "stable_diffusion" });
const lora = wf.add(LoraLoader, { model: unet, clip, lora_name: "l.safetensors", strength_model: 1, strength_clip: 1 });
const pos = wf.add(CLIPTextEncode, { clip: lora.CLIP, text: "a lighthouse" });
const s = wf.add(KSampler, { model: lora.MODEL, positive: pos, negative: pos, latent_image: {} as never, sampler_name: "euler", scheduler: "normal" });
const vae = wf.add(VAELoader, { vae_name: "vae.safetensors" });
wf.add(SaveImage, { images: wf.add(VAEDecode, { samples: s, vae }) });
export default wf;
`;
  async function typecheckAgainst(dumpName: string): Promise<{ time: number; classes: number }> {
    const dir = mkdtempSync(join(tmpdir(), "comfyc-bench-tc-"));
    const result = await generate(JSON.parse(readFileSync(dump(dumpName), "utf8")), {
      looseCombos: true,
    });
    await writeGenerated(join(dir, "gen"), result.files);
    writeFileSync(join(dir, "workflow.ts"), workflowSource);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          types: ["node"],
          baseUrl: ROOT,
          paths: { comfyc: ["src/index.ts"] },
          typeRoots: [join(ROOT, "node_modules", "@types")],
        },
        files: ["workflow.ts"],
      }),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const time = await medianTime(3, () =>
      execFileSync(process.execPath, [tsc, "-p", dir], { stdio: "inherit" }),
    );
    rmSync(dir, { recursive: true, force: true });
    return { time, classes: result.classes.length };
  }
  const small = await typecheckAgainst("mmldx_subset_73");
  const large = await typecheckAgainst("yuzuki_custom_1686");
  console.log(
    "tsc --noEmit of one workflow importing gen/core.js (median of 3, includes tsc start-up):",
  );
  console.log(`  against the ${small.classes}-class output     ${ms(small.time)}`);
  console.log(
    `  against the ${large.classes}-class output   ${ms(large.time)}  (${times(large.time / small.time)})`,
  );
}
