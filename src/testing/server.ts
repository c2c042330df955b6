import { randomUUID, timingSafeEqual } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import busboy from "busboy";
import { PNG } from "pngjs";
import { WebSocketServer } from "ws";
import { ComfycError } from "../errors.js";
import {
  comfyuiRules,
  NEWEST_COMFYUI_VERSION,
  type UnreleasedBehaviour,
} from "../protocol/comfyui-version.js";
import { parseJsonLossless, stringifyJson } from "../protocol/json.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import { validatePrompt, type CustomValidator } from "../schema/validate.js";
import { Executor, type ExecutorState, type HistoryEntry, type NodeScript } from "./executor.js";
import { contentTypeOf, FOLDER_TYPES, Folders, uploadTarget, type FolderType } from "./files.js";
import { encodePng, pattern } from "./images.js";
import { PromptHeap, queueTuple } from "./queue.js";
import { pushCapped, SocketHub } from "./sockets.js";

/** The ComfyUI version the test server reports and behaves like by default. */
export const DEFAULT_COMFYUI_VERSION = NEWEST_COMFYUI_VERSION;

/** The bundled real schema: a near-vanilla ComfyUI of October 2025. */
export const BUNDLED_OBJECT_INFO = fileURLToPath(
  new URL("../../data/object_info.json", import.meta.url),
);

/** Model folders `/models` lists (protocol §2.16), in the server's order. */
export const MODEL_FOLDERS = [
  "checkpoints",
  "configs",
  "loras",
  "vae",
  "text_encoders",
  "diffusion_models",
  "clip_vision",
  "style_models",
  "embeddings",
  "diffusers",
  "vae_approx",
  "controlnet",
  "gligen",
  "upscale_models",
  "custom_nodes",
  "hypernetworks",
  "photomaker",
  "classifiers",
  "model_patches",
  "audio_encoders",
];

/** Which model folder a core loader's combo input lists. */
const INPUT_FOLDERS: Record<string, string> = {
  ckpt_name: "checkpoints",
  lora_name: "loras",
  vae_name: "vae",
  control_net_name: "controlnet",
  unet_name: "diffusion_models",
  clip_name: "text_encoders",
  clip_name1: "text_encoders",
  clip_name2: "text_encoders",
  style_model_name: "style_models",
  model_name: "upscale_models",
  gligen_name: "gligen",
  audio_encoder_name: "audio_encoders",
};

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  /** The `/object_info` to serve: a parsed object or a file path (default: the bundled one). */
  readonly objectInfo?: unknown;
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Address to bind; loopback by default. */
  readonly host?: string;
  /** Where input/output/temp folders live (default: a fresh temp directory). */
  readonly dataDir?: string;
  /**
   * The ComfyUI release to behave like and to report in `/system_stats` (default
   * {@link DEFAULT_COMFYUI_VERSION}); each behaviour of `COMFYUI_BEHAVIOURS` applies from its
   * release. Throws `ComfyuiVersionError` for a string that is not a version.
   */
  readonly comfyuiVersion?: string;
  /** Behaviours seen only in unreleased ComfyUI files to turn on (such as `duplicatePromptId`). */
  readonly unreleased?: readonly UnreleasedBehaviour[];
  /** Default time each node takes, in ms (default 0). */
  readonly nodeDurationMs?: number;
  /** Send sampler previews (as `--preview-method auto` would). */
  readonly previews?: boolean;
  /** Files per model folder: listed by `/models/{folder}` and added to loader combos. */
  readonly models?: Readonly<Record<string, readonly string[]>>;
  /** Require credentials the way a reverse proxy in front of ComfyUI would (401 without). */
  readonly auth?: {
    readonly apiKey?: string;
    readonly bearer?: string;
    readonly basic?: { readonly username: string; readonly password: string };
  };
  /** `--max-upload-size` in bytes (default 100 MiB). */
  readonly maxUploadSize?: number;
  /** Serve HTTPS and WSS with this key and certificate (PEM), as ComfyUI's `--tls-keyfile`. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

/** Scripted faults and behaviour, for tests. */
export interface TestServerScript {
  /** How nodes of a class (or the node with an id) behave: duration, failure. */
  node(classTypeOrId: string, script: NodeScript): void;
  /** Forget all node scripts. */
  clearNodes(): void;
  /**
   * Answer the next `count` HTTP requests (or a `rate` of them) whose path matches `path` with
   * `status`, or cut the connection (`"reset"`). With `afterHandling`, the request is processed
   * first and only its reply is lost, as when a proxy times out after ComfyUI accepted a prompt.
   */
  failHttp(fault: {
    status?: 500 | 502 | 503 | "reset";
    count?: number;
    rate?: number;
    path?: RegExp;
    afterHandling?: boolean;
  }): void;
  /** Add latency to every HTTP response. */
  latency(ms: number): void;
  /** Drop every WebSocket now, or after each has received `afterMessages` more messages. */
  dropWebSockets(options?: { afterMessages?: number }): void;
  /** A crash and restart: queue, history and caches are lost; down for `downtimeMs`. */
  restart(options?: { downtimeMs?: number }): Promise<void>;
  /** Same as `POST /interrupt` without a body. */
  interrupt(): void;
}

/** A running test server. */
export interface TestServer {
  /** Base URL, such as `http://127.0.0.1:53411`. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** The input/output/temp folders. */
  readonly folders: Folders;
  /** The normalized schema it validates with. */
  readonly schema: NodeSchema;
  /** The ComfyUI release it behaves like and reports (`"0.33.0"`). */
  readonly comfyuiVersion: string;
  readonly script: TestServerScript;
  /** Prompt ids in the order they finished executing (successfully or not); the latest 50,000. */
  readonly executed: readonly string[];
  /** WebSocket messages sent: `[client id or "*", type, performance.now()]`; the latest 50,000. */
  readonly wsLog: readonly (readonly [string, string, number])[];
  /** HTTP requests received, as `"METHOD /path"` (query string left out); the latest 50,000. */
  readonly requests: readonly string[];
  /** Stops the server and closes every connection. */
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble";

class HttpError extends Error {
  constructor(readonly status: number) {
    super(String(status));
  }
}

/**
 * Starts a ComfyUI-compatible server on loopback: the real HTTP and WebSocket protocol
 * (protocol document §1-§10, quirks included), the shared validator, simulated nodes that
 * write real files, and scripted faults for tests. No GPU and no Python needed.
 *
 * @example
 * const server = await startTestServer();
 * // … point a client at server.url …
 * await server.close();
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const rules = comfyuiRules(options.comfyuiVersion ?? DEFAULT_COMFYUI_VERSION, {
    source: "comfyuiVersion",
    unreleased: options.unreleased ?? [],
  });
  const version = rules.version.text;
  const rawInfo = loadRaw(options.objectInfo);
  const modelFiles = options.models ?? {};
  const baseInfo = withModels(rawInfo, modelFiles);
  const schema = normalizeObjectInfo(baseInfo, "test server object_info");
  const folders = new Folders(options.dataDir ?? mkdtempSync(join(tmpdir(), "comfyc-server-")));
  folders.clearTemp();
  writeExampleImage(folders);
  const hub = new SocketHub();
  const state: ExecutorState = {
    queue: new PromptHeap(),
    running: undefined,
    history: new Map<string, HistoryEntry>(),
  };
  const queueRemaining = () => state.queue.size + (state.running ? 1 : 0);
  const executor = new Executor(state, hub, folders, (c) => schema.classes.get(c), queueRemaining);
  executor.nodeDurationMs = options.nodeDurationMs ?? 0;
  executor.previews = options.previews === true;
  const executed: string[] = [];
  const onHistory = state.history.set.bind(state.history);
  state.history.set = (key: string, value: HistoryEntry) => {
    pushCapped(executed, key);
    return onHistory(key, value);
  };
  let counter = 0;
  let latencyMs = 0;
  let faults:
    | {
        status: number | "reset";
        count: number;
        rate: number;
        path: RegExp | undefined;
        afterHandling: boolean;
      }
    | undefined;
  const requests: string[] = [];
  const maxUpload = options.maxUploadSize ?? 100 * 1024 * 1024;
  const features = { supports_preview_metadata: true, max_upload_size: maxUpload };
  const loadImageValidator: CustomValidator = {
    inputs: ["image"],
    check: (v) =>
      typeof v["image"] === "string" && folders.annotatedPath(v["image"])
        ? true
        : `Invalid image file: ${String(v["image"])}`,
  };
  const customValidators = { LoadImage: loadImageValidator, LoadImageMask: loadImageValidator };

  // Upload combos list the input folder on every call, as LoadImage's INPUT_TYPES does.
  const servedClass = (info: unknown, files: () => string[]): unknown => {
    const required = (info as { input?: { required?: Record<string, unknown[]> } }).input?.required;
    const image = required?.["image"];
    if (
      !Array.isArray(image) ||
      !Array.isArray(image[0]) ||
      !(image[1] as { image_upload?: unknown } | undefined)?.image_upload
    )
      return info;
    const copy = structuredClone(info) as { input: { required: Record<string, unknown[]> } };
    copy.input.required["image"]![0] = files();
    return copy;
  };
  const servedInfo = (): Record<string, unknown> => {
    let listed: string[] | undefined;
    const files = () => (listed ??= folders.inputFiles());
    const out: Record<string, unknown> = {};
    for (const [name, info] of Object.entries(baseInfo)) out[name] = servedClass(info, files);
    return out;
  };

  const systemStats = () => ({
    system: {
      os: rules.has("systemStatsPlatform") ? "linux" : "posix",
      ram_total: 34359738368,
      ram_free: 30000000000,
      comfyui_version: version,
      required_frontend_version: "1.27.10",
      installed_templates_version: "0.1.95",
      required_templates_version: "0.1.95",
      python_version: "3.12.3 (comfyc test server)",
      pytorch_version: "2.8.0+cpu",
      embedded_python: false,
      argv: ["main.py", "--cpu", "--listen", options.host ?? "127.0.0.1"],
    },
    devices: [
      {
        name: "cpu",
        type: "cpu",
        index: null,
        vram_total: 34359738368,
        vram_free: 30000000000,
        torch_vram_total: 34359738368,
        torch_vram_free: 30000000000,
      },
    ],
  });

  async function postPrompt(body: unknown, res: ServerResponse): Promise<void> {
    const json = asObject(body);
    let number: number;
    if (json["number"] !== undefined) number = Number(json["number"]);
    else {
      number = json["front"] ? -counter : counter;
      counter++;
    }
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
        requested === undefined ? randomUUID() : requested === null ? "None" : String(requested);
    else if (requested === undefined || requested === null) promptId = randomUUID();
    else if (typeof requested !== "string" || !UUID.test(requested)) {
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
    const emptyish = prompt === "" || (Array.isArray(prompt) && prompt.length === 0);
    if (!emptyish && (prompt === null || typeof prompt !== "object" || Array.isArray(prompt)))
      throw new HttpError(500);
    const targets = Array.isArray(json["partial_execution_targets"])
      ? (json["partial_execution_targets"] as unknown[]).map(String)
      : undefined;
    const result = validatePrompt(emptyish ? {} : prompt, schema, {
      comfyuiVersion: rules,
      customValidators,
      ...(targets ? { partialExecutionTargets: targets } : {}),
    });
    if (!result.valid)
      return sendJson(res, 400, { error: result.error, node_errors: result.nodeErrors });
    const extra = { ...(asObject(json["extra_data"]) as Record<string, unknown>) };
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
    sendJson(res, 200, { prompt_id: promptId, number, node_errors: result.nodeErrors });
    // The queued status is sent from the handler, after the reply (it may race the response).
    setImmediate(() => {
      hub.send("status", { status: { exec_info: { queue_remaining: queueRemaining() } } });
      executor.kick();
    });
  }

  function getHistory(query: URLSearchParams): Record<string, HistoryEntry> {
    const parse = (name: string) => {
      const v = query.get(name);
      if (v === null) return undefined;
      if (!/^-?\d+$/.test(v.trim())) throw new HttpError(500);
      return Number(v);
    };
    const maxItems = parse("max_items");
    const offset = parse("offset");
    let entries = [...state.history.entries()];
    if (offset !== undefined)
      entries = entries.slice(
        Math.max(0, offset),
        maxItems !== undefined ? Math.max(0, offset) + maxItems : undefined,
      );
    else if (maxItems !== undefined) entries = maxItems > 0 ? entries.slice(-maxItems) : [];
    return Object.fromEntries(entries.map(([id, e]) => [id, publicEntry(e)]));
  }

  const routes: Record<
    string,
    (
      req: IncomingMessage,
      res: ServerResponse,
      url: URL,
      body: () => Promise<Buffer>,
    ) => Promise<void> | void
  > = {
    "GET /prompt": (_q, res) =>
      sendJson(res, 200, { exec_info: { queue_remaining: queueRemaining() } }),
    "POST /prompt": async (_q, res, _u, body) => postPrompt(parseBody(await body()), res),
    "GET /queue": (_q, res) =>
      sendJson(res, 200, {
        queue_running: state.running ? [queueTuple(state.running)] : [],
        queue_pending: state.queue.items.map(queueTuple),
      }),
    "POST /queue": async (_q, res, _u, body) => {
      const json = asObject(parseBody(await body()));
      if (json["clear"]) {
        state.queue.clear();
        hub.send("status", { status: { exec_info: { queue_remaining: queueRemaining() } } });
      }
      if (Array.isArray(json["delete"])) {
        for (const id of json["delete"]) {
          if (state.queue.remove((i) => i.promptId === id)) {
            hub.send("status", { status: { exec_info: { queue_remaining: queueRemaining() } } });
          }
        }
      }
      sendEmpty(res, 200);
    },
    "POST /interrupt": async (_q, res, _u, body) => {
      let json: Record<string, unknown> = {};
      try {
        json = asObject(parseJsonLossless((await body()).toString("utf8") || "{}"));
      } catch {
        json = {};
      }
      const target = json["prompt_id"];
      if (typeof target === "string") {
        if (state.running?.promptId === target) executor.interrupt();
      } else executor.interrupt();
      sendEmpty(res, 200);
    },
    "POST /free": async (_q, res, _u, body) => {
      const json = asObject(parseBody(await body()));
      if (json["free_memory"]) executor.freeMemory();
      sendEmpty(res, 200);
    },
    "GET /history": (_q, res, url) => sendJson(res, 200, getHistory(url.searchParams)),
    "POST /history": async (_q, res, _u, body) => {
      const json = asObject(parseBody(await body()));
      if (json["clear"]) state.history.clear();
      if (Array.isArray(json["delete"]))
        for (const id of json["delete"]) state.history.delete(String(id));
      sendEmpty(res, 200);
    },
    "GET /object_info": (_q, res) => sendJson(res, 200, servedInfo()),
    "GET /system_stats": (_q, res) => sendJson(res, 200, systemStats()),
    "GET /features": (_q, res) => sendJson(res, 200, features),
    "GET /embeddings": (_q, res) =>
      sendJson(
        res,
        200,
        (modelFiles["embeddings"] ?? []).map((f) => f.replace(/\.[^.]+$/, "")),
      ),
    "GET /models": (_q, res) =>
      sendJson(res, 200, [...new Set([...MODEL_FOLDERS, ...Object.keys(modelFiles)])]),
    "GET /extensions": (_q, res) => sendJson(res, 200, []),
    "GET /view": (req, res, url) => view(req, res, url),
    "POST /upload/image": (req, res) => upload(req, res, false),
    "POST /upload/mask": (req, res) => upload(req, res, true),
  };

  function view(_req: IncomingMessage, res: ServerResponse, url: URL): void {
    let filename = url.searchParams.get("filename");
    if (filename === null) return sendEmpty(res, 404);
    let type = url.searchParams.get("type") ?? "output";
    const m = /^(.*) \[(input|output|temp)\]$/.exec(filename);
    if (m) {
      filename = m[1]!;
      type = m[2]!;
    }
    if (filename.startsWith("/") || filename.includes("..")) return sendEmpty(res, 400);
    if (!FOLDER_TYPES.includes(type as FolderType)) return sendEmpty(res, 400);
    const dir = folders.within(type as FolderType, url.searchParams.get("subfolder") ?? "");
    if (!dir) return sendEmpty(res, 403);
    const name = basename(filename);
    const path = join(dir, name);
    if (!existsSync(path) || !statSync(path).isFile()) return sendEmpty(res, 404);
    const channel = url.searchParams.get("channel");
    if ((channel === "rgb" || channel === "a") && name.toLowerCase().endsWith(".png")) {
      try {
        const png = PNG.sync.read(readFileSync(path));
        for (let i = 0; i < png.data.length; i += 4) {
          if (channel === "rgb") png.data[i + 3] = 255;
          else {
            const a = png.data[i + 3]!;
            png.data[i] = png.data[i + 1] = png.data[i + 2] = 0;
            png.data[i + 3] = a;
          }
        }
        const bytes = PNG.sync.write(png);
        res.writeHead(200, {
          "Content-Type": "image/png",
          "Content-Disposition": `filename="${name}"`,
          "Content-Length": bytes.length,
        });
        res.end(bytes);
        return;
      } catch {
        // Not decodable: serve the raw file like the rgba channel.
      }
    }
    res.writeHead(200, {
      "Content-Type": contentTypeOf(name),
      "Content-Disposition": `filename="${name}"`,
      "Content-Length": statSync(path).size,
    });
    createReadStream(path).pipe(res);
  }

  async function upload(req: IncomingMessage, res: ServerResponse, mask: boolean): Promise<void> {
    const { fields, file } = await readMultipart(req, maxUpload);
    if (!file || !file.filename) return sendEmpty(res, 400);
    const type = fields["type"] ?? "input";
    if (!FOLDER_TYPES.includes(type as FolderType)) throw new HttpError(500);
    const subfolder = fields["subfolder"] ?? "";
    const dir = folders.within(type as FolderType, subfolder);
    if (!dir) return sendEmpty(res, 400);
    mkdirSync(dir, { recursive: true });
    const overwrite = fields["overwrite"] === "true" || fields["overwrite"] === "1";
    const safeName = basename(file.filename);
    let bytes = file.bytes;
    if (mask) {
      if (fields["original_ref"] === undefined) throw new HttpError(500);
      let ref: { filename?: string; subfolder?: string; type?: string };
      try {
        ref = JSON.parse(fields["original_ref"]) as typeof ref;
      } catch {
        throw new HttpError(500);
      }
      const original = ref.filename
        ? folders.annotatedPath(
            ref.subfolder
              ? `${ref.subfolder}/${ref.filename} [${ref.type ?? "input"}]`
              : `${ref.filename} [${ref.type ?? "input"}]`,
          )
        : undefined;
      // The server discards the helper's error: 200 with nothing written.
      if (!original) return sendJson(res, 200, { name: safeName, subfolder, type });
      try {
        const base = PNG.sync.read(readFileSync(original));
        const alpha = PNG.sync.read(bytes);
        for (let i = 3; i < base.data.length && i < alpha.data.length; i += 4)
          base.data[i] = alpha.data[i]!;
        bytes = PNG.sync.write(base);
      } catch {
        return sendJson(res, 200, { name: safeName, subfolder, type });
      }
    }
    const target = uploadTarget(dir, safeName, bytes, overwrite);
    if (target.write) writeFileSync(target.path, bytes);
    sendJson(res, 200, { name: target.name, subfolder, type });
  }

  const authorized = (req: IncomingMessage): boolean => {
    const auth = options.auth;
    if (!auth) return true;
    const header = req.headers["authorization"] ?? "";
    const same = (a: string, b: string) =>
      a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
    if (auth.apiKey && same(String(req.headers["x-api-key"] ?? ""), auth.apiKey)) return true;
    if (auth.bearer && same(header, `Bearer ${auth.bearer}`)) return true;
    if (
      auth.basic &&
      same(
        header,
        `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString("base64")}`,
      )
    )
      return true;
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    pushCapped(requests, `${req.method ?? "GET"} ${url.pathname}`);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    if (faults && (!faults.path || faults.path.test(url.pathname))) {
      const fault = faults;
      const hit = fault.count > 0 || (fault.rate > 0 && Math.random() < fault.rate);
      if (hit) {
        if (fault.count > 0) fault.count--;
        // The request is processed into a reply nobody receives.
        if (fault.afterHandling) await respond(req, new ServerResponse(req), url);
        if (fault.status === "reset") return void req.socket.destroy();
        return sendText(
          res,
          fault.status,
          fault.status === 503 ? "503 Service Unavailable" : TEXT_500,
        );
      }
    }
    await respond(req, res, url);
  };

  const respond = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (!authorized(req)) {
      res.writeHead(401, {
        "Content-Type": "text/plain; charset=utf-8",
        ...(options.auth?.basic ? { "WWW-Authenticate": 'Basic realm="comfyui"' } : {}),
      });
      res.end("401: Unauthorized");
      return;
    }
    const origin = req.headers["origin"];
    const host = req.headers["host"];
    if (origin && host && /^(localhost|127\.|\[::1\])/.test(host)) {
      try {
        if (new URL(origin).host !== host) return sendEmpty(res, 403);
      } catch {
        return sendEmpty(res, 403);
      }
    }
    let path = url.pathname;
    if (path.startsWith("/api/")) path = path.slice(4);
    const body = () => readBody(req, maxUpload);
    // aiohttp answers HEAD on every GET route; Node drops the body of HEAD replies.
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    let route = routes[`${method} ${path}`];
    let m: RegExpExecArray | null;
    if (!route && method === "GET" && (m = /^\/history\/(.+)$/.exec(path))) {
      const entry = state.history.get(decodeURIComponent(m[1]!));
      route = (_q, res2) =>
        sendJson(res2, 200, entry ? { [decodeURIComponent(m![1]!)]: publicEntry(entry) } : {});
    } else if (!route && method === "GET" && (m = /^\/object_info\/(.+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      route = (_q, res2) => {
        const info = Object.hasOwn(baseInfo, name) ? baseInfo[name] : undefined;
        sendJson(res2, 200, info ? { [name]: servedClass(info, () => folders.inputFiles()) } : {});
      };
    } else if (!route && method === "GET" && (m = /^\/models\/(.+)$/.exec(path))) {
      const folder = decodeURIComponent(m[1]!);
      route = (_q, res2) =>
        MODEL_FOLDERS.includes(folder) || modelFiles[folder]
          ? sendJson(res2, 200, modelFiles[folder] ?? [])
          : sendEmpty(res2, 404);
    }
    if (!route) return sendText(res, 404, "404: Not Found");
    try {
      await route(req, res, url, body);
    } catch (e) {
      if (e instanceof HttpError) {
        if (e.status === 500) return sendText(res, 500, TEXT_500);
        return sendEmpty(res, e.status);
      }
      sendText(res, 500, TEXT_500);
    }
  };

  const wss = new WebSocketServer({ noServer: true });
  const create = (): Server =>
    options.tls
      ? (createHttpsServer(
          { key: options.tls.key, cert: options.tls.cert },
          (req, res) => void handle(req, res),
        ) as unknown as Server)
      : createServer((req, res) => void handle(req, res));
  let server = create();
  const attachUpgrade = (s: Server) =>
    s.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname !== "/ws" && url.pathname !== "/api/ws") return socket.destroy();
      if (!authorized(req)) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const client = hub.add(ws, url.searchParams.get("clientId"));
        hub.send(
          "status",
          { status: { exec_info: { queue_remaining: queueRemaining() } }, sid: client.sid },
          client.sid,
        );
        const current = executor.currentFor(client.sid);
        if (current !== undefined) hub.send("executing", { node: current }, client.sid);
        let first = true;
        ws.on("message", (data, isBinary) => {
          if (!first || isBinary) return;
          first = false;
          try {
            const msg = JSON.parse(data.toString()) as { type?: unknown; data?: unknown };
            if (msg.type === "feature_flags" && msg.data && typeof msg.data === "object") {
              client.flags = msg.data as Record<string, unknown>;
              hub.send("feature_flags", features, client.sid);
            }
          } catch {
            // Ignored, as the server ignores malformed client messages.
          }
        });
      });
    });
  attachUpgrade(server);

  const host = options.host ?? "127.0.0.1";
  await listen(server, options.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;

  const stop = async () => {
    hub.closeAll();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };

  const script: TestServerScript = {
    node: (key, s) => void executor.scripts.set(key, s),
    clearNodes: () => executor.scripts.clear(),
    failHttp: (f) => {
      faults = {
        status: f.status ?? 500,
        count: f.count ?? (f.rate ? 0 : 1),
        rate: f.rate ?? 0,
        path: f.path,
        afterHandling: f.afterHandling === true,
      };
    },
    latency: (ms) => {
      latencyMs = ms;
    },
    dropWebSockets: (o = {}) => hub.drop(o.afterMessages),
    restart: async ({ downtimeMs = 200 } = {}) => {
      await stop();
      state.queue.clear();
      state.history.clear();
      counter = 0;
      executor.reset();
      folders.clearTemp();
      await new Promise((r) => setTimeout(r, downtimeMs));
      server = create();
      attachUpgrade(server);
      await listen(server, port, host);
    },
    interrupt: () => executor.interrupt(),
  };

  return {
    url,
    port,
    host,
    folders,
    schema,
    comfyuiVersion: version,
    script,
    executed,
    wsLog: hub.log,
    requests,
    close: async () => {
      await stop();
      executor.reset();
      folders.clearTemp();
    },
  };
}

/** ComfyUI ships `input/example.png`; so does the test server (with a transparent hole to inpaint). */
function writeExampleImage(folders: Folders): void {
  const path = join(folders.dir("input"), "example.png");
  if (existsSync(path)) return;
  const image = pattern(512, 512, 1, 7);
  const frame = image.frames[0]!;
  for (let y = 192; y < 320; y++) for (let x = 192; x < 320; x++) frame[(y * 512 + x) * 4 + 3] = 0;
  writeFileSync(path, encodePng(512, 512, frame));
}

function publicEntry(e: HistoryEntry): HistoryEntry {
  return { prompt: e.prompt, outputs: e.outputs, status: e.status, meta: e.meta };
}

function loadRaw(objectInfo: unknown): Record<string, unknown> {
  if (objectInfo === undefined || typeof objectInfo === "string") {
    const path = (objectInfo as string | undefined) ?? BUNDLED_OBJECT_INFO;
    try {
      return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (cause) {
      throw new ComfycError(
        "OBJECT_INFO_INVALID",
        `Cannot read the test server's object_info ${path}: ${(cause as Error).message}`,
        "Pass the JSON returned by GET /object_info of a ComfyUI server.",
        { cause },
      );
    }
  }
  return objectInfo as Record<string, unknown>;
}

/** The object_info with configured model files added to the loaders' combos. */
function withModels(
  raw: Record<string, unknown>,
  models: Readonly<Record<string, readonly string[]>>,
): Record<string, unknown> {
  if (Object.keys(models).length === 0) return raw;
  const out = structuredClone(raw) as Record<
    string,
    { input?: { required?: Record<string, unknown[]> } }
  >;
  for (const info of Object.values(out)) {
    for (const [name, spec] of Object.entries(info?.input?.required ?? {})) {
      const folder = INPUT_FOLDERS[name];
      const files = folder ? models[folder] : undefined;
      if (!files || !Array.isArray(spec)) continue;
      if (Array.isArray(spec[0]))
        spec[0] = [...new Set([...(spec[0] as unknown[]), ...files])].sort();
      else if (spec[0] === "COMBO" && spec[1] && typeof spec[1] === "object") {
        const o = spec[1] as { options?: unknown[] };
        o.options = [...new Set([...(o.options ?? []), ...files])].sort();
      }
    }
  }
  return out;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function parseBody(bytes: Buffer): unknown {
  try {
    return parseJsonLossless(bytes.toString("utf8"));
  } catch {
    // aiohttp's plain-text 500 for a body that is not JSON.
    throw new HttpError(500);
  }
}

function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function readMultipart(
  req: IncomingMessage,
  limit: number,
): Promise<{ fields: Record<string, string>; file?: { filename: string; bytes: Buffer } }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: limit } });
    } catch {
      reject(new HttpError(400));
      return;
    }
    const fields: Record<string, string> = {};
    let file: { filename: string; bytes: Buffer } | undefined;
    parser.on("field", (name, value) => {
      fields[name] = value;
    });
    parser.on("file", (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("limit", () => reject(new HttpError(413)));
      stream.on("end", () => {
        if (name === "image")
          file = { filename: info.filename ?? "", bytes: Buffer.concat(chunks) };
      });
    });
    parser.on("close", () => resolve({ fields, ...(file ? { file } : {}) }));
    parser.on("error", () => reject(new HttpError(400)));
    req.pipe(parser);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = stringifyJson(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Type": "application/octet-stream", "Content-Length": 0 });
  res.end();
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}
