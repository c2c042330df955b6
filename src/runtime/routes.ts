import { FormData, request as undiciRequest } from "undici";
import type { Readable } from "node:stream";
import { z } from "zod";
import {
  HistorySchema,
  QueueSchema,
  SystemStatsSchema,
  UploadReplySchema,
  type FileRef,
  type HistoryEntry,
  type QueueReply,
  type SystemStats,
  type UploadReply,
} from "../protocol/messages.js";
import {
  JobsCancelReplySchema,
  ServerJobDetailSchema,
  ServerJobsPageSchema,
  type ServerJobDetail,
  type ServerJobsPage,
  type ServerJobStatus,
} from "../protocol/jobs.js";
import { ObjectInfoSchema } from "../protocol/object-info.js";
import { isJsonObject } from "../protocol/object-info-fast.js";
import {
  PromptAcceptedBodySchema,
  PromptErrorBodySchema,
  type ErrorObj,
  type NodeErrors,
} from "../protocol/prompt.js";
import {
  checkReply,
  parseReply,
  parseReplyJson,
  ReplyTooLargeError,
  ServerStatusError,
  type Http,
  type HttpRequest,
} from "./http.js";
import { declaredTooLarge } from "./node-http.js";
import { objectInfoText } from "./object-info.js";

/** Per-call settings of a route. */
export interface RouteOptions {
  readonly signal?: AbortSignal;
  /**
   * Let the transport retry transient failures (default true). Code that is itself a retry
   * loop (polling, idempotency checks) passes `false`, so budgets never multiply.
   */
  readonly retry?: boolean;
  /** Per-attempt timeout in ms (default: the client's). */
  readonly timeoutMs?: number;
}

/** What `POST /prompt` answered (protocol §5.5). */
export type PromptReply =
  | {
      readonly status: "accepted";
      readonly number: number | undefined;
      /** Non-empty when the server dropped output nodes that failed validation. */
      readonly nodeErrors: NodeErrors;
    }
  | {
      readonly status: "rejected";
      readonly error: ErrorObj | undefined;
      readonly nodeErrors: NodeErrors;
    }
  /** 409: a prompt with this id exists already (a retried POST that had taken effect). */
  | { readonly status: "exists" };

/**
 * ComfyUI's HTTP routes, typed and zod-checked (protocol §2). Each is one request through the
 * transport, which alone retries; a route never loops on its own.
 */
export class Routes {
  constructor(readonly http: Http) {}

  /**
   * `GET /object_info`: the raw schema, parsed losslessly (a 64-bit `max` such as KSampler's
   * seed, 18446744073709551615, is an exact bigint) and checked to be an object of node classes.
   * Normalize it with `normalizeObjectInfo`. Throws `BAD_SERVER_REPLY` for a reply that is not
   * such JSON, and the transport's typed errors (`SERVER_UNREACHABLE`, `AUTH_FAILED`, …).
   *
   * `floats`: parsed with `parseJsonLossless(text, { floats: true })`, so the schema normalized
   * from it knows which limits are Python floats (`numbersAsWritten`) and `validatePrompt` prints
   * them as the server does (`max of 1000.0`). It costs about half a parse more on a big schema.
   */
  async objectInfo(
    options: RouteOptions & { readonly floats?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    if (!options.floats) return this.http.json(get("api/object_info", options), ObjectInfoSchema);
    const what = `GET ${this.http.url("api/object_info")}`;
    const raw = parseReplyJson(await objectInfoText(this.http, common(options)), what, {
      floats: true,
    });
    // The parsed object itself: a zod record's copy would lose what the parse recorded.
    if (isJsonObject(raw) && !Object.hasOwn(raw, "__proto__")) return raw;
    return checkReply(raw, ObjectInfoSchema, what);
  }

  /**
   * `GET /object_info` as the server sent it, unparsed: the same request as {@link objectInfo}
   * (headers, TLS, retries, typed errors), for callers that hash the exact text (`comfyc
   * codegen`'s unchanged re-run). Parse it with {@link parseObjectInfoReply}.
   */
  async objectInfoText(options: RouteOptions = {}): Promise<string> {
    return objectInfoText(this.http, options);
  }

  /** `GET /system_stats`. */
  async systemStats(options: RouteOptions = {}): Promise<SystemStats> {
    return this.http.json(get("api/system_stats", options), SystemStatsSchema);
  }

  /** `GET /queue`, with `queue_pending` sorted into run order. */
  async queue(options: RouteOptions = {}): Promise<QueueReply> {
    const q = await this.http.json(get("api/queue", options), QueueSchema);
    const key = (item: unknown[]) => [Number(item[0]), String(item[1])] as const;
    const pending = [...q.queue_pending].sort((a, b) => {
      const [na, ia] = key(a);
      const [nb, ib] = key(b);
      return na - nb || (ia < ib ? -1 : ia > ib ? 1 : 0);
    });
    return { ...q, queue_pending: pending };
  }

  /** One history entry, or undefined while pending/running or when unknown (`{}`). */
  async history(promptId: string, options: RouteOptions = {}): Promise<HistoryEntry | undefined> {
    const all = await this.http.json(
      get(`api/history/${encodeURIComponent(promptId)}`, options),
      HistorySchema,
    );
    return all[promptId];
  }

  /** `GET /history`, oldest first. */
  async historyList(
    options: RouteOptions & { maxItems?: number; offset?: number } = {},
  ): Promise<Record<string, HistoryEntry>> {
    const q = new URLSearchParams();
    if (options.maxItems !== undefined) q.set("max_items", String(options.maxItems));
    if (options.offset !== undefined) q.set("offset", String(options.offset));
    return this.http.json(get(`api/history${q.size ? `?${q}` : ""}`, options), HistorySchema);
  }

  /**
   * `GET /api/jobs/{id}` (ComfyUI 0.6.0+, `get_job` of `comfy_execution/jobs.py`): one job's
   * status by id, pending and running ones included (which `/history/{id}` shows as `{}`). A
   * finished job adds its normalised `outputs`, the history entry's `execution_status` and its
   * `workflow`. `undefined` on 404: an unknown id, or a server before 0.6.0 (no such route).
   */
  async serverJob(jobId: string, options: RouteOptions = {}): Promise<ServerJobDetail | undefined> {
    const req: HttpRequest = {
      ...get(`api/jobs/${encodeURIComponent(jobId)}`, options),
      accept: (s) => s === 200 || s === 404,
    };
    const what = `GET ${this.http.url(req.path)}`;
    return this.http.request(req, async (res) => {
      const text = await res.body.text();
      return res.status === 404 ? undefined : parseReply(text, ServerJobDetailSchema, what);
    });
  }

  /**
   * `GET /api/jobs` (ComfyUI 0.6.0+): one page of jobs, newest first by default; `status`
   * filters (`"cancelled"` exists from 0.9.0; an unknown one is a 400). Queue items carry no
   * prompt here, so listing the pending and running jobs is far lighter than `GET /queue`.
   */
  async serverJobs(
    options: RouteOptions & {
      status?: readonly ServerJobStatus[];
      limit?: number;
      offset?: number;
      sortBy?: "created_at" | "execution_duration";
      sortOrder?: "asc" | "desc";
      workflowId?: string;
    } = {},
  ): Promise<ServerJobsPage> {
    const q = new URLSearchParams();
    if (options.status?.length) q.set("status", options.status.join(","));
    if (options.limit !== undefined) q.set("limit", String(options.limit));
    if (options.offset !== undefined) q.set("offset", String(options.offset));
    if (options.sortBy) q.set("sort_by", options.sortBy);
    if (options.sortOrder) q.set("sort_order", options.sortOrder);
    if (options.workflowId) q.set("workflow_id", options.workflowId);
    return this.http.json(get(`api/jobs${q.size ? `?${q}` : ""}`, options), ServerJobsPageSchema);
  }

  /**
   * `POST /api/jobs/{id}/cancel` (ComfyUI 0.26.0+): interrupts the job if it is the running one,
   * removes it from the queue if it is pending, atomically under the queue's lock
   * (`interrupt_if_running`). Resolves `true` when it did either, `false` when the job was
   * neither (finished, or unknown: the route does not check the id). Before 0.26.0 the route
   * does not exist (`NOT_FOUND` or 405 `SERVER_ERROR`); use `deleteQueued` and `interrupt`.
   */
  async cancelServerJob(jobId: string, options: RouteOptions = {}): Promise<boolean> {
    const reply = await this.http.json(
      post(`api/jobs/${encodeURIComponent(jobId)}/cancel`, undefined, options),
      JobsCancelReplySchema,
    );
    return reply.cancelled;
  }

  /**
   * `POST /prompt` with a ready JSON body. 200, 400 and 409 are answers, not errors. `recover`
   * runs before a retry: returning a reply ends the request there (the first attempt may have
   * queued the prompt before its reply was lost).
   */
  async postPrompt(
    body: string,
    options: RouteOptions & { recover?: () => Promise<PromptReply | undefined> } = {},
  ): Promise<PromptReply> {
    const req: HttpRequest = {
      ...post("api/prompt", body, options),
      accept: (s) => s === 200 || s === 400 || s === 409,
    };
    const what = `POST ${this.http.url("api/prompt")}`;
    return this.http.request(
      req,
      async (res): Promise<PromptReply> => {
        const text = await res.body.text();
        if (res.status === 409) return { status: "exists" };
        if (res.status === 400) {
          const rejected = parseReply(text, PromptErrorBodySchema, what);
          const error: ErrorObj | undefined =
            typeof rejected.error === "string"
              ? { type: "error", message: rejected.error, details: "", extra_info: {} }
              : (rejected.error as ErrorObj);
          return { status: "rejected", error, nodeErrors: rejected.node_errors as NodeErrors };
        }
        const ok = parseReply(text, PromptAcceptedBodySchema, what);
        return { status: "accepted", number: ok.number, nodeErrors: ok.node_errors as NodeErrors };
      },
      options.recover,
    );
  }

  /** Deletes pending prompts (`POST /queue {delete}`); running ones are not stopped. */
  async deleteQueued(promptIds: readonly string[], options: RouteOptions = {}): Promise<void> {
    await this.http.empty(post("api/queue", JSON.stringify({ delete: promptIds }), options));
  }

  /** Clears every pending prompt. */
  async clearQueue(options: RouteOptions = {}): Promise<void> {
    await this.http.empty(post("api/queue", JSON.stringify({ clear: true }), options));
  }

  /** Deletes history entries (`POST /history {delete}`); their output files stay on disk. */
  async deleteHistory(promptIds: readonly string[], options: RouteOptions = {}): Promise<void> {
    await this.http.empty(post("api/history", JSON.stringify({ delete: promptIds }), options));
  }

  /** Clears the whole history (`POST /history {clear}`). */
  async clearHistory(options: RouteOptions = {}): Promise<void> {
    await this.http.empty(post("api/history", JSON.stringify({ clear: true }), options));
  }

  /** Interrupts the running prompt (only if it is `promptId`, when given). */
  async interrupt(promptId?: string, options: RouteOptions = {}): Promise<void> {
    const body = JSON.stringify(promptId ? { prompt_id: promptId } : {});
    await this.http.empty(post("api/interrupt", body, options));
  }

  /** `POST /free`: unload models and/or clear the execution cache. */
  async free(
    what: { unloadModels?: boolean; freeMemory?: boolean } = {
      unloadModels: true,
      freeMemory: true,
    },
    options: RouteOptions = {},
  ): Promise<void> {
    const body = JSON.stringify({
      unload_models: what.unloadModels === true,
      free_memory: what.freeMemory === true,
    });
    await this.http.empty(post("api/free", body, options));
  }

  /** `GET /models/{folder}`: file names the server's loaders accept. */
  async models(folder: string, options: RouteOptions = {}): Promise<string[]> {
    return this.http.json(
      get(`api/models/${encodeURIComponent(folder)}`, options),
      z.array(z.string()),
    );
  }

  /** `POST /upload/image` of bytes under `name`; returns where the server stored them. */
  async uploadImageBytes(
    bytes: Uint8Array,
    name: string,
    options: RouteOptions & {
      subfolder?: string;
      type?: "input" | "temp" | "output";
      overwrite?: boolean;
    } = {},
  ): Promise<UploadReply> {
    return this.#upload("api/upload/image", bytes, name, options);
  }

  /** `POST /upload/mask`: the bytes' alpha replaces the alpha of `original`. */
  async uploadMaskBytes(
    bytes: Uint8Array,
    name: string,
    original: FileRef,
    options: RouteOptions & { subfolder?: string; overwrite?: boolean } = {},
  ): Promise<UploadReply> {
    return this.#upload("api/upload/mask", bytes, name, { ...options, originalRef: original });
  }

  /**
   * `GET /view` of a file, its body unread (a stream: big outputs never sit in memory). The
   * stream fails with `ReplyTooLargeError` (`BAD_SERVER_REPLY`) past the client's
   * `limits.fileBytes` (default 4 GiB), its connection closed; a larger `Content-Length` is
   * refused before anything is read.
   */
  async view(ref: FileRef, options: RouteOptions = {}): Promise<Readable> {
    const url = (ref as { url?: unknown }).url;
    if (typeof url === "string") return this.#viewAsset(url, options);
    const req: HttpRequest = { ...get(`api/view?${viewQuery(ref)}`, options), limit: "fileBytes" };
    const res = await this.http.send(req);
    return this.http.limitStream(res.body, req);
  }

  /**
   * A Comfy API v2 asset's bytes (an output of a v2 job carries its content `url`). A link on
   * the server's origin is fetched with the client's credentials; one elsewhere (a signed URL,
   * or where `…/content` redirects) without them, so a token never leaves its server. Both are
   * held to `limits.fileBytes`.
   */
  async #viewAsset(url: string, options: RouteOptions): Promise<Readable> {
    const target = new URL(url, this.http.baseUrl.origin);
    if (target.origin !== this.http.baseUrl.origin) return this.#fetchForeign(target);
    const req: HttpRequest = {
      ...get(target.href, options),
      accept: (s) => (s >= 200 && s < 300) || s === 302 || s === 303 || s === 307,
      limit: "fileBytes",
    };
    const res = await this.http.send(req);
    const location = res.headers["location"];
    if (res.status >= 300 && typeof location === "string") {
      await res.body.dump();
      return this.#fetchForeign(new URL(location, target));
    }
    return this.http.limitStream(res.body, req);
  }

  /**
   * GET of a URL off the server's origin: no credentials, a non-2xx is `SERVER_ERROR`; the body
   * is held to `limits.fileBytes` as the server's own files are.
   */
  async #fetchForeign(url: URL): Promise<Readable> {
    const req: HttpRequest = { method: "GET", path: url.href, limit: "fileBytes" };
    const max = this.http.limits.fileBytes;
    const res = await undiciRequest(url, { method: "GET" });
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await this.http
        .limitStream(res.body, { ...req, maxBytes: 64 * 1024 })
        .toArray()
        .then((chunks: Buffer[]) => Buffer.concat(chunks).toString())
        .catch(() => "");
      throw new ServerStatusError(res.statusCode, "GET", url.href, text);
    }
    const declared = declaredTooLarge(res.headers, "GET", res.statusCode, max);
    if (declared !== undefined) {
      res.body.destroy();
      throw new ReplyTooLargeError(
        "GET",
        url.href,
        max,
        "limits.fileBytes",
        declared,
        res.statusCode,
      );
    }
    return this.http.limitStream(res.body, req);
  }

  /** `HEAD /view`: whether the server has the file. */
  async exists(ref: FileRef, options: RouteOptions = {}): Promise<boolean> {
    return this.http.request(
      { ...get(`api/view?${viewQuery(ref)}`, options), method: "HEAD", accept: () => true },
      async (res) => {
        await res.body.dump();
        return res.status === 200;
      },
    );
  }

  async #upload(
    path: string,
    bytes: Uint8Array,
    name: string,
    options: RouteOptions & {
      subfolder?: string;
      type?: string;
      overwrite?: boolean;
      originalRef?: FileRef;
    },
  ): Promise<UploadReply> {
    // undici's own FormData: Node 20's global one is a different class its request() cannot read.
    // A fresh form per attempt: a body stream is consumed by the first one.
    const form = () => {
      const f = new FormData();
      f.append("image", new Blob([new Uint8Array(bytes)]), name);
      if (options.subfolder) f.append("subfolder", options.subfolder);
      if (options.type) f.append("type", options.type);
      if (options.overwrite) f.append("overwrite", "true");
      if (options.originalRef) f.append("original_ref", JSON.stringify(options.originalRef));
      return f;
    };
    return this.http.json({ ...post(path, form(), options) }, UploadReplySchema);
  }
}

function viewQuery(ref: FileRef): URLSearchParams {
  return new URLSearchParams({
    filename: ref.filename,
    subfolder: ref.subfolder ?? "",
    type: ref.type ?? "output",
  });
}

/**
 * Parses the text of a `GET /object_info` reply ({@link Routes.objectInfoText}) exactly as
 * {@link Routes.objectInfo} does: losslessly, checked to be an object; `url` names the request
 * in the `BAD_SERVER_REPLY` error.
 */
export function parseObjectInfoReply(text: string, url: string): Record<string, unknown> {
  return parseReply(text, ObjectInfoSchema, `GET ${url}`);
}

function get(path: string, options: RouteOptions): HttpRequest {
  return { method: "GET", path, ...common(options) };
}

function post(path: string, body: HttpRequest["body"], options: RouteOptions): HttpRequest {
  return {
    method: "POST",
    path,
    body,
    ...(typeof body === "string" ? { headers: { "content-type": "application/json" } } : {}),
    ...common(options),
  };
}

function common(options: RouteOptions): Partial<HttpRequest> {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.retry === false ? { retry: false } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
}
