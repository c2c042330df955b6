import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { CANONICAL_UUID } from "../../protocol/jobs.js";
import { validatePrompt } from "../../schema/validate.js";
import type { App } from "../app.js";
import { withValidationTracebacks } from "../tracebacks.js";
import { asObject, HttpStatus, parseBody, sendJson, type Route } from "../http.js";

/** `GET /prompt` (queue size) and `POST /prompt` (validate and queue; protocol §4, §5). */
export function promptRoutes(app: App): Route[] {
  return [
    {
      method: "GET",
      path: "/prompt",
      handle: ({ res }) =>
        sendJson(res, 200, { exec_info: { queue_remaining: app.queueRemaining() } }),
    },
    {
      method: "POST",
      path: "/prompt",
      handle: async ({ res, body }) => {
        const json = asObject(parseBody(await body()));
        const { rules, state } = app;
        let number: number;
        if (json["number"] !== undefined) number = Number(json["number"]);
        else number = app.nextNumber(json["front"] === true);
        if (!("prompt" in json)) {
          return sendJson(res, 400, {
            error: {
              type: "no_prompt",
              message: "No prompt provided",
              details: "No prompt provided",
              extra_info: {},
            },
            node_errors: {},
          });
        }
        let promptId: string;
        const requested = json["prompt_id"];
        if (!rules.has("promptIdUuid"))
          promptId =
            requested === undefined
              ? randomUUID()
              : requested === null
                ? "None"
                : String(requested);
        else if (requested === undefined || requested === null) promptId = randomUUID();
        else if (typeof requested !== "string" || !CANONICAL_UUID.test(requested)) {
          return sendJson(res, 400, {
            error: {
              type: "invalid_prompt_id",
              message: "prompt_id must be a valid UUID",
              details:
                "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one",
              extra_info: {},
            },
            node_errors: {},
          });
        } else if (
          rules.has("duplicatePromptId") &&
          (state.history.has(requested) ||
            state.running?.promptId === requested ||
            state.queue.items.some((i) => i.promptId === requested))
        ) {
          return sendJson(res, 409, { error: "prompt_id already exists" });
        } else promptId = requested;
        const prompt = json["prompt"];
        // Before node replacement (0.14.0) an empty list or string iterates as no nodes; from then
        // `prompt.items()` and each node's `inputs.items()` raise (observed: 500 on 0.33.0).
        const emptyish =
          !rules.has("nodeReplacement") &&
          (prompt === "" || (Array.isArray(prompt) && prompt.length === 0));
        if (!emptyish && (prompt === null || typeof prompt !== "object" || Array.isArray(prompt)))
          throw new HttpStatus(500);
        if (rules.has("nodeReplacement") && !emptyish) {
          for (const node of Object.values(prompt as Record<string, unknown>)) {
            if (node === null || typeof node !== "object" || Array.isArray(node)) continue;
            if (!("class_type" in node) || !("inputs" in node)) {
              if (rules.has("nodeReplacementSkipsIncomplete")) continue;
              throw new HttpStatus(500);
            }
            const inputs = (node as { inputs: unknown }).inputs;
            if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs))
              throw new HttpStatus(500);
          }
        }
        const targets = Array.isArray(json["partial_execution_targets"])
          ? (json["partial_execution_targets"] as unknown[]).map(String)
          : undefined;
        const result = validatePrompt(emptyish ? {} : prompt, app.schema, {
          comfyuiVersion: rules,
          customValidators: app.customValidators,
          ...(targets ? { partialExecutionTargets: targets } : {}),
        });
        // The validator writes no frames; the server adds the release's validation tracebacks.
        const nodeErrors = withValidationTracebacks(
          result.nodeErrors,
          rules,
          resolve(app.folders.root),
        );
        if (!result.valid)
          return sendJson(res, 400, { error: result.error, node_errors: nodeErrors });
        const extra = { ...asObject(json["extra_data"]) };
        const sensitive: Record<string, unknown> = {};
        for (const key of ["auth_token_comfy_org", "api_key_comfy_org"]) {
          if (key in extra) {
            sensitive[key] = extra[key];
            if (rules.has("queueSensitiveElement")) delete extra[key];
          }
        }
        if (rules.has("extraDataCreateTime")) extra["create_time"] = Date.now();
        if ("client_id" in json) {
          delete extra["client_id"];
          extra["client_id"] = json["client_id"];
        }
        state.queue.push({
          number,
          promptId,
          prompt: result.prompt,
          extraData: extra,
          outputs: result.outputs,
          sensitive,
        });
        sendJson(res, 200, { prompt_id: promptId, number, node_errors: nodeErrors });
        // The queued status is sent from the handler, after the reply (it may race the response).
        setImmediate(() => {
          app.broadcastStatus();
          app.executor.kick();
        });
      },
    },
  ];
}
