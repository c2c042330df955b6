import type { App } from "../app.js";
import type { HistoryEntry } from "../executor.js";
import { asObject, HttpStatus, parseBody, sendEmpty, sendJson, type Route } from "../http.js";

/** `/history` (list with `max_items`/`offset`, delete, clear) and `/history/{id}` (protocol §8). */
export function historyRoutes(app: App): Route[] {
  const { state } = app;
  return [
    {
      method: "GET",
      path: "/history",
      handle: ({ res, url }) => sendJson(res, 200, listHistory(state.history, url.searchParams)),
    },
    {
      method: "GET",
      path: /^\/history\/(.+)$/,
      handle: ({ res, params }) => {
        const id = params[0]!;
        const entry = state.history.get(id);
        sendJson(res, 200, entry ? { [id]: publicEntry(entry) } : {});
      },
    },
    {
      method: "POST",
      path: "/history",
      handle: async ({ res, body }) => {
        const json = asObject(parseBody(await body()));
        if (json["clear"]) state.history.clear();
        if (Array.isArray(json["delete"]))
          for (const id of json["delete"]) state.history.delete(String(id));
        sendEmpty(res, 200);
      },
    },
  ];
}

/** `GET /history`: oldest first; `max_items` keeps the newest, `offset` counts from the oldest. */
function listHistory(
  history: ReadonlyMap<string, HistoryEntry>,
  query: URLSearchParams,
): Record<string, HistoryEntry> {
  const parse = (name: string) => {
    const v = query.get(name);
    if (v === null) return undefined;
    // Python's int() of a non-number raises: aiohttp's plain-text 500.
    if (!/^-?\d+$/.test(v.trim())) throw new HttpStatus(500);
    return Number(v);
  };
  const maxItems = parse("max_items");
  const offset = parse("offset");
  let entries = [...history.entries()];
  if (offset !== undefined)
    entries = entries.slice(
      Math.max(0, offset),
      maxItems !== undefined ? Math.max(0, offset) + maxItems : undefined,
    );
  else if (maxItems !== undefined) entries = maxItems > 0 ? entries.slice(-maxItems) : [];
  return Object.fromEntries(entries.map(([id, e]) => [id, publicEntry(e)]));
}

/** The entry as served: exactly its four keys. */
function publicEntry(e: HistoryEntry): HistoryEntry {
  return { prompt: e.prompt, outputs: e.outputs, status: e.status, meta: e.meta };
}
