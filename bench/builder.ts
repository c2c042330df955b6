/** Build, compile and validate a 1,000-node graph; JSON.stringify of the same prompt for scale. */
import { serializePrompt, workflow, type Output } from "../src/index.js";
import { EmptyImage, ImageBlend, ImageInvert, PreviewImage } from "../generated/core.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import { validatePrompt } from "../src/schema/validate.js";
import { median, ms, ROOT } from "./util.js";

function buildGraph() {
  const wf = workflow();
  const images: Output<"IMAGE">[] = [wf.add(EmptyImage, { width: 64, height: 64 })];
  while (wf.size < 999) {
    const n = wf.size;
    const a = images[n % images.length]!;
    const b = images[(n * 7) % images.length]!;
    images.push(
      n % 3 === 0
        ? wf.add(ImageInvert, { image: a })
        : wf.add(ImageBlend, { image1: a, image2: b, blend_factor: 0.5, blend_mode: "normal" }),
    );
  }
  wf.add(PreviewImage, { images: images[images.length - 1]! });
  return wf;
}

const schema = normalizeObjectInfo(
  JSON.parse(readFileSync(join(ROOT, "data", "object_info.json"), "utf8")),
);
const prompt = buildGraph().compile({ validate: false, keepUnreachable: true });
console.log(`1,000-node graph (${Object.keys(prompt).length} nodes), median of 7:`);
console.log(`  build (1,000 wf.add calls)        ${ms(await median(7, () => buildGraph()))}`);
console.log(
  `  build + compile (no validation)   ${ms(await median(7, () => buildGraph().compile({ validate: false })))}`,
);
console.log(
  `  build + compile + validate        ${ms(await median(7, () => buildGraph().compile()))}`,
);
console.log(
  `  validatePrompt alone              ${ms(await median(7, () => validatePrompt(prompt, schema)))}`,
);
console.log(
  `  JSON.stringify of the prompt      ${ms(await median(7, () => JSON.stringify(prompt)))}`,
);
console.log(
  `  serializePrompt (bigint-aware)    ${ms(await median(7, () => serializePrompt(prompt)))}`,
);
