import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, extname } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AbortError } from "p-retry";
import type { AnyWorkflow } from "../builder/define-workflow.js";
import type { ApiPrompt, SourceLocation } from "../builder/types.js";
import type { CompileOptions } from "../builder/workflow.js";
import { FormData } from "undici";
import { ComfycError, internalError, ioError, isComfycError } from "../errors.js";
import type { NodeContext } from "../protocol/describe-errors.js";
import { stringifyJson } from "../protocol/json.js";
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
  type WsMessage,
} from "../protocol/messages.js";
import { ObjectInfoSchema } from "../protocol/object-info.js";
import {
  PromptAcceptedBodySchema,
  PromptErrorBodySchema,
  type ErrorObj,
  type NodeErrors,
} from "../protocol/prompt.js";
import { CancelledError, JobLostError, PromptRejectedError } from "./errors.js";
import { Http, parseReply, type HttpOptions } from "./http.js";
import { Job, type JobHost, type JobLogLine, type JobResult, type JobTimeouts } from "./job.js";
import { safeOutputPath } from "./outputs.js";
import { ComfySocket } from "./socket.js";
import { z } from "zod";

/** Settings of a {@link ComfyClient}. */
export interface ClientOptions extends HttpOptions {
  /** The WebSocket client id (default: a fresh UUID per client). */
  readonly clientId?: string;
  /** WebSocket reconnect delays, exponential with jitter. */
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /** How often to check `/history` for jobs whose socket is silent or gone (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** After how long without a message a running job is checked over HTTP (default 3000 ms). */
  readonly silenceMs?: number;
  /** Receives one JSON-ready line per job phase (queued, running, done, failed). */
  readonly onLog?: (line: JobLogLine) => void;
}

/** Settings of one submission. */
export interface SubmitOptions {
  /** Parameters of a parameterized workflow. */
  readonly params?: Record<string, unknown>;
  /** How to compile a builder workflow (validation is on by default). */
  readonly compile?: CompileOptions;
  /** Extra data stored with the prompt (`extra_pnginfo`, partner-node credentials, …). */
  readonly extraData?: Readonly<Record<string, unknown>>;
  /** Jump ahead of the queue. */
  readonly front?: boolean;
  /** Run only these output nodes. */
  readonly partialExecutionTargets?: readonly string[];
  /** Force a fresh execution of every node even if an identical prompt ran before. */
  readonly fresh?: boolean;
  readonly timeouts?: JobTimeouts;
  /** Accept a 200 whose `node_errors` is non-empty (some outputs dropped) instead of failing. */
  readonly allowPartial?: boolean;
  /** When the server loses the job (restart), submit it again instead of failing. */
  readonly resubmitOnLoss?: boolean;
  /** Aborting cancels the job. */
  readonly signal?: AbortSignal;
  /** Use this prompt id (a UUID) instead of a fresh one. */
  readonly promptId?: string;
}

/** Options of {@link ComfyClient.attach}. */
export interface AttachOptions {
  readonly expectedOutputs?: Iterable<string>;
  readonly timeouts?: JobTimeouts;
}

/**
 * A client for one ComfyUI server: typed routes, and jobs followed over one shared WebSocket
 * with `/history` as the source of truth.
 *
 * @example
 * const client = new ComfyClient({ url: "http://127.0.0.1:8188" });
 * const job = client.submit(wf);
 * job.on("progress", (e) => console.log(e.value, "/", e.max));
 * const result = await job.result();
 * await client.saveOutputs(result, "out");
 * await client.close();
 */
export class ComfyClient {
  readonly http: Http;
  readonly clientId: string;
  readonly #socket: ComfySocket;
  readonly #jobs = new Map<string, Job>();
  readonly #options: ClientOptions;
  #poller: NodeJS.Timeout | undefined;
  #lastActive: Job | undefined;
  #closed = false;
  readonly #host: JobHost;
  readonly #uploaded = new Map<string, string>();

  constructor(options: ClientOptions) {
    this.#options = options;
    this.http = new Http(options);
    this.clientId = options.clientId ?? randomUUID();
    this.#socket = new ComfySocket({
      url: this.http.baseUrl,
      clientId: this.clientId,
      headers: this.http.headers,
      dispatcher: this.http.dispatcher,
      ...(options.reconnect?.minDelayMs !== undefined
        ? { minDelayMs: options.reconnect.minDelayMs }
        : {}),
      ...(options.reconnect?.maxDelayMs !== undefined
        ? { maxDelayMs: options.reconnect.maxDelayMs }
        : {}),
      wanted: JOB_MESSAGES,
      onMessage: (m) => this.#dispatch(m),
      onBinary: (frame) => {
        if (frame.kind === "preview") {
          const job =
            (frame.meta?.prompt_id && this.#jobs.get(frame.meta.prompt_id)) || this.#lastActive;
          job?.binary({
            type: "preview",
            node: frame.meta?.display_node_id ?? frame.meta?.node_id ?? job.currentNode,
            mime: frame.mime,
            image: frame.image,
          });
        } else {
          const job =
            [...this.#jobs.values()].find((j) => j.currentNode === frame.nodeId) ??
            this.#lastActive;
          job?.binary({ type: "text", node: frame.nodeId, text: frame.text });
        }
      },
      onOpen: (reconnected) => {
        // Events sent while disconnected are not replayed: read history for every job.
        if (reconnected) for (const job of this.#jobs.values()) void this.#check(job);
      },
      onClose: () => this.#schedulePoll(),
    });
    this.#host = {
      server: this.http.baseUrl.origin,
      cancelPending: (id) => this.#cancelPending(id),
      interruptRunning: (id) => this.interrupt(id),
      log: (line) => options.onLog?.(line),
      release: (job) => {
        this.#jobs.delete(job.promptId);
        this.#resubmit.delete(job.promptId);
        if (this.#lastActive === job) this.#lastActive = undefined;
      },
    };
  }

  // ---- Routes -------------------------------------------------------------------------

  /** `GET /object_info`: the raw schema (normalize it with `normalizeObjectInfo`). */
  async objectInfo(options: { signal?: AbortSignal } = {}): Promise<Record<string, unknown>> {
    return this.http.json("GET", "api/object_info", ObjectInfoSchema, options);
  }

  /** `GET /system_stats`. */
  async systemStats(options: { signal?: AbortSignal } = {}): Promise<SystemStats> {
    return this.http.json("GET", "api/system_stats", SystemStatsSchema, options);
  }

  /** `GET /queue`, with `queue_pending` sorted into run order. */
  async queue(options: { signal?: AbortSignal } = {}): Promise<QueueReply> {
    const q = await this.http.json("GET", "api/queue", QueueSchema, options);
    const key = (item: unknown[]) => [Number(item[0]), String(item[1])] as const;
    const pending = [...q.queue_pending].sort((a, b) => {
      const [na, ia] = key(a);
      const [nb, ib] = key(b);
      return na - nb || (ia < ib ? -1 : ia > ib ? 1 : 0);
    });
    return { ...q, queue_pending: pending };
  }

  /** A JSON `POST` whose reply body ComfyUI leaves empty (queue, history, interrupt, free). */
  async #postJson(path: string, body: unknown, options: { signal?: AbortSignal }): Promise<void> {
    await this.http.empty("POST", path, {
      ...options,
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
  }

  /** Deletes pending prompts (`POST /queue {delete}`); running ones are not stopped. */
  async deleteQueued(
    promptIds: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#postJson("api/queue", { delete: promptIds }, options);
  }

  /** Clears every pending prompt. */
  async clearQueue(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#postJson("api/queue", { clear: true }, options);
  }

  /** One history entry, or undefined while pending/running or when unknown (`{}`). */
  async history(
    promptId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<HistoryEntry | undefined> {
    const all = await this.http.json(
      "GET",
      `api/history/${encodeURIComponent(promptId)}`,
      HistorySchema,
      options,
    );
    return all[promptId];
  }

  /** `GET /history`, oldest first. */
  async historyList(
    options: { maxItems?: number; offset?: number; signal?: AbortSignal } = {},
  ): Promise<Record<string, HistoryEntry>> {
    const q = new URLSearchParams();
    if (options.maxItems !== undefined) q.set("max_items", String(options.maxItems));
    if (options.offset !== undefined) q.set("offset", String(options.offset));
    return this.http.json(
      "GET",
      `api/history${q.size ? `?${q}` : ""}`,
      HistorySchema,
      options.signal ? { signal: options.signal } : {},
    );
  }

  /** Deletes history entries (`POST /history {delete}`); their output files stay on disk. */
  async deleteHistory(
    promptIds: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#postJson("api/history", { delete: promptIds }, options);
  }

  /** Clears the whole history (`POST /history {clear}`). */
  async clearHistory(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#postJson("api/history", { clear: true }, options);
  }

  /** Interrupts the running prompt (only if it is `promptId`, when given). */
  async interrupt(promptId?: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#postJson("api/interrupt", promptId ? { prompt_id: promptId } : {}, options);
  }

  /** `POST /free`: unload models and/or clear the execution cache. */
  async free(
    what: { unloadModels?: boolean; freeMemory?: boolean } = {
      unloadModels: true,
      freeMemory: true,
    },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#postJson(
      "api/free",
      {
        unload_models: what.unloadModels === true,
        free_memory: what.freeMemory === true,
      },
      options,
    );
  }

  /** `GET /models/{folder}`: file names the server's loaders accept. */
  async models(folder: string, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.http.json(
      "GET",
      `api/models/${encodeURIComponent(folder)}`,
      z.array(z.string()),
      options,
    );
  }

  /** Uploads an image (bytes or a local path) to the input folder; returns the stored name. */
  async uploadImage(
    data: Uint8Array | string,
    options: {
      name?: string;
      subfolder?: string;
      type?: "input" | "temp" | "output";
      overwrite?: boolean;
      signal?: AbortSignal;
    } = {},
  ): Promise<UploadReply> {
    return this.#upload("api/upload/image", data, options);
  }

  /** Uploads a mask for `original`: its alpha replaces the original's alpha channel. */
  async uploadMask(
    data: Uint8Array | string,
    original: FileRef,
    options: { name?: string; subfolder?: string; overwrite?: boolean; signal?: AbortSignal } = {},
  ): Promise<UploadReply> {
    return this.#upload("api/upload/mask", data, { ...options, originalRef: original });
  }

  async #upload(
    path: string,
    data: Uint8Array | string,
    options: {
      name?: string;
      subfolder?: string;
      type?: string;
      overwrite?: boolean;
      signal?: AbortSignal;
      originalRef?: FileRef;
    },
  ): Promise<UploadReply> {
    const bytes = typeof data === "string" ? await readLocal(data) : data;
    const name =
      options.name ?? (typeof data === "string" ? data.split(/[\\/]/).pop()! : "upload.png");
    // undici's own FormData: Node 20's global one is a different class its request() cannot read.
    const form = new FormData();
    form.append("image", new Blob([new Uint8Array(bytes)]), name);
    if (options.subfolder) form.append("subfolder", options.subfolder);
    if (options.type) form.append("type", options.type);
    if (options.overwrite) form.append("overwrite", "true");
    if (options.originalRef) form.append("original_ref", JSON.stringify(options.originalRef));
    return this.http.json("POST", path, UploadReplySchema, {
      body: form,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Downloads a file as a stream (`GET /view`); big outputs never sit in memory. */
  async stream(ref: FileRef, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const q = new URLSearchParams({
      filename: ref.filename,
      subfolder: ref.subfolder ?? "",
      type: ref.type ?? "output",
    });
    const res = await this.http.send("GET", `api/view?${q}`, options);
    return res.body;
  }

  /** Downloads a file into memory. */
  async read(ref: FileRef, options: { signal?: AbortSignal } = {}): Promise<Buffer> {
    const body = await this.stream(ref, options);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Streams a file to `dir/<subfolder>/<filename>`. Server-supplied names are untrusted: a
   * name that would land outside `dir` throws `UNSAFE_PATH` before anything is written.
   */
  async save(ref: FileRef, dir: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const target = safeOutputPath(dir, ref);
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.part-${process.pid}`;
    try {
      await pipeline(await this.stream(ref, options), createWriteStream(partial));
      await rename(partial, target);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    return target;
  }

  /**
   * Saves every file of a result under `dir`; returns the written paths. A file whose
   * server-supplied name would escape `dir` is skipped, the others are still saved, and then
   * one `UNSAFE_PATH` error names every skipped file.
   */
  async saveOutputs(
    result: JobResult,
    dir: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<string[]> {
    const paths: string[] = [];
    const unsafe: ComfycError[] = [];
    for (const file of result.files) {
      try {
        paths.push(await this.save(file, dir, options));
      } catch (e) {
        if (!(e instanceof ComfycError) || e.code !== "UNSAFE_PATH") throw e;
        unsafe.push(e);
      }
    }
    if (unsafe.length > 0) {
      throw new ComfycError(
        "UNSAFE_PATH",
        `Saved ${paths.length} file(s) to ${dir}; refused ${unsafe.length} whose names would escape it:\n` +
          unsafe.map((e) => `  ${e.message.split("\n")[0]}`).join("\n"),
        "The server sent file names with paths in them; this is either a bug or a hostile server.",
      );
    }
    return paths;
  }

  // ---- Jobs -------------------------------------------------------------------------

  /**
   * Submits a builder workflow or an API-format prompt and returns its job at once. Compile,
   * upload and HTTP errors surface through `job.result()` and the job's `error` event.
   */
  submit(
    source: AnyWorkflow | ApiPrompt | Record<string, unknown>,
    options: SubmitOptions = {},
  ): Job {
    this.#assertOpen();
    const promptId = options.promptId ?? randomUUID();
    let compiled: {
      prompt: Record<string, unknown>;
      sources?: ReadonlyMap<string, SourceLocation>;
      outputs?: Set<string>;
    };
    let titles: Map<string, string>;
    try {
      compiled = compileSource(source, options);
      titles = new Map(
        Object.entries(compiled.prompt).map(([id, n]) => [
          id,
          String((n as { _meta?: { title?: unknown } })._meta?.title ?? ""),
        ]),
      );
    } catch (e) {
      const job = new Job(promptId, {}, this.#host, options.timeouts);
      this.#jobs.set(promptId, job);
      job.fail(workflowError(e), "failed");
      return job;
    }
    const context = (id: string): NodeContext | undefined => {
      const source = compiled.sources?.get(id);
      const title = titles.get(id);
      return {
        ...(title ? { title } : {}),
        ...(source ? { source: `${source.file}:${source.line}:${source.column}` } : {}),
      };
    };
    const job = new Job(promptId, compiled.prompt, this.#host, options.timeouts, context);
    if (compiled.outputs)
      job.expectedOutputs = options.partialExecutionTargets
        ? new Set(options.partialExecutionTargets.filter((t) => compiled.outputs!.has(t)))
        : compiled.outputs;
    this.#jobs.set(promptId, job);
    job.onFinishedSignal = () => void this.#check(job);
    options.signal?.addEventListener("abort", () => void job.cancel().catch(() => undefined), {
      once: true,
    });
    void this.#submit(job, compiled.prompt, options).catch((e: unknown) =>
      job.cancelRequested
        ? job.fail(new CancelledError(job.promptId), "cancelled")
        : job.fail(asComfycError(e), "failed"),
    );
    return job;
  }

  /** Submits and waits for the result. */
  async run(
    source: AnyWorkflow | ApiPrompt | Record<string, unknown>,
    options: SubmitOptions = {},
  ): Promise<JobResult> {
    return this.submit(source, options).result();
  }

  /** Follows a prompt submitted earlier (for example by a process that restarted). */
  attach(promptId: string, options: AttachOptions = {}): Job {
    this.#assertOpen();
    const existing = this.#jobs.get(promptId);
    if (existing) return existing;
    const job = new Job(promptId, {}, this.#host, options.timeouts);
    job.pollEveryTick = true;
    if (options.expectedOutputs) job.expectedOutputs = new Set(options.expectedOutputs);
    job.onFinishedSignal = () => void this.#check(job);
    this.#jobs.set(promptId, job);
    job.markQueued(undefined);
    void this.#socket.connect().catch(() => undefined);
    void this.#check(job);
    this.#schedulePoll();
    return job;
  }

  /** Jobs in flight. */
  get jobs(): readonly Job[] {
    return [...this.#jobs.values()];
  }

  /** Closes the socket and the connection pool; jobs in flight stop being followed. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poller) clearTimeout(this.#poller);
    this.#socket.close();
    await this.http.close();
  }

  async #submit(job: Job, prompt: Record<string, unknown>, options: SubmitOptions): Promise<void> {
    let final = await this.#uploadInputs(prompt, options.signal);
    if (options.fresh) {
      if (final === prompt) final = structuredClone(prompt);
      // Undeclared constants are ignored by nodes but are part of ComfyUI's cache key.
      const nonce = randomUUID();
      for (const node of Object.values(final))
        ((node as { inputs: Record<string, unknown> }).inputs ??= {})["comfyc_nonce"] = nonce;
    }
    // Subscribe before posting: the first events can race the HTTP reply.
    await this.#socket.connect().catch(() => undefined);
    if (this.#socket.connected) {
      const epoch = this.#socket.epoch;
      job.eventsComplete = () => this.#socket.epoch === epoch && this.#socket.connected;
    }
    const body: Record<string, unknown> = {
      prompt: final,
      client_id: this.clientId,
      prompt_id: job.promptId,
      extra_data: { ...options.extraData },
    };
    if (options.front) body["front"] = true;
    if (options.partialExecutionTargets)
      body["partial_execution_targets"] = options.partialExecutionTargets;
    if (job.cancelRequested) return job.fail(new CancelledError(job.promptId), "cancelled");
    // Not aborted by the signal: a POST cut short may still have queued the prompt, and
    // cancel() withdraws it once accepted, which an aborted request could not.
    const accepted = await this.#postPrompt(job, stringifyJson(body));
    job.markQueued(accepted.number);
    if (job.cancelRequested) {
      await job.cancel();
      return;
    }
    if (Object.keys(accepted.nodeErrors).length > 0 && !options.allowPartial) {
      void job.cancelQuietly();
      job.fail(
        new PromptRejectedError(
          undefined,
          accepted.nodeErrors,
          true,
          job.context,
          this.http.baseUrl.origin,
        ),
        "failed",
      );
      return;
    }
    if (options.resubmitOnLoss && !job.done) this.#resubmit.set(job.promptId, stringifyJson(body));
    this.#schedulePoll();
  }

  /** Request bodies of jobs submitted with `resubmitOnLoss`, until they end. */
  readonly #resubmit = new Map<string, string>();

  /**
   * `POST /prompt`, idempotent under retries: the prompt id is ours, so after a failed attempt
   * the queue and history are checked for it before posting again.
   */
  async #postPrompt(
    job: Job,
    body: string,
    signal?: AbortSignal,
  ): Promise<{ number?: number; nodeErrors: NodeErrors }> {
    return this.http.withRetry(async (attempt) => {
      if (attempt > 1 && (await this.#knownToServer(job.promptId))) return { nodeErrors: {} };
      const res = await this.http.send("POST", "api/prompt", {
        body,
        headers: { "content-type": "application/json" },
        retry: false,
        accept: (s) => s === 200 || s === 400 || s === 409,
        ...(signal ? { signal } : {}),
      });
      const text = await res.body.text();
      const what = `POST ${this.http.url("api/prompt")}`;
      if (res.status === 409) return { nodeErrors: {} };
      if (res.status === 400) {
        const rejected = parseReply(text, PromptErrorBodySchema, what);
        const error: ErrorObj | undefined =
          typeof rejected.error === "string"
            ? { type: "error", message: rejected.error, details: "", extra_info: {} }
            : (rejected.error as ErrorObj);
        throw new AbortError(
          new PromptRejectedError(
            error,
            rejected.node_errors as NodeErrors,
            false,
            job.context,
            this.http.baseUrl.origin,
          ),
        );
      }
      const ok = parseReply(text, PromptAcceptedBodySchema, what);
      return { number: ok.number, nodeErrors: ok.node_errors as NodeErrors };
    }, signal);
  }

  async #knownToServer(promptId: string): Promise<boolean> {
    if (await this.history(promptId)) return true;
    const q = await this.queue();
    return [...q.queue_running, ...q.queue_pending].some((item) => item[1] === promptId);
  }

  async #cancelPending(promptId: string): Promise<boolean> {
    const q = await this.queue();
    if (!q.queue_pending.some((item) => item[1] === promptId)) return false;
    await this.deleteQueued([promptId]);
    const after = await this.queue();
    return (
      !after.queue_pending.some((item) => item[1] === promptId) &&
      !after.queue_running.some((item) => item[1] === promptId)
    );
  }

  async #uploadInputs(
    prompt: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const hasUpload = Object.values(prompt).some((node) =>
      Object.values((node as { inputs?: Record<string, unknown> }).inputs ?? {}).some(
        (v) => (v as { __comfycUpload?: unknown } | null)?.__comfycUpload !== undefined,
      ),
    );
    if (!hasUpload) return prompt;
    const copy = structuredClone(prompt);
    for (const node of Object.values(copy) as { inputs?: Record<string, unknown> }[]) {
      for (const [key, value] of Object.entries(node.inputs ?? {})) {
        const marker = (
          value as { __comfycUpload?: { path?: string; bytes?: Uint8Array; name: string } } | null
        )?.__comfycUpload;
        if (!marker) continue;
        node.inputs![key] = await this.#uploadOnce(marker, signal);
      }
    }
    return copy;
  }

  /** Uploads under a content-hash name, skipping files the server already has. */
  async #uploadOnce(
    marker: { path?: string; bytes?: Uint8Array; name: string },
    signal?: AbortSignal,
  ): Promise<string> {
    const bytes = marker.bytes ?? (await readLocal(marker.path!));
    const name = `comfyc-${createHash("sha256").update(bytes).digest("hex").slice(0, 24)}${extname(marker.name).toLowerCase() || ".png"}`;
    const known = this.#uploaded.get(name);
    if (known) return known;
    const q = new URLSearchParams({ filename: name, type: "input", subfolder: "" });
    const head = await this.http.send("HEAD", `api/view?${q}`, {
      accept: () => true,
      ...(signal ? { signal } : {}),
    });
    await head.body.dump();
    let stored = name;
    if (head.status !== 200)
      stored = (await this.uploadImage(bytes, { name, ...(signal ? { signal } : {}) })).name;
    this.#uploaded.set(name, stored);
    return stored;
  }

  #dispatch(message: WsMessage): void {
    const promptId = (message.data as { prompt_id?: unknown }).prompt_id;
    if (typeof promptId !== "string") return;
    const job = this.#jobs.get(promptId);
    if (!job) return;
    if (message.type === "executing" || message.type === "progress") this.#lastActive = job;
    job.handle(message);
  }

  #schedulePoll(): void {
    if (this.#poller || this.#closed || this.#jobs.size === 0) return;
    const interval = this.#socket.connected
      ? (this.#options.pollIntervalMs ?? 1000)
      : Math.min(250, this.#options.pollIntervalMs ?? 250);
    this.#poller = setTimeout(() => {
      this.#poller = undefined;
      void this.#poll().finally(() => this.#schedulePoll());
    }, interval);
    this.#poller.unref?.();
  }

  /**
   * One poll for every job that is silent (or all, while the socket is down): a single
   * `GET /queue` covers the jobs still queued or running, and only the others read history,
   * so a hundred waiting jobs cost one request per tick, not two hundred.
   */
  async #poll(): Promise<void> {
    const silence = this.#options.silenceMs ?? 3000;
    const now = Date.now();
    const due = [...this.#jobs.values()]
      .filter((j) => j.status === "queued" || j.status === "running")
      .filter((j) => !this.#socket.connected || j.pollEveryTick || now - j.lastEventAt > silence);
    if (due.length === 0) return;
    let queued: Set<string>;
    try {
      const q = await this.queue();
      queued = new Set([...q.queue_running, ...q.queue_pending].map((item) => String(item[1])));
    } catch {
      return; // unreachable right now (restarting?): the next tick tries again
    }
    await Promise.allSettled(
      due.map((job) => {
        if (!queued.has(job.promptId)) return this.#check(job);
        job.lastEventAt = Date.now();
        return Promise.resolve();
      }),
    );
  }

  readonly #checking = new Map<Job, Promise<void>>();

  /**
   * Reads history (and the queue) for a job: finishes it, or notices that it was lost. Checks of
   * one job never overlap: two concurrent ones could both see it lost and resubmit twice.
   */
  #check(job: Job): Promise<void> {
    const running = this.#checking.get(job);
    if (running) return running;
    const check = this.#checkOnce(job).finally(() => this.#checking.delete(job));
    this.#checking.set(job, check);
    return check;
  }

  async #checkOnce(job: Job): Promise<void> {
    if (job.done || job.status === "submitting") return;
    try {
      const entry = await this.history(job.promptId);
      if (entry) return job.finishFromHistory(entry);
      const q = await this.queue();
      const known = [...q.queue_running, ...q.queue_pending].some(
        (item) => item[1] === job.promptId,
      );
      if (known) {
        job.lastEventAt = Date.now();
        return;
      }
      // It may have finished between the two reads.
      const again = await this.history(job.promptId);
      if (again) return job.finishFromHistory(again);
      if (job.done) return;
      const body = this.#resubmit.get(job.promptId);
      if (body) {
        this.#resubmit.delete(job.promptId);
        await this.#postPrompt(job, body);
        job.lastEventAt = Date.now();
        return;
      }
      job.fail(new JobLostError(job.promptId), "lost");
    } catch {
      // Unreachable right now (restarting?): the next poll tries again.
    }
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new ComfycError(
        "USAGE",
        "This ComfyClient is closed",
        "Create a new ComfyClient, or close it only after its last job.",
      );
  }
}

/** The WebSocket messages jobs use; `status` and `progress_state` are skipped unparsed. */
const JOB_MESSAGES: ReadonlySet<string> = new Set([
  "execution_start",
  "execution_cached",
  "executing",
  "progress",
  "executed",
  "execution_success",
  "execution_error",
  "execution_interrupted",
]);

function compileSource(
  source: AnyWorkflow | ApiPrompt | Record<string, unknown>,
  options: SubmitOptions,
): {
  prompt: Record<string, unknown>;
  sources?: ReadonlyMap<string, SourceLocation>;
  outputs?: Set<string>;
} {
  const maybe = source as { compileWithReport?: unknown; params?: unknown };
  if (typeof maybe.compileWithReport === "function") {
    const wf = source as AnyWorkflow;
    const report =
      "params" in wf &&
      wf.params !== undefined &&
      typeof (wf as { parseParams?: unknown }).parseParams === "function"
        ? (wf as Extract<AnyWorkflow, { parseParams: unknown }>).compileWithReport(
            options.params ?? {},
            options.compile,
          )
        : (wf as Exclude<AnyWorkflow, { parseParams: unknown }>).compileWithReport(options.compile);
    const outputs = new Set(report.validation?.outputs ?? []);
    return {
      prompt: report.prompt as Record<string, unknown>,
      sources: report.sources,
      ...(report.validation ? { outputs } : {}),
    };
  }
  if (source === null || typeof source !== "object" || Array.isArray(source)) {
    throw new ComfycError(
      "WORKFLOW_INVALID",
      "submit() needs a workflow or an API-format prompt object",
      "Pass wf (a workflow()), wf.compile(), or a prompt object read from an API-format JSON file.",
    );
  }
  return { prompt: source as Record<string, unknown> };
}

async function readLocal(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw ioError(path, cause);
  }
}

/** An error from compiling: comfyc's own as it is, the user's code's with its identity as the cause. */
export function workflowError(e: unknown): ComfycError {
  if (isComfycError(e)) return e;
  return new ComfycError(
    "WORKFLOW_INVALID",
    `The workflow's code threw ${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? String(e)}`,
    "Fix the error in the workflow's build function; its stack trace is this error's cause (comfyc --verbose prints it).",
    { cause: e },
  );
}

function asComfycError(e: unknown): ComfycError {
  return internalError(e, "the runtime client");
}
