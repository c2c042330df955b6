/**
 * Codegen speed on the largest real dump next to the cost of parsing it, and the type-check
 * cost of one workflow against the 73-class and the 1,686-class output.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../src/codegen/generate.js";
import { writeGenerated } from "../src/codegen/write.js";
import { normalizeObjectInfo } from "../src/schema/normalize.js";
import { dump, median, ms, ROOT } from "./util.js";

const big = dump("yuzuki_custom_1686");
const text = readFileSync(big, "utf8");
const out = mkdtempSync(join(tmpdir(), "comfyc-bench-"));

const parse = await median(5, () => JSON.parse(text));
const parseNormalize = await median(5, () => normalizeObjectInfo(JSON.parse(text)));
const write = await median(5, () => writeFileSync(join(out, "copy.json"), text));
const codegen = await median(5, async () => {
  const result = await generate(JSON.parse(text));
  await writeGenerated(join(out, "gen"), result.files);
});
console.log("codegen on oi_2026-05_yuzuki_custom_1686.json (1,686 classes), median of 5:");
console.log(`  JSON.parse                         ${ms(parse)}`);
console.log(`  JSON.parse + normalize             ${ms(parseNormalize)}`);
console.log(`  write the same bytes               ${ms(write)}`);
console.log(
  `  comfyc codegen (parse→write)       ${ms(codegen)}  (${(codegen / (parseNormalize + write)).toFixed(1)}× parse+normalize+write)`,
);

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
  const time = await median(3, () =>
    execFileSync(process.execPath, [tsc, "-p", dir], { stdio: "inherit" }),
  );
  return { time, classes: result.classes.length };
}

const small = await typecheckAgainst("mmldx_subset_73");
const large = await typecheckAgainst("yuzuki_custom_1686");
console.log(
  "tsc --noEmit of one workflow importing gen/core.js (median of 3, includes tsc start-up):",
);
console.log(`  against the ${small.classes}-class output     ${ms(small.time)}`);
console.log(`  against the ${large.classes}-class output   ${ms(large.time)}`);
