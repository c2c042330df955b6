import { createHash, randomUUID } from "node:crypto";
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { ServerResponse } from "node:http";
import {
  V2AssetReferenceSchema,
  V2SubmitJobSchema,
  V2_ERROR_CODES,
  V2_TERMINAL,
  type V2Asset,
  type V2ErrorCode,
  type V2Job,
  type V2JobStatus,
  type V2Output,
  type V2OutputType,
  type V2PreviewEvent,
  type V2Progress,
} from "../../protocol/comfy-api-v2.js";
import { parseJsonLossless, stringifyJson } from "../../protocol/json.js";
import { FileRefSchema, parseBinaryFrame } from "../../protocol/messages.js";
import { validatePrompt } from "../../schema/validate.js";
import type { App } from "../app.js";
import { contentTypeOf, uploadTarget, type FolderType } from "../files.js";
import { readMultipart, sendJson, type Route, type RouteRequest } from "../http.js";
import { withValidationTracebacks } from "../tracebacks.js";

/**
 * Comfy API v2 (`../shared/comfy-api-v2-openapi.yaml`, spec 2.0.0) served as the self-hosted
 * proxy (`comfy-api-proxy`) would serve it in front of this ComfyUI: jobs are ComfyUI prompts
 * (the v2 job id is the prompt id), followed through the server's own messages as the proxy
 * follows its WebSocket; outputs and uploads are assets over the output and input folders.
 *
 * Routes: `POST /api/v2/jobs`, `GET /api/v2/jobs/{id}`, `GET …/events` (SSE: `status`,
 * `progress`, `preview`, `output`), `POST …/cancel`, `GET …/workflow`, `POST /api/v2/assets`,
 * `POST /api/v2/assets/from-hash`, `HEAD /api/v2/assets/by-hash/{hash}`, `GET` and `DELETE
 * /api/v2/assets/{id}`, `GET …/content` (with `Range`). Uploads are hashed with blake3
 * (`blake3:<hex>`, `@noble/hashes`, an optional peer dependency: without it `hash` is `null`
 * and nothing can be found by hash). Every reply is checked against the document by the
 * contract tests.
 */

/** The client id v2 jobs run under: the proxy's own socket to ComfyUI. */
export const V2_PROXY_CLIENT_ID = "comfy-api-v2-proxy";

/** How long jobs, outputs and content URLs are said to be kept (they are kept until restart). */
const RETENTION_MS = 24 * 3600 * 1000;
const URL_TTL_MS = 3600 * 1000;

interface V2JobRecord {
  readonly id: string;
  /** The origin the job was submitted to: output URLs are absolute on it. */
  readonly base: string;
  readonly createdAt: number;
  readonly workflow: Record<string, unknown>;
  readonly nodesTotal: number;
  startedAt: number | undefined;
  completedAt: number | undefined;
  /** A cancel was asked while it ran: `canceling` until it ends. */
  cancelAsked: boolean;
  /** Taken off the queue by a cancel before it ran. */
  dequeued: boolean;
  done: Set<string>;
  currentNode: string | undefined;
  step: number | undefined;
  steps: number | undefined;
  /** Outputs committed so far, by asset id (from `executed` messages, then history). */
  outputs: Map<string, V2Output>;
  /** Open SSE streams. */
  streams: Set<(event: string, data: unknown) => void>;
  /** The most recent preview (pushed on connect) and when one was last broadcast. */
  preview: V2PreviewEvent | undefined;
  previewSentAt: number;
  /** A throttled preview waiting to go out. */
  previewTimer: NodeJS.Timeout | undefined;
}

type AssetSource =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "bytes"; readonly bytes: Buffer };

interface AssetRecord {
  readonly id: string;
  readonly name: string;
  readonly contentType: string;
  readonly createdAt: number;
  readonly jobId: string | undefined;
  readonly filePath: string | undefined;
  readonly source: AssetSource;
  /** `blake3:<hex>` of the bytes; `null` for outputs (hashed lazily: never, here). */
  readonly hash: string | null;
}

/** SSE `preview` events of one job go out at most this often (the document: "throttled"). */
const PREVIEW_THROTTLE_MS = 500;

/** The Comfy API v2 routes (paths are matched after the server strips `/api`). */
export function v2Routes(app: App): Route[] {
  const jobs = new Map<string, V2JobRecord>();
  const assets = new Map<string, AssetRecord>();
  const usedKeys = new Set<string>();

  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const origin = (r: RouteRequest) => `http://${r.req.headers.host ?? "127.0.0.1"}`;

  const statusOf = (job: V2JobRecord): V2JobStatus => {
    const { state } = app;
    if (job.dequeued) return "canceled";
    const entry = state.history.get(job.id);
    if (entry) {
      const messages = entry.status.messages as readonly (readonly [string, unknown])[];
      const interrupted = messages.some((m) => m[0] === "execution_interrupted");
      if (interrupted) return "canceled";
      return entry.status.status_str === "success" ? "succeeded" : "failed";
    }
    if (state.running?.promptId === job.id) return job.cancelAsked ? "canceling" : "running";
    if (state.queue.items.some((i) => i.promptId === job.id)) return "queued";
    // Neither queued, running nor in history: the server restarted and lost it.
    return "expired";
  };

  const queuePosition = (id: string): number | null => {
    const sorted = [...app.state.queue.items].sort((a, b) =>
      a.number !== b.number ? a.number - b.number : a.promptId < b.promptId ? -1 : 1,
    );
    const i = sorted.findIndex((item) => item.promptId === id);
    return i < 0 ? null : i;
  };

  const progressOf = (job: V2JobRecord, status: V2JobStatus): V2Progress | null => {
    if (status === "queued") return null;
    const total = Math.max(job.nodesTotal, job.done.size, 1);
    const stepShare =
      job.step !== undefined && job.steps ? Math.min(1, job.step / job.steps) / total : 0;
    const value = status === "succeeded" ? 1 : Math.min(1, job.done.size / total + stepShare);
    return {
      value,
      nodes_done: job.done.size,
      nodes_total: total,
      current_node: status === "running" ? (job.currentNode ?? null) : null,
      current_node_class:
        status === "running" && job.currentNode
          ? (((job.workflow[job.currentNode] as { class_type?: unknown } | undefined)
              ?.class_type as string | undefined) ?? null)
          : null,
      step: job.step ?? null,
      steps: job.steps ?? null,
      message: null,
    };
  };

  /** Registers an output file as an asset (one id per file, stable across reads). */
  const fileOutput = (
    job: V2JobRecord,
    node: string,
    key: string,
    ref: { filename: string; subfolder?: string | undefined; type?: string | undefined },
    base: string,
  ): V2Output | undefined => {
    const type = (ref.type ?? "output") as FolderType;
    if (type !== "output" && type !== "temp" && type !== "input") return undefined;
    const dir = app.folders.within(type, ref.subfolder ?? "");
    if (!dir) return undefined;
    const path = join(dir, basename(ref.filename));
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return undefined;
    }
    const id = stableUuid(`${job.id}\0${type}\0${ref.subfolder ?? ""}\0${ref.filename}`);
    const record: AssetRecord = assets.get(id) ?? {
      id,
      name: ref.filename,
      contentType: contentTypeOf(ref.filename),
      createdAt: Date.now(),
      jobId: job.id,
      filePath: ref.filename,
      source: { kind: "file", path },
      hash: null,
    };
    assets.set(id, record);
    return outputOf(record, node, outputType(key, ref.filename), size, base);
  };

  /** Registers a text output (`PreviewAny`, `ShowText`) as a text asset. */
  const textOutput = (
    job: V2JobRecord,
    node: string,
    index: number,
    text: string,
    base: string,
  ): V2Output => {
    const id = stableUuid(`${job.id}\0text\0${node}\0${index}`);
    const bytes = Buffer.from(text, "utf8");
    const record: AssetRecord = assets.get(id) ?? {
      id,
      name: `${node}_${index}.txt`,
      contentType: "text/plain; charset=utf-8",
      createdAt: Date.now(),
      jobId: job.id,
      filePath: undefined,
      source: { kind: "bytes", bytes },
      hash: null,
    };
    assets.set(id, record);
    return outputOf(record, node, "text", bytes.length, base);
  };

  const outputOf = (
    a: AssetRecord,
    node: string,
    type: V2OutputType,
    size: number,
    base: string,
  ): V2Output => ({
    node_id: node,
    name: a.name,
    type,
    content_type: a.contentType,
    size_bytes: size,
    id: a.id,
    hash: null,
    url: `${base}/api/v2/assets/${a.id}/content`,
    url_expires_at: new Date(Date.now() + URL_TTL_MS).toISOString(),
    job_id: a.jobId ?? null,
  });

  /** The outputs of one node's UI output, as v2 outputs (files and texts). */
  const outputsOfUi = (job: V2JobRecord, node: string, ui: unknown, base: string): V2Output[] => {
    if (ui === null || typeof ui !== "object") return [];
    const out: V2Output[] = [];
    for (const [key, values] of Object.entries(ui as Record<string, unknown>)) {
      if (!Array.isArray(values) || key === "animated") continue;
      values.forEach((value, i) => {
        if (key === "text" && typeof value === "string") {
          out.push(textOutput(job, node, i, value, base));
          return;
        }
        const ref = FileRefSchema.safeParse(value);
        if (!ref.success) return;
        const o = fileOutput(job, node, key, ref.data, base);
        if (o) out.push(o);
      });
    }
    return out;
  };

  const jobView = (job: V2JobRecord, base: string): V2Job => {
    const status = statusOf(job);
    const entry = app.state.history.get(job.id);
    if (entry)
      for (const [node, ui] of Object.entries(entry.outputs))
        for (const o of outputsOfUi(job, node, ui, base)) job.outputs.set(o.id, o);
    const error = entry
      ? errorOf(entry.status.messages as readonly (readonly [string, unknown])[])
      : null;
    const self = `/api/v2/jobs/${job.id}`;
    return {
      id: job.id,
      status,
      created_at: iso(job.createdAt)!,
      started_at: iso(job.startedAt),
      completed_at: V2_TERMINAL.has(status) ? iso(job.completedAt ?? Date.now()) : null,
      expires_at: new Date(job.createdAt + RETENTION_MS).toISOString(),
      queue_position: status === "queued" ? queuePosition(job.id) : null,
      progress: progressOf(job, status),
      outputs: [...job.outputs.values()].map((o) => ({ ...o, url: absolute(o.url, base) })),
      error: status === "failed" ? error : null,
      metrics: {
        queue_ms: job.startedAt !== undefined ? job.startedAt - job.createdAt : null,
        execution_ms:
          job.startedAt !== undefined && job.completedAt !== undefined
            ? job.completedAt - job.startedAt
            : null,
      },
      urls: { self, events: `${self}/events`, cancel: `${self}/cancel` },
    };
  };

  const broadcast = (job: V2JobRecord, event: string, data: unknown) => {
    for (const send of job.streams) send(event, data);
  };
  const pushStatus = (job: V2JobRecord, base?: string) => {
    const status = statusOf(job);
    const terminal = V2_TERMINAL.has(status);
    if (terminal) {
      job.completedAt ??= Date.now();
      clearTimeout(job.previewTimer);
      job.previewTimer = undefined;
    }
    // The terminal status carries the whole job (its outputs are the complete set).
    const data = terminal
      ? { ...jobView(job, base ?? ""), status, queue_position: null }
      : { status, queue_position: status === "queued" ? queuePosition(job.id) : null };
    broadcast(job, "status", data);
  };

  // Follow jobs through the server's messages, as the proxy follows ComfyUI's socket.
  app.hub.tap((type, data) => {
    const d = data as Record<string, unknown>;
    if (type === "status") {
      for (const job of jobs.values())
        if (job.streams.size > 0 && statusOf(job) === "queued") pushStatus(job);
      return;
    }
    const id = typeof d["prompt_id"] === "string" ? d["prompt_id"] : undefined;
    const job = id ? jobs.get(id) : undefined;
    if (!job) return;
    switch (type) {
      case "execution_start":
        job.startedAt ??= Date.now();
        pushStatus(job);
        return;
      case "execution_cached":
        for (const n of (d["nodes"] as string[] | undefined) ?? []) job.done.add(String(n));
        broadcast(job, "progress", progressOf(job, "running"));
        return;
      case "executing":
        // ComfyUI runs one node at a time: the node before the one announced now is done
        // (only output nodes send `executed`).
        if (job.currentNode !== undefined) job.done.add(job.currentNode);
        if (d["node"] === null || d["node"] === undefined) {
          job.completedAt ??= Date.now();
          job.currentNode = undefined;
          pushStatus(job, job.base);
          job.streams.clear();
          return;
        }
        job.currentNode = String(d["node"]);
        job.step = undefined;
        job.steps = undefined;
        broadcast(job, "progress", progressOf(job, "running"));
        return;
      case "progress":
        job.step = Number(d["value"]);
        job.steps = Number(d["max"]);
        broadcast(job, "progress", progressOf(job, "running"));
        return;
      case "executed": {
        const node = String(d["node"]);
        job.done.add(node);
        for (const o of outputsOfUi(job, node, d["output"], job.base)) {
          job.outputs.set(o.id, o);
          broadcast(job, "output", { ...o, url: absolute(o.url, job.base) });
        }
        return;
      }
      default:
        return;
    }
  });

  /** Broadcasts the job's latest preview, at most once per {@link PREVIEW_THROTTLE_MS}. */
  const pushPreview = (job: V2JobRecord) => {
    if (!job.preview || job.previewTimer || V2_TERMINAL.has(statusOf(job))) return;
    const wait = job.previewSentAt + PREVIEW_THROTTLE_MS - Date.now();
    if (wait > 0) {
      job.previewTimer = setTimeout(() => {
        job.previewTimer = undefined;
        pushPreview(job);
      }, wait);
      job.previewTimer.unref();
      return;
    }
    job.previewSentAt = Date.now();
    broadcast(job, "preview", job.preview);
  };

  // Previews: binary frames, as the proxy receives them on its socket (with the prompt id when
  // the frame carries metadata, else the running prompt's).
  app.hub.tapBinary((frame) => {
    const parsed = parseBinaryFrame(frame);
    if (parsed?.kind !== "preview") return;
    const id = parsed.meta?.prompt_id ?? app.state.running?.promptId;
    const job = id ? jobs.get(id) : undefined;
    if (!job) return;
    const node = parsed.meta?.node_id ?? job.currentNode;
    if (node === undefined) return;
    job.preview = {
      node_id: String(node),
      content_type: parsed.mime,
      data_base64: Buffer.from(parsed.image).toString("base64"),
    };
    pushPreview(job);
  });

  /** The asset records over the blob with this hash (none without blake3). */
  const byHash = (hash: string): AssetRecord[] =>
    [...assets.values()].filter((a) => a.hash !== null && a.hash === hash);

  const find = (r: RouteRequest): V2JobRecord | undefined => {
    if (!isV2Path(r)) return undefined;
    return jobs.get(r.params[0]!);
  };

  return [
    {
      method: "POST",
      path: "/v2/jobs",
      handle: async (r) => {
        if (!isV2Path(r)) return notFound(r.res);
        const key = header(r, "idempotency-key");
        if (key !== undefined && usedKeys.has(key))
          return v2Error(
            r.res,
            "idempotency_key_reuse",
            "This Idempotency-Key was used before; keys are single-use. Look the job up instead of resubmitting.",
          );
        let json: unknown;
        try {
          json = parseJsonLossless((await r.body()).toString("utf8"));
        } catch {
          return v2Error(r.res, "invalid_workflow", "The request body is not JSON.");
        }
        const w = (json as { workflow?: unknown } | null)?.workflow;
        if (
          w !== null &&
          typeof w === "object" &&
          Array.isArray((w as { nodes?: unknown }).nodes) &&
          "links" in w
        )
          return v2Error(
            r.res,
            "workflow_format_ui",
            "The workflow is in the editor's UI format; submit the API format (Export (API)).",
          );
        const parsed = V2SubmitJobSchema.safeParse(json);
        if (!parsed.success)
          return v2Error(r.res, "invalid_workflow", "The request body does not fit the contract.", {
            issues: parsed.error.issues.map((i) => ({
              path: i.path.join("."),
              message: i.message,
            })),
          });
        const missing: string[] = [];
        const workflow = resolveAssetReferences(parsed.data.workflow, assets, missing);
        if (missing.length > 0)
          return v2Error(
            r.res,
            "missing_asset",
            `The workflow references asset(s) that do not exist: ${missing.join(", ")}`,
            { asset_ids: missing },
          );
        const result = validatePrompt(workflow, app.schema, {
          comfyuiVersion: app.rules,
          customValidators: app.customValidators,
        });
        if (!result.valid)
          return v2Error(r.res, "invalid_workflow", result.error?.message ?? "Invalid workflow", {
            error: result.error,
            node_errors: withValidationTracebacks(
              result.nodeErrors,
              app.rules,
              resolve(app.folders.root),
            ),
          });
        if (key !== undefined) usedKeys.add(key);
        const id = randomUUID();
        const sensitive: Record<string, unknown> = {};
        const extra: Record<string, unknown> = { client_id: V2_PROXY_CLIENT_ID };
        if (parsed.data.extra_data?.api_key_comfy_org !== undefined)
          sensitive["api_key_comfy_org"] = parsed.data.extra_data.api_key_comfy_org;
        if (app.rules.has("extraDataCreateTime")) extra["create_time"] = Date.now();
        const job: V2JobRecord = {
          id,
          createdAt: Date.now(),
          workflow: result.prompt as Record<string, unknown>,
          nodesTotal: Object.keys(result.prompt).length,
          startedAt: undefined,
          completedAt: undefined,
          cancelAsked: false,
          dequeued: false,
          done: new Set(),
          currentNode: undefined,
          step: undefined,
          steps: undefined,
          outputs: new Map(),
          streams: new Set(),
          preview: undefined,
          previewSentAt: 0,
          previewTimer: undefined,
          base: origin(r),
        };
        jobs.set(id, job);
        app.state.queue.push({
          number: app.nextNumber(false),
          promptId: id,
          prompt: result.prompt as Record<string, unknown>,
          extraData: extra,
          outputs: result.outputs,
          sensitive,
        });
        sendJson(r.res, 201, jobView(job, origin(r)));
        setImmediate(() => {
          app.broadcastStatus();
          app.executor.kick();
        });
      },
    },
    {
      method: "GET",
      path: /^\/v2\/jobs\/([^/]+)$/,
      handle: (r) => {
        const job = find(r);
        if (!job) return notFound(r.res);
        sendJson(r.res, 200, jobView(job, origin(r)));
      },
    },
    {
      method: "GET",
      path: /^\/v2\/jobs\/([^/]+)\/workflow$/,
      handle: (r) => {
        const job = find(r);
        if (!job) return notFound(r.res);
        sendJson(r.res, 200, { format: "api", workflow: job.workflow });
      },
    },
    {
      method: "GET",
      path: /^\/v2\/jobs\/([^/]+)\/events$/,
      handle: (r) => {
        const job = find(r);
        if (!job) return notFound(r.res);
        const base = origin(r);
        r.res.writeHead(200, {
          "Content-Type": "text/event-stream",
          "Cache-Control": "no-cache",
          Connection: "keep-alive",
        });
        const send = (event: string, data: unknown) =>
          r.res.write(`event: ${event}\ndata: ${stringifyJson(data)}\n\n`);
        // The snapshot on connect: status, then the latest progress.
        const view = jobView(job, base);
        if (V2_TERMINAL.has(view.status)) {
          send("status", { ...view, queue_position: null });
          r.res.end();
          return;
        }
        send("status", { status: view.status, queue_position: view.queue_position });
        if (view.progress) send("progress", view.progress);
        if (job.preview) send("preview", job.preview);
        const stream = (event: string, data: unknown) => {
          send(event, data);
          if (event === "status" && V2_TERMINAL.has((data as { status: V2JobStatus }).status))
            r.res.end();
        };
        job.streams.add(stream);
        r.res.on("close", () => job.streams.delete(stream));
      },
    },
    {
      method: "POST",
      path: /^\/v2\/jobs\/([^/]+)\/cancel$/,
      handle: (r) => {
        const job = find(r);
        if (!job) return notFound(r.res);
        const status = statusOf(job);
        if (status === "queued") {
          if (app.state.queue.remove((i) => i.promptId === job.id)) {
            job.dequeued = true;
            job.completedAt = Date.now();
            app.broadcastStatus();
            pushStatus(job, origin(r));
            job.streams.clear();
          }
        } else if (status === "running") {
          job.cancelAsked = true;
          app.executor.interrupt();
          pushStatus(job);
        }
        sendJson(r.res, 200, jobView(job, origin(r)));
      },
    },
    {
      method: "POST",
      path: "/v2/assets",
      handle: async (r) => {
        if (!isV2Path(r)) return notFound(r.res);
        const { fields, file } = await readMultipart(r.req, app.maxUpload, "file");
        if (!file || !fields["file_path"] || !fields["content_type"])
          return v2Error(
            r.res,
            "invalid_workflow",
            "The upload needs a `file` part and `content_type` and `file_path` fields.",
            {},
          );
        // Hashed before anything is written: a mismatch mints nothing.
        const hash = await blake3Hash(file.bytes);
        const expected = fields["expected_hash"];
        if (expected !== undefined && hash !== null && expected.toLowerCase() !== hash)
          return v2Error(
            r.res,
            "hash_mismatch",
            `The bytes hash to ${hash}, not the expected_hash ${expected}; nothing was stored.`,
          );
        const target = uploadTarget(
          app.folders.dir("input"),
          basename(fields["file_path"]),
          file.bytes,
          false,
        );
        if (target.write) writeFileSync(target.path, file.bytes);
        const id = randomUUID();
        const name = basename(target.path);
        const record: AssetRecord = {
          id,
          name,
          contentType: fields["content_type"],
          createdAt: Date.now(),
          jobId: undefined,
          filePath: name,
          source: { kind: "file", path: target.path },
          hash,
        };
        assets.set(id, record);
        sendJson(r.res, target.write ? 201 : 200, {
          ...assetView(record, file.bytes.length, origin(r)),
          created_new: target.write,
        });
      },
    },
    {
      method: "POST",
      path: "/v2/assets/from-hash",
      handle: async (r) => {
        if (!isV2Path(r)) return notFound(r.res);
        let json: unknown;
        try {
          json = parseJsonLossless((await r.body()).toString("utf8"));
        } catch {
          json = undefined;
        }
        const body = (json ?? {}) as { hash?: unknown; file_path?: unknown };
        if (
          typeof body.hash !== "string" ||
          (body.file_path !== undefined && typeof body.file_path !== "string")
        )
          return v2Error(
            r.res,
            "invalid_workflow",
            "The body needs `hash` (blake3:<hex>) and may give `file_path`, `tags`, `expires_in`.",
          );
        const over = byHash(body.hash.toLowerCase());
        const blob = over[0];
        if (!blob)
          return v2Error(r.res, "blob_not_found", "No blob with this hash that you may mint from.");
        const filePath = typeof body.file_path === "string" ? body.file_path : blob.filePath;
        // An identical reference (same blob, same placement) is returned as it is.
        const same = over.find((a) => a.jobId === undefined && a.filePath === filePath);
        if (same)
          return sendJson(r.res, 200, {
            ...assetView(same, sizeOf(same), origin(r)),
            created_new: false,
          });
        const record: AssetRecord = {
          id: randomUUID(),
          // The node loads the blob's own file: the name stays the stored one.
          name: blob.name,
          contentType: blob.contentType,
          createdAt: Date.now(),
          jobId: undefined,
          filePath,
          source: blob.source,
          hash: blob.hash,
        };
        assets.set(record.id, record);
        sendJson(r.res, 201, {
          ...assetView(record, sizeOf(record), origin(r)),
          created_new: false,
        });
      },
    },
    {
      // HEAD (the route the document defines) is answered by this GET route.
      method: "GET",
      path: /^\/v2\/assets\/by-hash\/([^/]+)$/,
      handle: (r) => {
        const found = isV2Path(r) && byHash(r.params[0]!.toLowerCase()).length > 0;
        r.res.writeHead(found ? 200 : 404, { "Content-Length": 0 });
        r.res.end();
      },
    },
    {
      method: "DELETE",
      path: /^\/v2\/assets\/([^/]+)$/,
      handle: (r) => {
        const a = isV2Path(r) ? assets.get(r.params[0]!) : undefined;
        if (!a) return notFound(r.res);
        // This surface's hold: a job's outputs reference their records.
        if (a.jobId !== undefined)
          return v2Error(r.res, "asset_in_use", "This asset cannot be deleted now.");
        // The record only: its bytes stay while another record (or the input folder) has them.
        assets.delete(a.id);
        r.res.writeHead(204);
        r.res.end();
      },
    },
    {
      method: "GET",
      path: /^\/v2\/assets\/([^/]+)$/,
      handle: (r) => {
        const a = isV2Path(r) ? assets.get(r.params[0]!) : undefined;
        if (!a) return notFound(r.res);
        sendJson(r.res, 200, assetView(a, sizeOf(a), origin(r)));
      },
    },
    {
      method: "GET",
      path: /^\/v2\/assets\/([^/]+)\/content$/,
      handle: (r) => {
        const a = isV2Path(r) ? assets.get(r.params[0]!) : undefined;
        if (!a) return notFound(r.res);
        let size: number;
        try {
          size = a.source.kind === "bytes" ? a.source.bytes.length : statSync(a.source.path).size;
        } catch {
          return notFound(r.res);
        }
        const headers = {
          "Content-Type": "application/octet-stream",
          "Accept-Ranges": "bytes",
          "Content-Disposition": `attachment; filename="${a.name.replace(/["\\\r\n]/g, "_")}"`,
        };
        const range = byteRange(header(r, "range"), size);
        if (range === "unsatisfiable") {
          r.res.writeHead(416, { "Content-Range": `bytes */${size}`, "Content-Length": 0 });
          return r.res.end();
        }
        const [start, end] = range ?? [0, size - 1];
        r.res.writeHead(range ? 206 : 200, {
          ...headers,
          "Content-Length": Math.max(0, end - start + 1),
          ...(range ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}),
        });
        if (a.source.kind === "bytes") return r.res.end(a.source.bytes.subarray(start, end + 1));
        if (size === 0) return r.res.end();
        // Streamed: a large output is never read into memory.
        const stream = createReadStream(a.source.path, { start, end });
        stream.on("error", () => r.res.destroy());
        stream.pipe(r.res);
      },
    },
  ];
}

function sizeOf(a: AssetRecord): number {
  if (a.source.kind === "bytes") return a.source.bytes.length;
  try {
    return statSync(a.source.path).size;
  } catch {
    return 0;
  }
}

function assetView(a: AssetRecord, size: number, base: string): V2Asset {
  return {
    id: a.id,
    hash: a.hash,
    size_bytes: size,
    content_type: a.contentType,
    file_path: a.filePath ?? null,
    created_at: new Date(a.createdAt).toISOString(),
    url: `${base}/api/v2/assets/${a.id}/content`,
    url_expires_at: new Date(Date.now() + URL_TTL_MS).toISOString(),
    expires_at: null,
    ...(a.jobId ? { job_id: a.jobId } : {}),
  };
}

/**
 * `core/ASSET` references in a workflow replaced by the file name the node loads (the
 * proxy's job): an asset in the input folder by its name. Unknown ids are collected in
 * `missing` (422 `missing_asset`).
 */
function resolveAssetReferences(
  workflow: Record<string, unknown>,
  assets: ReadonlyMap<string, AssetRecord>,
  missing: string[],
): Record<string, unknown> {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    const ref = V2AssetReferenceSchema.safeParse(v);
    if (ref.success) {
      const a = assets.get(ref.data.info.id);
      if (!a) {
        missing.push(ref.data.info.id);
        return v;
      }
      return a.jobId ? `${a.name} [output]` : a.name;
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(workflow) as Record<string, unknown>;
}

/** The v2 output type of a file: by its UI key, then its extension; the rest is `file`. */
function outputType(key: string, filename: string): V2OutputType {
  const ext = extname(filename).toLowerCase();
  if (key === "latents" || ext === ".latent") return "latent";
  if (key === "audio" || /^\.(flac|mp3|wav|ogg|opus|m4a|aac)$/.test(ext)) return "audio";
  if (/^\.(mp4|webm|mov|mkv|avi|m4v)$/.test(ext)) return "video";
  if (/^\.(txt|md|json|csv)$/.test(ext)) return "text";
  if ((key === "images" || key === "gifs") && /^\.(png|jpe?g|webp|gif|bmp)$/.test(ext))
    return "image";
  return "file";
}

/** The `JobError` of a failed history entry, from its `execution_error` message. */
function errorOf(messages: readonly (readonly [string, unknown])[]): V2Job["error"] {
  const m = messages.find((x) => x[0] === "execution_error")?.[1] as
    Record<string, unknown> | undefined;
  if (!m) return { code: "execution_error", message: "The job failed." };
  return {
    code: "node_execution_error",
    message: `${String(m["exception_type"] ?? "Exception")}: ${String(m["exception_message"] ?? "").trim()}`,
    node_id: typeof m["node_id"] === "string" ? m["node_id"] : null,
    class_type: typeof m["node_type"] === "string" ? m["node_type"] : null,
    traceback: Array.isArray(m["traceback"]) ? m["traceback"].join("") : null,
  };
}

function absolute(url: string, base: string): string {
  return /^https?:/.test(url) ? url : `${base}${url}`;
}

/** A UUID derived from a text (so an output keeps its asset id across reads). */
function stableUuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The server strips `/api`; v2 routes exist only under `/api/v2`. */
function isV2Path(r: RouteRequest): boolean {
  return r.url.pathname.startsWith("/api/v2/");
}

function header(r: RouteRequest, name: string): string | undefined {
  const v = r.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function v2Error(
  res: ServerResponse,
  code: V2ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): void {
  // The document gives every 409 a Retry-After; a hash mismatch will not pass on a retry, so
  // this one says "now" (send the right bytes).
  if (V2_ERROR_CODES[code] === 409) res.setHeader("Retry-After", "0");
  sendJson(res, V2_ERROR_CODES[code], {
    error: { code, message, ...(details ? { details } : {}) },
  });
}

function notFound(res: ServerResponse): void {
  sendJson(res, 404, { error: { code: "not_found", message: "No such job or asset." } });
}

/**
 * The one range of a `Range: bytes=…` header (RFC 9110 §14.1.2): `[first, last]` clamped to the
 * size, `"unsatisfiable"` for a range that starts past the end (416), `undefined` to serve the
 * whole content (no header, another unit, several ranges, or bad syntax, which a server may
 * ignore).
 */
export function byteRange(
  value: string | undefined,
  size: number,
): readonly [number, number] | "unsatisfiable" | undefined {
  const m = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === "" ? Infinity : Number(m[2]);
  if (last < first) return undefined;
  if (first >= size) return "unsatisfiable";
  return [first, Math.min(last, size - 1)];
}

let blake3: Promise<((bytes: Uint8Array) => Uint8Array) | undefined> | undefined;

/** `blake3:<hex>` of `bytes`, or `null` when `@noble/hashes` (an optional peer) is not installed. */
async function blake3Hash(bytes: Uint8Array): Promise<string | null> {
  blake3 ??= import("@noble/hashes/blake3").then(
    (m) => m.blake3,
    () => undefined,
  );
  const hash = await blake3;
  return hash ? `blake3:${Buffer.from(hash(bytes)).toString("hex")}` : null;
}
