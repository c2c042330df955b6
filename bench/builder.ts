/**
 * Build, compile and validate a 1,000-node graph whose nodes all feed the output node (so all of
 * them are compiled and validated), next to `JSON.stringify` of the same prompt. Times are the
 * process's CPU time (user + system), which other processes on a shared machine disturb far less
 * than wall time; runs are interleaved round by round and ratios are taken within a round.
 */
import { serializePrompt, workflow, type Output } from "../src/index.js";
import { EmptyImage, ImageBlend, ImageInvert, PreviewImage } from "../generated/core.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import { validatePrompt } from "../src/schema/validate.js";
import { ROOT } from "./util.js";

const NODES = 1000;
const ROUNDS = 15;

/**
 * Twenty chains of 49 image nodes (each node fed by the one before, blends also by an earlier
 * one), their ends merged pairwise by 19 ImageBlend nodes, then a preview: 1,000 nodes, all
 * reachable, at most 55 links deep (ComfyUI's validation stops at about 980 links, so one long
 * chain would be a prompt no server accepts).
 */
function buildGraph(sourceLocations = true) {
  const wf = workflow({ sourceLocations });
  const CHAINS = 20;
  const PER_CHAIN = (NODES - CHAINS) / CHAINS; // 49: CHAINS - 1 merges and the preview
  const ends: Output<"IMAGE">[] = [];
  for (let c = 0; c < CHAINS; c++) {
    const images: Output<"IMAGE">[] = [wf.add(EmptyImage, { width: 64, height: 64 })];
    while (images.length < PER_CHAIN) {
      const n = images.length;
      const previous = images[n - 1]!;
      const earlier = images[(n * 7) % n]!;
      images.push(
        n % 3 === 0
          ? wf.add(ImageInvert, { image: previous })
          : wf.add(ImageBlend, {
              image1: previous,
              image2: earlier,
              blend_factor: 0.5,
              blend_mode: "normal",
            }),
      );
    }
    ends.push(images[images.length - 1]!);
  }
  while (ends.length > 1) {
    const [image1, image2] = ends.splice(0, 2) as [Output<"IMAGE">, Output<"IMAGE">];
    ends.push(wf.add(ImageBlend, { image1, image2, blend_factor: 0.5, blend_mode: "normal" }));
  }
  wf.add(PreviewImage, { images: ends[0]! });
  return wf;
}

const schema = normalizeObjectInfo(
  JSON.parse(readFileSync(join(ROOT, "data", "object_info.json"), "utf8")),
);
const built = buildGraph();
const report = built.compileWithReport();
const prompt = report.prompt;
const compiled = Object.keys(prompt).length;
const validated = report.validation ? Object.keys(prompt).length : 0;
if (compiled !== NODES || !report.validation?.valid || report.unreachable.length > 0) {
  throw new Error(`expected ${NODES} reachable, valid nodes; compiled ${compiled}`);
}

const cases = {
  "build (1,000 wf.add calls)": () => buildGraph(),
  "build + compile (no validation)": () => buildGraph().compile({ validate: false }),
  "build + compile + validate": () => buildGraph().compile(),
  "  the same, sourceLocations: false (production default)": () => buildGraph(false).compile(),
  "compile + validate of the built graph": () => built.compile(),
  "validatePrompt alone": () => validatePrompt(prompt, schema),
  "serializePrompt (bigint-aware)": () => serializePrompt(prompt),
  "JSON.stringify of the prompt": () => JSON.stringify(prompt),
} as const;
type Case = keyof typeof cases;
const times = new Map<Case, number[]>(Object.keys(cases).map((k) => [k as Case, []]));
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// Repetitions per measurement, so each lasts about 20 ms of CPU time.
const reps = new Map<Case, number>();
for (const [name, fn] of Object.entries(cases) as [Case, () => unknown][]) {
  const t = cpuMs();
  for (let i = 0; i < 5; i++) fn(); // warm-up
  reps.set(name, Math.max(1, Math.round(20 / Math.max(0.01, (cpuMs() - t) / 5))));
}
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(cases) as [Case, () => unknown][]) {
    const n = reps.get(name)!;
    const t = cpuMs();
    for (let i = 0; i < n; i++) fn();
    times.get(name)!.push((cpuMs() - t) / n);
  }
}
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const med = (xs: readonly number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const stringify = times.get("JSON.stringify of the prompt")!;
const f = (n: number) => `${n.toFixed(n < 10 ? 2 : 1)} ms`;
console.log(
  `1,000-node graph, all reachable: ${compiled} nodes compiled, ${validated} validated; ` +
    `CPU time, median of ${ROUNDS} interleaved rounds (min–max), and the ratio to JSON.stringify in the same round:`,
);
for (const [name, xs] of times) {
  const ratios = xs.map((x, i) => x / stringify[i]!);
  const r = sorted(ratios);
  console.log(
    `  ${name.padEnd(56)}${`${f(med(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`.padEnd(30)}` +
      `${med(ratios).toFixed(1)}× (${r[0]!.toFixed(1)}–${r[r.length - 1]!.toFixed(1)})`,
  );
}
