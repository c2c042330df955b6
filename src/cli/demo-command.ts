import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { isPlainWorkflow } from "../builder/define-workflow.js";
import { generate } from "../codegen/generate.js";
import { checkGenerated, writeGenerated } from "../codegen/write.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import { ComfyClient } from "../runtime/client.js";
import { startTestServer } from "../testing/app.js";
import type { CliIo } from "./io.js";
import { loadWorkflowModule } from "./load.js";
import { readServerSchema } from "./schema-source.js";
import { runFile } from "./run-command.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * `comfyc demo`: the whole story with no GPU and no external server. Starts the test server,
 * generates typed nodes from it over HTTP, compiles and validates the examples against it,
 * runs them with progress, saves the outputs, prints a summary and stops the server.
 */
export function registerDemo(program: Command, io: CliIo): void {
  program
    .command("demo")
    .description("Run the examples end to end on the built-in test server (no GPU needed)")
    .option("--out <dir>", "where outputs and generated code go", join("out", "demo"))
    .option("--json", "JSON lines instead of progress bars")
    .action(async (flags: { out: string; json?: boolean }) => {
      const started = Date.now();
      // lora-stack.ts names a LoRA file; the bundled schema lists none, so the server adds it.
      const models = { loras: ["sample_lora.safetensors"] };
      const server = await startTestServer({ nodeDurationMs: 25, models });
      const client = new ComfyClient({ url: server.url });
      try {
        const { raw, label, comfyuiVersion } = await readServerSchema(client);
        io.info(
          `1. Test server listening on ${server.url}: ComfyUI's protocol, behaving like ComfyUI ${comfyuiVersion ?? "?"}, ` +
            `with the ${server.schema.classes.size} node classes of data/object_info.json. ` +
            "Nodes are simulated (no GPU, no model runs).",
        );
        const t = performance.now();
        const generated = await generate(raw, { source: label });
        const genDir = join(flags.out, "generated");
        await writeGenerated(genDir, generated.files);
        io.info(
          `2. comfyc codegen --url ${server.url}: ${generated.classes.length} typed node classes in ${Math.round(performance.now() - t)} ms → ${genDir}/.`,
        );
        const drift = await checkGenerated(
          join(ROOT, "generated"),
          generated.files,
          generated.classes,
        );
        const changes = drift.entries
          .filter((e) => e.kind !== "file")
          .flatMap((e) => e.details.map((d) => `${e.subject}: ${d}`));
        const extraFiles = Object.values(models).flat();
        const onlyModelFiles = changes.every((c) =>
          extraFiles.some((f) => c.includes(`combo values added: "${f}"`)),
        );
        io.info(
          `   comfyc codegen --check against the repository's generated/ (made from data/object_info.json): ` +
            (drift.upToDate
              ? "up to date."
              : onlyModelFiles
                ? `${changes.length} combo(s) differ, as expected: this server also lists ${extraFiles.join(", ")}. ` +
                  "Against your own server, a difference means its nodes or model files changed: rerun comfyc codegen."
                : `${changes.length} change(s), e.g. ${changes.slice(0, 2).join("; ") || "formatting"}: rerun comfyc codegen.`),
        );

        const schema = normalizeObjectInfo(raw, label);
        const files = readdirSync(join(ROOT, "examples"))
          .filter((f) => f.endsWith(".ts"))
          .sort();
        io.info(
          `3. Compiling and validating ${files.length} examples against the server's schema:`,
        );
        for (const f of files) {
          const wf = await loadWorkflowModule(join(ROOT, "examples", f));
          const report = isPlainWorkflow(wf)
            ? wf.compileWithReport({ schema })
            : wf.compileWithReport({}, { schema });
          io.info(
            `   ✓ ${f}: ${Object.keys(report.prompt).length} nodes, ${report.validation?.outputs.length ?? 0} output node(s), valid`,
          );
        }
        io.info(
          "4. Running them. The PNGs are real files at the requested sizes, but their pixels are " +
            "synthetic test patterns: no model runs here, so they are not pictures of the prompts.",
        );
        const rows: string[][] = [];
        for (const f of files) {
          const name = f.replace(/\.ts$/, "");
          const t0 = Date.now();
          const { result, saved } = await runFile(
            join(ROOT, "examples", f),
            client,
            {
              param: [],
              out: join(flags.out, name),
              validate: true,
              schema,
              ...(flags.json ? { json: true } : {}),
            },
            io,
            name,
          );
          rows.push([
            name,
            result.promptId.slice(0, 8),
            String(saved.length),
            `${Date.now() - t0} ms`,
            saved
              .map((p) => relative(process.cwd(), p))
              .slice(0, 2)
              .join(", "),
          ]);
        }
        io.info("5. Summary:");
        const header = ["example", "prompt", "files", "time", "saved (first two)"];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows])
          io.info(`   ${row.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd());
        io.info(
          `All ${rows.length} examples ran in ${((Date.now() - started) / 1000).toFixed(1)} s; outputs (test patterns) are in ${flags.out}/. ` +
            "On a real ComfyUI: comfyc run examples/sd15-txt2img.ts --server http://127.0.0.1:8188.",
        );
      } finally {
        await client.close();
        await server.close();
        io.info("6. Test server stopped.");
      }
    });
}
