import { parseJsonLossless } from "../../protocol/json.js";
import type { App } from "../app.js";
import { asObject, parseBody, sendEmpty, sendJson, type Route } from "../http.js";
import { queueTuple } from "../queue.js";

/** `/queue` (list, delete, clear), `/interrupt` and `/free` (protocol §6, §7). */
export function queueRoutes(app: App): Route[] {
  const { state, executor } = app;
  return [
    {
      method: "GET",
      path: "/queue",
      handle: ({ res }) =>
        sendJson(res, 200, {
          queue_running: state.running ? [queueTuple(state.running)] : [],
          queue_pending: state.queue.items.map(queueTuple),
        }),
    },
    {
      method: "POST",
      path: "/queue",
      handle: async ({ res, body }) => {
        const json = asObject(parseBody(await body()));
        if (json["clear"]) {
          state.queue.clear();
          app.broadcastStatus();
        }
        if (Array.isArray(json["delete"])) {
          for (const id of json["delete"])
            if (state.queue.remove((i) => i.promptId === id)) app.broadcastStatus();
        }
        sendEmpty(res, 200);
      },
    },
    {
      method: "POST",
      path: "/interrupt",
      handle: async ({ res, body }) => {
        let json: Record<string, unknown> = {};
        try {
          json = asObject(parseJsonLossless((await body()).toString("utf8") || "{}"));
        } catch {
          json = {};
        }
        const target = json["prompt_id"];
        // With a prompt id, only that prompt is interrupted, and only while it runs.
        if (typeof target === "string") {
          if (state.running?.promptId === target) executor.interrupt();
        } else executor.interrupt();
        sendEmpty(res, 200);
      },
    },
    {
      method: "POST",
      path: "/free",
      handle: async ({ res, body }) => {
        const json = asObject(parseBody(await body()));
        if (json["free_memory"]) executor.freeMemory();
        sendEmpty(res, 200);
      },
    },
  ];
}
