import type { Command } from "commander";
import { PromptInvalidError } from "../builder/errors.js";
import { validatePrompt } from "../schema/validate.js";
import type { CliIo } from "./io.js";
import { appliedComfyuiRelease } from "../protocol/comfyui-version.js";
import { stringifyJson } from "../protocol/json.js";
import { schemaFromFlags } from "./schema-source.js";
import { partialTargets, promptAndBodyFromWorkflowFile } from "./workflow-input.js";
import { promptLinks } from "../protocol/describe-errors.js";
import {
  collect,
  comfyuiVersionOption,
  noteServerComfyuiVersion,
  serverUrlOption,
} from "./options.js";
import { assumeModelFiles } from "../schema/model-files.js";

interface ValidateFlags {
  schema?: string;
  url?: string;
  header: string[];
  json?: boolean;
  comfyuiVersion?: string;
  ignoreModels?: boolean;
}

/** `comfyc validate <prompt.json>`: ComfyUI's checks, offline. */
export function registerValidate(program: Command, io: CliIo): void {
  program
    .command("validate")
    .description("Validate an API-format prompt against a schema with ComfyUI's own rules")
    .argument(
      "<prompt.json>",
      "an API-format prompt (or a POST /prompt body), an editor workflow, or an image ComfyUI saved",
    )
    .option("--schema <object_info.json>", "validate against a saved /object_info")
    .option(
      "--url <server>",
      "validate against a server's /object_info and version",
      serverUrlOption("--url"),
    )
    .option(
      "--header <header>",
      'extra HTTP header "Name: value" for --url (repeatable)',
      collect,
      [],
    )
    .option(
      "--comfyui-version <version>",
      "follow this ComfyUI release's rules (default: the server's, else the newest known)",
      comfyuiVersionOption(io),
    )
    .option(
      "--ignore-models",
      "check everything except whether the model files it names are installed",
    )
    .option("--json", "print ComfyUI's rejection body ({error, node_errors}) instead of text")
    .action(async (file: string, flags: ValidateFlags) => {
      // The same client as `run` for --url: headers, TLS, retries, lossless JSON, the version.
      const { schema: served, label, comfyuiVersion } = await schemaFromFlags("validate", flags);
      // Editor workflows and images are converted with the same schema they are checked against.
      // Any JSON object of objects is judged as POST /prompt would judge it ({} answers
      // prompt_no_outputs, a node without class_type invalid_prompt or missing_node_type, …).
      const { prompt, body } = await promptAndBodyFromWorkflowFile(
        file,
        async () => ({ schema: served, label }),
        io,
        // Floats kept: ComfyUI refuses a link index of 0.0 and makes str(5.0) "5.0".
        { apiPrompt: "server", floats: true },
      );
      // A saved POST /prompt body is judged with its partial_execution_targets, as the server
      // judges it: only the outputs it names run (and are validated).
      const targets = partialTargets(body, prompt, file);
      if (!flags.comfyuiVersion) noteServerComfyuiVersion(comfyuiVersion, label, io);
      const version = flags.comfyuiVersion ?? comfyuiVersion;
      let schema = served;
      let ignored: string | undefined;
      if (flags.ignoreModels) {
        const relaxed = assumeModelFiles(served, prompt);
        schema = relaxed.schema;
        const files = [...new Set([...relaxed.assumed.values()].flat())];
        ignored = files.length
          ? `assumed installed: ${files.join(", ")}`
          : "the schema lists every model file the prompt names";
      }
      const result = validatePrompt(prompt, schema, {
        ...(version ? { comfyuiVersion: version } : {}),
        ...(targets ? { partialExecutionTargets: targets } : {}),
      });
      if (targets)
        io.info(
          `${file}: partial_execution_targets selects output node(s) ${targets.length ? targets.map((t) => JSON.stringify(t)).join(", ") : "(none)"}.`,
        );
      if (ignored)
        io.info(`--ignore-models: which model files are installed is not checked (${ignored}).`);
      const clean = result.valid && Object.keys(result.nodeErrors).length === 0;
      if (flags.json) {
        io.out(
          stringifyJson(
            clean
              ? { valid: true, outputs: result.outputs }
              : { error: result.error ?? null, node_errors: result.nodeErrors },
            2,
          ),
        );
      }
      if (clean) {
        io.info(
          `${file} is valid against ${label}${version ? ` (${rulesOf(version)})` : ""}: ${result.outputs.length} output node(s) will run.`,
        );
        return;
      }
      const dropped = result.valid
        ? [...new Set(Object.values(result.nodeErrors).flatMap((n) => n.dependent_outputs))]
        : [];
      // The same formatter and hint as the builder's and a server's rejections.
      throw new PromptInvalidError(
        result.error,
        result.nodeErrors,
        (id) => {
          const title = (prompt[id] as { _meta?: { title?: unknown } } | undefined)?._meta?.title;
          const links = promptLinks(prompt, id, (c) =>
            schema.classes.get(c)?.outputs.map((o) => o.type),
          );
          return { ...(typeof title === "string" ? { title } : {}), links };
        },
        `validation against ${label}`,
        dropped,
      );
    });
}

/** "ComfyUI 0.3.64 rules", or for a release comfyc does not model, whose rules applied. */
function rulesOf(version: string): string {
  const applied = appliedComfyuiRelease(version);
  return applied === version
    ? `ComfyUI ${version} rules`
    : `ComfyUI ${version}, judged by ${applied}'s rules`;
}
