import {
  CANONICAL_UUID,
  SERVER_JOB_STATUSES,
  type ServerJobDetailWire,
  type ServerJobStatus,
  type ServerJobWire,
} from "../../protocol/jobs.js";
import { parseJsonLossless } from "../../protocol/json.js";
import { pyRepr, pyStr } from "../../schema/python-format.js";
import type { App } from "../app.js";
import type { HistoryEntry } from "../executor.js";
import { sendJson, type Route } from "../http.js";
import { queueNumber, type QueueItem } from "../queue.js";

/**
 * The jobs API as ComfyUI 0.33.0's `comfy_execution/jobs.py` and `server.py` serve it (protocol
 * §2.18, changes §A2), from the release that brought each part: listing and details from 0.6.0
 * (`jobsApi`), `cancelled` from 0.9.0 (`jobsCancelledStatus`), `previewable_outputs_count` from
 * 0.32.0 (`jobsPreviewableCount`), the cancel routes from 0.26.0 (`jobsCancel`). The text and 3D
 * preview rules are 0.33.0's for every release (the changes document dates them, 0.14.0–0.30.0,
 * without the earlier code). The routes are literal `/api/jobs…` paths: `/api/api/jobs` answers,
 * `/jobs` does not.
 */
export function jobsRoutes(app: App): Route[] {
  const { rules, state, executor } = app;
  if (!rules.has("jobsApi")) return [];
  const statuses: readonly ServerJobStatus[] = rules.has("jobsCancelledStatus")
    ? SERVER_JOB_STATUSES
    : SERVER_JOB_STATUSES.filter((s) => s !== "cancelled");
  const shape: JobShape = {
    cancelled: rules.has("jobsCancelledStatus"),
    previewableCount: rules.has("jobsPreviewableCount"),
  };
  const error = (res: Parameters<typeof sendJson>[0], message: string, extra = {}) =>
    sendJson(res, 400, { error: message, ...extra });

  /** `_cancel_job_by_id`: interrupt it while it runs, dequeue it while it waits. */
  const cancel = (id: string): boolean => {
    if (state.running?.promptId === id) {
      executor.interrupt();
      return true;
    }
    if (state.queue.remove((item) => item.promptId === id)) {
      app.broadcastStatus();
      return true;
    }
    return false;
  };

  const routes: Route[] = [
    {
      method: "GET",
      path: "/api/jobs",
      literal: true,
      handle: ({ res, url }) => {
        const query = url.searchParams;
        const statusParam = query.get("status");
        const workflowId = query.get("workflow_id");
        const sortBy = (query.get("sort_by") ?? "created_at").toLowerCase();
        const sortOrder = (query.get("sort_order") ?? "desc").toLowerCase();
        let filter: readonly string[] | undefined;
        if (statusParam) {
          filter = statusParam
            .split(",")
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean);
          const invalid = filter.filter((s) => !(statuses as readonly string[]).includes(s));
          if (invalid.length)
            return error(
              res,
              `Invalid status value(s): ${invalid.join(", ")}. Valid values: ${statuses.join(", ")}`,
            );
        }
        if (sortBy !== "created_at" && sortBy !== "execution_duration")
          return error(res, "sort_by must be 'created_at' or 'execution_duration'");
        if (sortOrder !== "asc" && sortOrder !== "desc")
          return error(res, "sort_order must be 'asc' or 'desc'");
        let limit: number | null = null;
        if (query.has("limit")) {
          const parsed = pyInt(query.get("limit")!);
          if (parsed === undefined) return error(res, "limit must be an integer");
          if (parsed <= 0) return error(res, "limit must be a positive integer");
          limit = parsed;
        }
        let offset = 0;
        if (query.has("offset")) {
          const parsed = pyInt(query.get("offset")!);
          if (parsed === undefined) return error(res, "offset must be an integer");
          offset = Math.max(0, parsed);
        }
        const wanted = new Set(filter ?? statuses);
        let jobs: ServerJobWire[] = [];
        if (wanted.has("in_progress") && state.running)
          jobs.push(queueJob(state.running, "in_progress", shape));
        if (wanted.has("pending"))
          for (const item of state.queue.items) jobs.push(queueJob(item, "pending", shape));
        if (wanted.has("completed") || wanted.has("failed") || wanted.has("cancelled"))
          for (const [id, entry] of state.history) {
            const job = historyJob(id, entry, shape);
            if (wanted.has(job.status)) jobs.push(job);
          }
        if (workflowId) jobs = jobs.filter((j) => j.workflow_id === workflowId);
        // Python's sorted(): stable, and reverse=True keeps equal keys in their order.
        const key =
          sortBy === "execution_duration" ? durationOf : (j: ServerJobWire) => j.create_time ?? 0;
        jobs.sort(sortOrder === "desc" ? (a, b) => key(b) - key(a) : (a, b) => key(a) - key(b));
        const total = jobs.length;
        const page = jobs.slice(offset, limit === null ? undefined : offset + limit);
        sendJson(res, 200, {
          jobs: page,
          pagination: { offset, limit, total, has_more: offset + page.length < total },
        });
      },
    },
    {
      method: "GET",
      path: /^\/api\/jobs\/([^/]+)$/,
      literal: true,
      handle: ({ res, params }) => {
        const id = params[0]!;
        // `get_job`: history first, then the running prompt, then the pending queue.
        const entry = state.history.get(id);
        const pending = state.queue.items.find((i) => i.promptId === id);
        const job: ServerJobDetailWire | undefined = entry
          ? historyJob(id, entry, shape, true)
          : state.running?.promptId === id
            ? queueJob(state.running, "in_progress", shape)
            : pending && queueJob(pending, "pending", shape);
        if (!job) return sendJson(res, 404, { error: "Job not found" });
        sendJson(res, 200, job);
      },
    },
  ];
  if (!rules.has("jobsCancel")) return routes;
  return [
    // Before the pattern route, which would take "cancel" for a job id.
    {
      method: "POST",
      path: "/api/jobs/cancel",
      literal: true,
      handle: async ({ res, body }) => {
        let json: unknown;
        try {
          json = parseJsonLossless((await body()).toString("utf8"));
        } catch {
          return error(res, "Request body must be valid JSON");
        }
        const ids =
          json !== null && typeof json === "object" && !Array.isArray(json)
            ? (json as Record<string, unknown>)["job_ids"]
            : undefined;
        if (!Array.isArray(ids)) return error(res, "job_ids must be a list");
        const invalid = ids
          .filter((id) => typeof id !== "string" || !CANONICAL_UUID.test(id))
          .map((id) => (typeof id === "string" ? id : pyRepr(id)));
        if (invalid.length)
          return error(res, "job_ids contains invalid id(s)", { invalid_ids: invalid });
        let cancelled = false;
        for (const id of ids as string[]) if (cancel(id)) cancelled = true;
        sendJson(res, 200, { cancelled });
      },
    },
    {
      method: "POST",
      path: /^\/api\/jobs\/([^/]+)\/cancel$/,
      literal: true,
      // The single-id route does not check the id: an unknown one is simply not cancelled.
      handle: ({ res, params }) => sendJson(res, 200, { cancelled: cancel(params[0]!) }),
    },
    ...routes,
  ];
}

/** What differs between releases in a job's shape. */
interface JobShape {
  /** 0.9.0+: an interrupted prompt is `cancelled` (before, `failed`). */
  readonly cancelled: boolean;
  /** 0.32.0+: `previewable_outputs_count`. */
  readonly previewableCount: boolean;
}

/** Python's `int()` of a query value: optional sign, digits, `_` between digits, spaces around. */
function pyInt(text: string): number | undefined {
  const t = text.trim();
  return /^[+-]?\d+(_\d+)*$/.test(t) ? Number(t.replace(/_/g, "")) : undefined;
}

/** `apply_sorting`'s execution_duration key: end − start when both are set (and non-zero). */
function durationOf(job: ServerJobWire): number {
  const start = job.execution_start_time ?? 0;
  const end = job.execution_end_time ?? 0;
  return end && start ? end - start : 0;
}

/** `_extract_job_metadata`: `create_time` and `extra_pnginfo.workflow.id` of the extra data. */
function metadataOf(extra: Record<string, unknown>): {
  create_time?: number;
  workflow_id?: string;
} {
  const createTime = extra["create_time"];
  const pnginfo = extra["extra_pnginfo"] as { workflow?: { id?: unknown } } | undefined;
  const workflowId = pnginfo?.workflow?.id;
  return {
    ...(typeof createTime === "number" ? { create_time: createTime } : {}),
    ...(typeof workflowId === "string" ? { workflow_id: workflowId } : {}),
  };
}

/** `normalize_queue_item`: a pending or running prompt. */
function queueJob(item: QueueItem, status: ServerJobStatus, shape: JobShape): ServerJobWire {
  const { create_time, workflow_id } = metadataOf(item.extraData);
  return {
    id: item.promptId,
    status,
    // A client's number is a float (5.0 on the wire); to every reader it is a number.
    priority: queueNumber(item) as number,
    ...(create_time !== undefined ? { create_time } : {}),
    outputs_count: 0,
    ...(shape.previewableCount ? { previewable_outputs_count: 0 } : {}),
    ...(workflow_id !== undefined ? { workflow_id } : {}),
  };
}

/** `normalize_history_item`: a finished prompt, with its details for `GET /api/jobs/{id}`. */
function historyJob(
  id: string,
  entry: HistoryEntry,
  shape: JobShape,
  details = false,
): ServerJobDetailWire {
  // The number as the queue wrote it: a PyFloat when the client gave it (written as 5.0).
  const [priority, , prompt, extra] = entry.prompt as [
    number,
    string,
    unknown,
    Record<string, unknown>,
  ];
  const { create_time, workflow_id } = metadataOf(extra ?? {});
  let start: number | undefined;
  let end: number | undefined;
  let executionError: Record<string, unknown> | undefined;
  let interrupted = false;
  for (const [name, data] of entry.status.messages) {
    const timestamp = (data as { timestamp?: number }).timestamp;
    if (name === "execution_start") start = timestamp;
    else if (
      name === "execution_success" ||
      name === "execution_error" ||
      name === "execution_interrupted"
    ) {
      end = timestamp;
      if (name === "execution_error") executionError = data as Record<string, unknown>;
      else if (name === "execution_interrupted") interrupted = true;
    }
  }
  const status: ServerJobStatus =
    entry.status.status_str === "error"
      ? interrupted && shape.cancelled
        ? "cancelled"
        : "failed"
      : "completed";
  const { count, preview } = outputsSummary(entry.outputs);
  const job: ServerJobDetailWire = {
    id,
    status,
    priority,
    ...(create_time !== undefined ? { create_time } : {}),
    ...(start !== undefined ? { execution_start_time: start } : {}),
    ...(end !== undefined ? { execution_end_time: end } : {}),
    ...(executionError ? { execution_error: executionError } : {}),
    outputs_count: count,
    ...(shape.previewableCount
      ? { previewable_outputs_count: previewableCount(entry.outputs) }
      : {}),
    ...(preview ? { preview_output: preview } : {}),
    ...(workflow_id !== undefined ? { workflow_id } : {}),
  };
  if (!details) return job;
  return {
    ...job,
    outputs: normalizeOutputs(entry.outputs),
    execution_status: entry.status,
    workflow: { prompt, extra_data: extra },
  };
}

type Outputs = Record<string, Record<string, unknown[]>>;
type Item = Record<string, unknown>;

const PREVIEWABLE_MEDIA_TYPES = new Set(["images", "video", "audio", "3d", "text"]);
const THREE_D_EXTENSIONS = [".obj", ".fbx", ".gltf", ".glb", ".usdz"];
const TEXT_EXTENSIONS = [".txt", ".md", ".json"];
const TEXT_PREVIEW_MAX_LENGTH = 1024;

const endsWithAny = (name: unknown, extensions: readonly string[]) =>
  typeof name === "string" && extensions.some((e) => name.toLowerCase().endsWith(e));
const isItem = (v: unknown): v is Item => v !== null && typeof v === "object" && !Array.isArray(v);
/** The lists of a node's output dict, without `animated` (a flag, not items). */
const listsOf = (node: Record<string, unknown[]>) =>
  Object.entries(node).filter(
    (e): e is [string, unknown[]] => e[0] !== "animated" && Array.isArray(e[1]),
  );

/** `normalize_output_item`: a 3D file name becomes a file item; other non-dicts are dropped. */
function normalizeItem(item: unknown): Item | undefined {
  if (isItem(item)) return item;
  if (typeof item === "string" && endsWithAny(item, THREE_D_EXTENSIONS))
    return { filename: item, type: "output", subfolder: "", mediaType: "3d" };
  return undefined;
}

/** `normalize_outputs`: 3D names as file items, `None` items dropped, the rest as they are. */
function normalizeOutputs(outputs: Outputs): Outputs {
  const out: Outputs = {};
  for (const [nodeId, node] of Object.entries(outputs)) {
    if (!isItem(node)) {
      out[nodeId] = node;
      continue;
    }
    const normalized: Record<string, unknown[]> = {};
    for (const [mediaType, items] of Object.entries(node))
      normalized[mediaType] =
        mediaType === "animated" || !Array.isArray(items)
          ? items
          : items.filter((i) => i !== null).map((i) => normalizeItem(i) ?? i);
    out[nodeId] = normalized;
  }
  return out;
}

/** `is_previewable`: the media type, a video/audio MIME `format`, or a 3D or text file name. */
function isPreviewable(mediaType: string, item: Item): boolean {
  if (PREVIEWABLE_MEDIA_TYPES.has(mediaType)) return true;
  const format = item["format"];
  if (typeof format === "string" && (format.startsWith("video/") || format.startsWith("audio/")))
    return true;
  return (
    endsWithAny(item["filename"], THREE_D_EXTENSIONS) ||
    endsWithAny(item["filename"], TEXT_EXTENSIONS)
  );
}

/**
 * `get_outputs_summary`: the count of output items (text strings are preview-only, not counted)
 * and the preview: a saved (`type: "output"`) visual item, else another previewable visual item,
 * else a saved text file, else raw text (≤ 1,024 characters, `truncated` beyond).
 */
function outputsSummary(outputs: Outputs): { count: number; preview?: Item } {
  let count = 0;
  let saved: Item | undefined;
  let visual: Item | undefined;
  let textFile: Item | undefined;
  let text: Item | undefined;
  for (const [nodeId, node] of Object.entries(outputs)) {
    if (!isItem(node)) continue;
    for (const [mediaType, items] of listsOf(node))
      for (const raw of items) {
        let item: Item;
        if (isItem(raw)) item = raw;
        else {
          const normalized = normalizeItem(raw);
          if (!normalized) {
            if (mediaType === "text" && !saved && !text) {
              const value = Array.isArray(raw) ? pyStr(raw[0] ?? "") : pyStr(raw);
              const chars = [...value];
              text = {
                content: chars.slice(0, TEXT_PREVIEW_MAX_LENGTH).join(""),
                ...(chars.length > TEXT_PREVIEW_MAX_LENGTH ? { truncated: true } : {}),
                nodeId,
                mediaType,
              };
            }
            continue;
          }
          item = normalized;
        }
        count++;
        if (saved || !isPreviewable(mediaType, item)) continue;
        const enriched: Item = { ...item, nodeId, ...("mediaType" in item ? {} : { mediaType }) };
        const isText = mediaType === "text" || endsWithAny(item["filename"], TEXT_EXTENSIONS);
        if (isText) textFile ??= enriched;
        else if (item["type"] === "output") saved = enriched;
        else visual ??= enriched;
      }
  }
  return { count, preview: saved ?? visual ?? textFile ?? text };
}

/** `count_previewable_outputs`: items `is_previewable` accepts, 3D names included. */
function previewableCount(outputs: Outputs): number {
  let count = 0;
  for (const node of Object.values(outputs)) {
    if (!isItem(node)) continue;
    for (const [mediaType, items] of listsOf(node))
      for (const raw of items) {
        const item = normalizeItem(raw);
        if (item && isPreviewable(mediaType, item)) count++;
      }
  }
  return count;
}
