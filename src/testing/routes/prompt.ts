import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { CANONICAL_UUID } from "../../protocol/jobs.js";
import { PyException, pyBoolOf, pyFloatOf } from "../../schema/coerce.js";
import { validatePrompt } from "../../schema/validate.js";
import type { App } from "../app.js";
import { withValidationTracebacks } from "../tracebacks.js";
import { HttpStatus, parseBody, sendJson, type Route } from "../http.js";
import { PyFloat } from "../python-float.js";

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
      handle: async ({ req, res, body }) => {
        // server.py post_prompt (0.3.64, 0.33.0): the body may be any JSON value; each step below
        // is the Python expression the handler evaluates, and where Python raises, aiohttp
        // answers its plain 500 (a number, `null` or `NaN` as the body: `"number" in json_data`).
        // Floats kept: validation refuses a link index of 0.0, as Python's json makes it a float.
        const json: unknown = parseBody(await body(), { floats: true });
        const { rules, state } = app;
        let number: number;
        if (pyContains(json, "number")) number = pyFloat(pyItem(json, "number"));
        else number = app.nextNumber(pyContains(json, "front") && pyBoolOf(pyItem(json, "front")));
        if (!pyContains(json, "prompt")) {
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
        // `json_data["prompt"]` raises unless the body is a dict.
        pyItem(json, "prompt");
        const request = json as Record<string, unknown>;
        let promptId: string;
        const requested = request["prompt_id"];
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
        const prompt = request["prompt"];
        // Before node replacement (0.14.0) an empty list or string iterates as no nodes; from then
        // `prompt.items()` and each node's `inputs.items()` raise (observed: 500 on 0.33.0).
        const emptyish =
          !rules.has("nodeReplacement") &&
          (prompt === "" || (Array.isArray(prompt) && prompt.length === 0));
        if (!emptyish && (prompt === null || typeof prompt !== "object" || Array.isArray(prompt)))
          throw new HttpStatus(500);
        if (!emptyish) raisesBeforeValidation(prompt as Record<string, unknown>, app);
        const targets = Array.isArray(request["partial_execution_targets"])
          ? (request["partial_execution_targets"] as unknown[]).map(String)
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
        const extra = extraData(request, req.headers["comfy-usage-source"], result.valid, rules);
        if (!result.valid)
          return sendJson(res, 400, { error: result.error, node_errors: nodeErrors });
        const sensitive: Record<string, unknown> = {};
        for (const key of ["auth_token_comfy_org", "api_key_comfy_org"]) {
          if (key in extra) {
            sensitive[key] = extra[key];
            if (rules.has("queueSensitiveElement")) delete extra[key];
          }
        }
        if (rules.has("extraDataCreateTime")) extra["create_time"] = Date.now();
        const clientNumber = pyContains(json, "number");
        state.queue.push({
          number,
          ...(clientNumber ? { clientNumber } : {}),
          promptId,
          prompt: result.prompt,
          extraData: extra,
          outputs: result.outputs,
          sensitive,
        });
        sendJson(res, 200, {
          prompt_id: promptId,
          // float(json_data['number']) is written as a float (5.0); the server's count as an int.
          number: clientNumber ? new PyFloat(number) : number,
          node_errors: nodeErrors,
        });
        // The queued status is sent from the handler, after the reply (it may race the response).
        setImmediate(() => {
          app.broadcastStatus();
          app.executor.kick();
        });
      },
    },
  ];
}

/**
 * Python's `key in value` for a JSON value and a str key: a dict's keys, a list's elements, a
 * str's substrings; `TypeError` (aiohttp's 500) for a number, a bool or `None`.
 */
function pyContains(value: unknown, key: string): boolean {
  if (typeof value === "string") return value.includes(key);
  if (Array.isArray(value)) return value.includes(key);
  if (value !== null && typeof value === "object") return Object.hasOwn(value, key);
  throw new HttpStatus(500);
}

/** Python's `value[key]` with a str key: only a dict has one (`TypeError` for a list or str). */
function pyItem(value: unknown, key: string): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new HttpStatus(500);
  return (value as Record<string, unknown>)[key];
}

/** `float(json_data['number'])`: `"abc"`, `null` or a list raise (500); `"1_5"` is 15. */
function pyFloat(value: unknown): number {
  try {
    const n = pyFloatOf(value);
    // float() of an int beyond the double range raises OverflowError.
    if (typeof value === "bigint" && !Number.isFinite(n)) throw new HttpStatus(500);
    return n;
  } catch (e) {
    if (e instanceof PyException) throw new HttpStatus(500);
    throw e;
  }
}

/**
 * Where ComfyUI raises on a prompt's nodes before validation can reject them (aiohttp's 500),
 * walking the nodes as `validate_prompt`'s first loop does (execution.py; it returns at the first
 * node it rejects, so nodes after that one are not looked at), after 0.14.0's
 * `node_replace_manager.apply_replacements` (app/node_replace_manager.py), which reads every node:
 * - `'class_type' not in node` raises for a node that is a number, a bool or `None`;
 * - `node['class_type']` raises for a list or str node that contains "class_type";
 * - `NODE_CLASS_MAPPINGS.get(class_type)` raises for a list or dict class_type (unhashable);
 * - from 0.12.0 (`missingNodeType`), the error's `node_data.get('_meta', {}).get('title')` raises
 *   for a node that is not a dict or whose `_meta` is not one;
 * - `apply_replacements` raises for a node without `class_type` or `inputs` (0.14.x; skipped from
 *   0.15.1) and for `inputs` that are not a dict (`.items()`).
 * Observed on 0.3.64 and 0.33.0: `{"1": 5}` and `{"1": ["class_type"]}` answer 500 on both,
 * `{"1": "abc"}` and `{"1": []}` are `invalid_prompt` on 0.3.64 and 500 on 0.33.0.
 */
function raisesBeforeValidation(prompt: Record<string, unknown>, app: App): void {
  const { rules } = app;
  const registered = (classType: unknown): boolean => {
    if (classType !== null && typeof classType === "object") throw new HttpStatus(500);
    return typeof classType === "string" && app.schema.classes.has(classType);
  };
  if (rules.has("nodeReplacement")) {
    for (const node of Object.values(prompt)) {
      if (!pyContains(node, "class_type") || !pyContains(node, "inputs")) {
        if (rules.has("nodeReplacementSkipsIncomplete")) continue;
        throw new HttpStatus(500);
      }
      registered(pyItem(node, "class_type"));
      const inputs = pyItem(node, "inputs");
      if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs))
        throw new HttpStatus(500);
    }
  }
  const title = (node: unknown): void => {
    if (!rules.has("missingNodeType")) return;
    const meta = pyItem(node, "_meta");
    if (meta !== undefined && (meta === null || typeof meta !== "object" || Array.isArray(meta)))
      throw new HttpStatus(500);
  };
  for (const node of Object.values(prompt)) {
    if (!pyContains(node, "class_type")) return title(node);
    if (!registered(pyItem(node, "class_type"))) return title(node);
  }
}

/**
 * `extra_data` as `post_prompt` handles it (server.py), raising where Python does (aiohttp's
 * 500): `extra_data["client_id"] = …` when the body has a `client_id`, and from 0.25.0 the
 * `Comfy-Usage-Source` header as `extra_data["comfy_usage_source"]` when absent (the `in` test
 * raises for a number, bool or `None`, the assignment for anything but a dict); for a valid
 * prompt 0.3.69's `create_time` assignment raises for anything but a dict (observed on 0.33.0:
 * `"extra_data": [1]` is a 500 for a valid prompt, the usual 400 for an invalid one). 0.3.64
 * queues a valid prompt with a list or str `extra_data`; here it runs with none (its real run
 * fails at the first node with hidden inputs, which is not modelled).
 *
 * @returns a copy of the dict to queue (`{}` for an `extra_data` that is not one).
 */
function extraData(
  request: Record<string, unknown>,
  usageSource: string | string[] | undefined,
  valid: boolean,
  rules: App["rules"],
): Record<string, unknown> {
  const given = "extra_data" in request ? request["extra_data"] : {};
  const isDict = given !== null && typeof given === "object" && !Array.isArray(given);
  const extra: Record<string, unknown> = isDict ? { ...(given as Record<string, unknown>) } : {};
  if ("client_id" in request) {
    if (!isDict) throw new HttpStatus(500);
    extra["client_id"] = request["client_id"];
  }
  if (rules.has("usageSourceHeader") && !pyContains(given, "comfy_usage_source") && usageSource) {
    if (!isDict) throw new HttpStatus(500);
    extra["comfy_usage_source"] = Array.isArray(usageSource) ? usageSource[0] : usageSource;
  }
  if (valid && rules.has("extraDataCreateTime") && !isDict) throw new HttpStatus(500);
  return extra;
}
