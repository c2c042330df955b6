/**
 * Running a workflow from code: start the GPU-free test server (or point the client at your
 * ComfyUI), submit a parameterized workflow, follow its progress, and save its outputs.
 *
 *   npm run example -- examples/scripts/run-on-test-server.ts
 */
import { pathToFileURL } from "node:url";
import { ComfyClient } from "comfyc/runtime";
import { startTestServer } from "comfyc/testing";
import txt2img from "../sd15-txt2img.js";

/** Runs the SD 1.5 example once and returns the saved file paths. */
export async function main(outDir = "out/script"): Promise<string[]> {
  // Use `new ComfyClient({ url: "http://127.0.0.1:8188" })` for a real server instead.
  const server = await startTestServer({ nodeDurationMs: 20 });
  const client = new ComfyClient({ url: server.url });
  try {
    // Compile first (validated offline; a bad parameter throws here), then submit the report:
    // its node titles and source lines make error messages point at this code.
    const report = txt2img.compileWithReport({
      prompt: "a red fox in the snow",
      steps: 8,
      width: 256,
      height: 256,
    });
    const job = client.submit(report, { timeouts: { runMs: 60_000 } });
    job.on("progress", (e) => console.log(`  node ${e.node}: step ${e.value}/${e.max}`));
    job.on("executed", (e) => console.log(`  node ${e.node} produced output`));
    const result = await job.result();
    const saved = await client.saveOutputs(result, outDir);
    console.log(`prompt ${result.promptId}: saved ${saved.join(", ")}`);
    return saved;
  } finally {
    await client.close();
    await server.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
