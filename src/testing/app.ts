import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { ComfycError } from "../errors.js";
import {
  comfyuiRules,
  NEWEST_COMFYUI_VERSION,
  type ComfyuiRules,
  type UnreleasedBehaviour,
} from "../protocol/comfyui-version.js";
import { parseJsonLossless, stringifyJson } from "../protocol/json.js";
import type { NodeSchema } from "../schema/ir.js";
import { normalizeObjectInfo } from "../schema/normalize.js";
import { imageLoaderArgument, type CustomValidator } from "../schema/validate.js";
import { authorized, sendUnauthorized, type TestServerAuth } from "./auth.js";
import { Executor, type ExecutorState, type NodeScript } from "./executor.js";
import { Faults, type HttpFault } from "./faults.js";
import { Folders } from "./files.js";
import {
  allowedMethods,
  findRoute,
  HttpStatus,
  readBody,
  sendEmpty,
  sendInternalError,
  sendText,
  type Route,
} from "./http.js";
import { encodePng, pattern, toRgba } from "./images.js";
import { PromptHeap } from "./queue.js";
import { withPyFloats, withPythonFloats } from "./python-float.js";
import { fileRoutes } from "./routes/files.js";
import { historyRoutes } from "./routes/history.js";
import { jobsRoutes } from "./routes/jobs.js";
import { promptRoutes } from "./routes/prompt.js";
import { queueRoutes } from "./routes/queue.js";
import { MODEL_FOLDERS, systemRoutes } from "./routes/system.js";
import { v2Routes } from "./routes/v2.js";
import { pushCapped, SocketHub } from "./sockets.js";

export { MODEL_FOLDERS };

/** The ComfyUI version the test server reports and behaves like by default. */
export const DEFAULT_COMFYUI_VERSION = NEWEST_COMFYUI_VERSION;

/** The bundled real schema: a near-vanilla ComfyUI of October 2025. */
export const BUNDLED_OBJECT_INFO = fileURLToPath(
  new URL("../../data/object_info.json", import.meta.url),
);

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
  /**
   * Where input/output/temp folders live (default: a fresh temp directory, removed by
   * `close()`).
   */
  readonly dataDir?: string;
  /**
   * The ComfyUI release to behave like and to report in `/system_stats` (default
   * {@link DEFAULT_COMFYUI_VERSION}); each behaviour of `COMFYUI_BEHAVIOURS` applies from its
   * release. `"0.3.64"` or `"v0.3.64"`; `ComfyuiVersionError` (code `USAGE`) for anything else,
   * a pre-release (`0.33.0-rc1`) or partial number (`0.3`) included. A release newer than
   * `NEWEST_COMFYUI_VERSION` is reported as given and behaves like the newest (a process warning
   * says so, `noteComfyuiVersion`).
   */
  readonly comfyuiVersion?: string;
  /**
   * How a `comfyuiVersion` outside the releases comfyc models is reported (once per version and
   * process): a function for the line, `false` for not at all (a test that uses such a release
   * on purpose); default a Node process warning (code `COMFYC_UNMODELLED_COMFYUI`), as
   * `comfyuiRules()`'s `warn`.
   */
  readonly warn?: ((line: string) => void) | false;
  /** Behaviours seen only in unreleased ComfyUI files to turn on (such as `duplicatePromptId`). */
  readonly unreleased?: readonly UnreleasedBehaviour[];
  /** Default time each node takes, in ms (default 0). */
  readonly nodeDurationMs?: number;
  /** Send sampler previews (as `--preview-method auto` would). */
  readonly previews?: boolean;
  /** Files per model folder: listed by `/models/{folder}` and added to loader combos. */
  readonly models?: Readonly<Record<string, readonly string[]>>;
  /** Require credentials the way a reverse proxy in front of ComfyUI would (401 without). */
  readonly auth?: TestServerAuth;
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
   * Answer the next `count` HTTP requests (or a seeded `rate` of them) whose path matches
   * `path` with `status`, or cut the connection (`"reset"`). With `afterHandling`, the request
   * is processed first and only its reply is lost, as when a proxy times out after ComfyUI
   * accepted a prompt. `{ count: 0 }` clears the fault.
   */
  failHttp(fault: HttpFault): void;
  /** Add latency to every HTTP response (a slow reply). */
  latency(ms: number): void;
  /** Drop every WebSocket now, or after each has received `afterMessages` more messages. */
  dropWebSockets(options?: { afterMessages?: number }): void;
  /**
   * A crash and restart: queue, history and caches are lost; the port refuses connections for
   * `downtimeMs` (default 200) and, when given, until `whileDown()` has settled (a test's checks
   * of the down server, run while it is down for sure).
   */
  restart(options?: { downtimeMs?: number; whileDown?: () => Promise<void> }): Promise<void>;
  /**
   * The server dies for good (`kill -9` without a restart): every connection is cut and the
   * port refuses connections from now on. `close()` still cleans up.
   */
  stop(): Promise<void>;
  /**
   * The server freezes (`kill -STOP`): it accepts connections but answers nothing, sends no
   * socket frame and runs no node until {@link thaw}.
   */
  freeze(): void;
  /**
   * Requests whose path matches `path` (`/system_stats` or `/api/system_stats`: test the path
   * with a regular expression such as `/system_stats$/`) get no answer, their connection left
   * open, as behind a handler stuck on a lock, until {@link thaw} (then they are answered). The
   * rest of the server answers as usual.
   */
  hang(path: RegExp): void;
  /**
   * Resumes a frozen server (`kill -CONT`): held requests are answered, held frames sent; ends a
   * {@link hang} too.
   */
  thaw(): void;
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
  /**
   * Resolves once the prompt has finished executing (successfully, with an error or
   * interrupted) and its history entry is written; at once for one among {@link executed}. The
   * executor's `onFinished` hook: tests wait on it instead of polling `/history`.
   */
  finished(promptId: string): Promise<void>;
  /** WebSocket messages sent: `[client id or "*", type, performance.now()]`; the latest 50,000. */
  readonly wsLog: readonly (readonly [string, string, number])[];
  /** HTTP requests received, as `"METHOD /path"` (query string left out); the latest 50,000. */
  readonly requests: readonly string[];
  /** Stops the server and closes every connection. */
  close(): Promise<void>;
}

/**
 * The test server's state, shared by its route modules: the rules of the release it imitates,
 * its schema, folders, queue and history, the executor and the socket hub.
 */
export class App {
  readonly rules: ComfyuiRules;
  readonly version: string;
  readonly baseInfo: Record<string, unknown>;
  readonly modelFiles: Readonly<Record<string, readonly string[]>>;
  readonly schema: NodeSchema;
  readonly folders: Folders;
  readonly hub = new SocketHub();
  readonly faults = new Faults();
  readonly state: ExecutorState = {
    queue: new PromptHeap(),
    running: undefined,
    history: new Map(),
  };
  readonly executor: Executor;
  readonly maxUpload: number;
  readonly features: { readonly supports_preview_metadata: true; readonly max_upload_size: number };
  readonly customValidators: Readonly<Record<string, CustomValidator>>;
  /** Prompt ids in the order they finished (the executor's `onFinished` hook). */
  readonly executed: string[] = [];
  readonly requests: string[] = [];
  #counter = 0;
  /** Who waits for which prompt to finish ({@link TestServer.finished}). */
  readonly #finishWaiters = new Map<string, (() => void)[]>();

  constructor(
    readonly options: TestServerOptions,
    dataDir: string,
  ) {
    this.rules = comfyuiRules(options.comfyuiVersion ?? DEFAULT_COMFYUI_VERSION, {
      source: "comfyuiVersion",
      unreleased: options.unreleased ?? [],
      ...(options.warn !== undefined ? { warn: options.warn } : {}),
    });
    this.version = this.rules.version.text;
    this.modelFiles = options.models ?? {};
    this.baseInfo = withModels(loadRaw(options.objectInfo), this.modelFiles);
    this.schema = normalizeObjectInfo(this.baseInfo, "test server object_info");
    this.folders = new Folders(dataDir);
    this.folders.clearTemp();
    writeExampleImage(this.folders);
    this.maxUpload = options.maxUploadSize ?? 100 * 1024 * 1024;
    this.features = { supports_preview_metadata: true, max_upload_size: this.maxUpload };
    const folders = this.folders;
    const rules = this.rules;
    // nodes.py VALIDATE_INPUTS of the image loaders: what they raise first, then the file.
    const loadImage = (classType: string): CustomValidator => ({
      inputs: ["image"],
      check: (v) => {
        const image = imageLoaderArgument(classType, v, rules);
        return folders.annotatedPath(image) ? true : `Invalid image file: ${image}`;
      },
    });
    // LoadImageOutput subclasses LoadImage and inherits its VALIDATE_INPUTS (nodes.py).
    this.customValidators = {
      LoadImage: loadImage("LoadImage"),
      LoadImageMask: loadImage("LoadImageMask"),
      LoadImageOutput: loadImage("LoadImageOutput"),
    };
    this.executor = new Executor(
      this.state,
      this.hub,
      this.folders,
      (c) => this.schema.classes.get(c),
      () => this.queueRemaining(),
      {
        onFinished: (promptId) => {
          pushCapped(this.executed, promptId);
          const waiters = this.#finishWaiters.get(promptId);
          this.#finishWaiters.delete(promptId);
          for (const resolve of waiters ?? []) resolve();
        },
        gate: () => this.faults.whileFrozen(),
      },
    );
    this.executor.nodeDurationMs = options.nodeDurationMs ?? 0;
    this.executor.rules = this.rules;
    this.executor.previews = options.previews === true;
  }

  /** Prompts queued or running: `exec_info.queue_remaining`. */
  queueRemaining(): number {
    return this.state.queue.size + (this.state.running ? 1 : 0);
  }

  /** The `status` message to every client, after the queue changed. */
  broadcastStatus(): void {
    this.hub.send("status", { status: { exec_info: { queue_remaining: this.queueRemaining() } } });
  }

  /** The next queue number; `front` numbers count down, as ComfyUI's `-number` does. */
  nextNumber(front: boolean): number {
    const n = front ? -this.#counter : this.#counter;
    this.#counter++;
    return n;
  }

  /** Resolves once `promptId` has finished (at once if it has). */
  finished(promptId: string): Promise<void> {
    if (this.executed.includes(promptId)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.#finishWaiters.get(promptId) ?? [];
      waiters.push(resolve);
      this.#finishWaiters.set(promptId, waiters);
    });
  }

  /** Forgets queue, history, caches and numbering, as a process restart does. */
  reset(): void {
    this.state.queue.clear();
    this.state.history.clear();
    this.#counter = 0;
    this.executor.reset();
    this.folders.clearTemp();
  }

  /** Whether a class's upload combo lists the input folder (an `image` combo with `image_upload`). */
  static listsFiles(info: unknown): boolean {
    const required = (info as { input?: { required?: Record<string, unknown[]> } }).input?.required;
    const image = required?.["image"];
    return (
      Array.isArray(image) &&
      Array.isArray(image[0]) &&
      Boolean((image[1] as { image_upload?: unknown } | undefined)?.image_upload)
    );
  }

  /**
   * A class's object_info as served: upload combos list the input folder on every call, as
   * LoadImage's INPUT_TYPES does; numbers the schema file wrote as floats are written so
   * (`withPyFloats`: `"max": 1000.0`, as the server's `json.dumps` writes a Python float).
   */
  servedClass(info: unknown, files: () => string[]): unknown {
    if (!App.listsFiles(info)) return withPyFloats(info);
    // Copy on write: the rest keeps what the parse recorded of its floats.
    const served = info as { input: { required: Record<string, unknown[]> } };
    const [, ...rest] = served.input.required["image"]!;
    return withPyFloats({
      ...served,
      input: {
        ...served.input,
        required: { ...served.input.required, image: [files(), ...rest] },
      },
    });
  }

  #listsAnyFiles: boolean | undefined;
  #servedBody: { files: string; body: Buffer } | undefined;

  /**
   * The whole `/object_info` reply as served, as JSON bytes. The input folder is listed on every
   * call (uploads show up at once), but the reply is serialized again only when that listing
   * changed: on a 1,686-class schema serializing it costs more than anything else the server does.
   */
  servedInfoBody(): Buffer {
    this.#listsAnyFiles ??= Object.values(this.baseInfo).some((info) => App.listsFiles(info));
    const listed = this.#listsAnyFiles ? this.folders.inputFiles() : [];
    const key = listed.join("\0");
    if (this.#servedBody?.files !== key) {
      const out: Record<string, unknown> = {};
      for (const [name, info] of Object.entries(this.baseInfo))
        out[name] = this.servedClass(info, () => listed);
      this.#servedBody = { files: key, body: Buffer.from(withPythonFloats(stringifyJson(out))) };
    }
    return this.#servedBody.body;
  }

  systemStats(): unknown {
    return {
      system: {
        os: this.rules.has("systemStatsPlatform") ? "linux" : "posix",
        ram_total: 34359738368,
        ram_free: 30000000000,
        comfyui_version: this.version,
        required_frontend_version: "1.27.10",
        installed_templates_version: "0.1.95",
        required_templates_version: "0.1.95",
        python_version: "3.12.3 (comfyc test server)",
        pytorch_version: "2.8.0+cpu",
        embedded_python: false,
        argv: ["main.py", "--cpu", "--listen", this.options.host ?? "127.0.0.1"],
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
    };
  }
}

/**
 * Starts a ComfyUI-compatible server on loopback: the real HTTP and WebSocket protocol
 * (protocol document §1-§10, quirks included), the shared validator, simulated nodes that
 * write real files, and scripted faults for tests. No GPU and no Python needed.
 *
 * Its parts: this file holds the state ({@link App}) and the lifecycle (listen, restart, stop,
 * freeze); `routes/` one module per route family; `faults.ts`, `auth.ts`; `executor.ts` runs
 * prompts; every message and history entry it writes is typed by `protocol/`.
 *
 * @example
 * const server = await startTestServer();
 * // … point a client at server.url …
 * await server.close();
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  // A temporary data folder is the server's own: removed by close(), and when listening fails.
  const tempRoot =
    options.dataDir === undefined ? mkdtempSync(join(tmpdir(), "comfyc-server-")) : undefined;
  const removeTempRoot = () => {
    if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
  };
  let app: App;
  try {
    app = new App(options, options.dataDir ?? tempRoot!);
  } catch (e) {
    removeTempRoot();
    throw e;
  }
  const { hub, faults, executor } = app;
  const routes: Route[] = [
    ...promptRoutes(app),
    ...queueRoutes(app),
    ...historyRoutes(app),
    ...systemRoutes(app),
    ...fileRoutes(app),
    ...v2Routes(app),
    ...jobsRoutes(app),
  ];

  const respond = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (!authorized(req, options.auth)) return sendUnauthorized(res, options.auth);
    // ComfyUI's origin check for loopback hosts (a CSRF guard): a foreign Origin is a 403.
    const origin = req.headers["origin"];
    const host = req.headers["host"];
    if (origin && host && /^(localhost|127\.|\[::1\])/.test(host)) {
      try {
        if (new URL(origin).host !== host) return sendEmpty(res, 403);
      } catch {
        return sendEmpty(res, 403);
      }
    }
    const path = url.pathname.startsWith("/api/") ? url.pathname.slice(4) : url.pathname;
    const found = findRoute(routes, req.method ?? "GET", path, url.pathname);
    if (!found) {
      const method = req.method ?? "GET";
      if (method === "GET" || method === "HEAD") return sendText(res, 404, "404: Not Found");
      res.setHeader("Allow", allowedMethods(routes, path, url.pathname));
      return sendText(res, 405, "405: Method Not Allowed");
    }
    try {
      await found.route.handle({
        req,
        res,
        url,
        params: found.params,
        body: () => readBody(req, app.maxUpload),
      });
    } catch (e) {
      if (e instanceof HttpStatus && e.status !== 500)
        return e.text === undefined ? sendEmpty(res, e.status) : sendText(res, e.status, e.text);
      sendInternalError(req, res);
    }
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    pushCapped(app.requests, `${req.method ?? "GET"} ${url.pathname}`);
    if (await faults.intercept(req, res, url.pathname, (r) => respond(req, r, url))) return;
    await respond(req, res, url);
  };

  const wss = new WebSocketServer({ noServer: true });
  // Every open TCP connection: a freeze stops reading them all, as a stopped process reads
  // nothing (the kernel still accepts connections and buffers what clients send).
  const connections = new Set<Socket>();
  const create = (): Server => {
    const server = options.tls
      ? (createHttpsServer(
          { key: options.tls.key, cert: options.tls.cert },
          (req, res) => void handle(req, res),
        ) as unknown as Server)
      : createServer((req, res) => void handle(req, res));
    server.on("connection", (socket: Socket) => {
      connections.add(socket);
      socket.once("close", () => connections.delete(socket));
      if (faults.frozen) socket.pause();
    });
    server.on("upgrade", (req: IncomingMessage, socket, head) => {
      void faults.whileFrozen().then(() => upgrade(req, socket, head));
    });
    return server;
  };
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/ws" && url.pathname !== "/api/ws") return socket.destroy();
    if (!authorized(req, options.auth)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const client = hub.add(ws, url.searchParams.get("clientId"));
      hub.send(
        "status",
        { status: { exec_info: { queue_remaining: app.queueRemaining() } }, sid: client.sid },
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
            hub.send("feature_flags", app.features, client.sid);
          }
        } catch {
          // Ignored, as the server ignores malformed client messages.
        }
      });
    });
  };

  const host = options.host ?? "127.0.0.1";
  let server = create();
  try {
    await listen(server, options.port ?? 0, host);
  } catch (e) {
    removeTempRoot();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;

  let stopped = false;
  /** Undoes a freeze: held requests are answered, held frames sent, connections read again. */
  const thawAll = () => {
    faults.thaw();
    hub.resume();
    for (const socket of connections) socket.resume();
  };
  /** Cuts every connection and closes the port. */
  const stop = async () => {
    hub.closeAll();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };

  const script: TestServerScript = {
    node: (key, s) => void executor.scripts.set(key, s),
    clearNodes: () => executor.scripts.clear(),
    failHttp: (f) => faults.failHttp(f),
    latency: (ms) => {
      faults.latencyMs = ms;
    },
    dropWebSockets: (o = {}) => hub.drop(o.afterMessages),
    restart: async ({ downtimeMs = 200, whileDown } = {}) => {
      await stop();
      app.reset();
      let failure: { error: unknown } | undefined;
      await Promise.all([
        new Promise((r) => setTimeout(r, downtimeMs)),
        whileDown?.().catch((error: unknown) => void (failure = { error })),
      ]);
      server = create();
      await listen(server, port, host);
      // Up again either way; then the caller's own check fails, if it did.
      if (failure) throw failure.error;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      thawAll();
      await stop();
      // The process is gone: its worker stops with it.
      executor.reset();
    },
    freeze: () => {
      faults.freeze();
      hub.pause();
      // Nothing is read either: not even a WebSocket close frame gets its answer.
      for (const socket of connections) socket.pause();
    },
    hang: (path) => faults.hang(path),
    thaw: () => {
      thawAll();
    },
    interrupt: () => executor.interrupt(),
  };

  return {
    url,
    port,
    host,
    folders: app.folders,
    schema: app.schema,
    comfyuiVersion: app.version,
    script,
    executed: app.executed,
    finished: (promptId) => app.finished(promptId),
    wsLog: hub.log,
    requests: app.requests,
    close: async () => {
      thawAll();
      if (!stopped) await stop();
      stopped = true;
      executor.reset();
      app.folders.clearTemp();
      removeTempRoot();
    },
  };
}

/** ComfyUI ships `input/example.png`; so does the test server (with a transparent hole to inpaint). */
function writeExampleImage(folders: Folders): void {
  const path = join(folders.dir("input"), "example.png");
  if (existsSync(path)) return;
  const image = pattern(512, 512, 1, 7);
  const frame = toRgba(image.frames[0]!);
  for (let y = 192; y < 320; y++) for (let x = 192; x < 320; x++) frame[(y * 512 + x) * 4 + 3] = 0;
  writeFileSync(path, encodePng(512, 512, frame));
}

/** Parsed schema files by path: test suites start many servers on the same (read-only) file. */
const parsedFiles = new Map<string, { mtimeMs: number; raw: Record<string, unknown> }>();

function loadRaw(objectInfo: unknown): Record<string, unknown> {
  if (objectInfo === undefined || typeof objectInfo === "string") {
    const path = (objectInfo as string | undefined) ?? BUNDLED_OBJECT_INFO;
    try {
      const mtimeMs = statSync(path).mtimeMs;
      const cached = parsedFiles.get(path);
      if (cached?.mtimeMs === mtimeMs) return cached.raw;
      // Lossless: 64-bit limits stay exact, as the server's Python ints are, and a limit written
      // 1000.0 prints so in validation errors.
      const raw = parseJsonLossless(readFileSync(path, "utf8"), { floats: true }) as Record<
        string,
        unknown
      >;
      parsedFiles.set(path, { mtimeMs, raw });
      return raw;
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

/**
 * The object_info with configured model files added to the loaders' combos. Copy on write: the
 * classes without such a combo stay the parsed objects, which keep what a parse with `floats`
 * recorded (`parsedWithFloats`); a loader's copy prints its limits by the FLOAT-type rule.
 */
function withModels(
  raw: Record<string, unknown>,
  models: Readonly<Record<string, readonly string[]>>,
): Record<string, unknown> {
  if (Object.keys(models).length === 0) return raw;
  const out: Record<string, unknown> = { ...raw };
  type Info = { input?: { required?: Record<string, unknown> } };
  for (const [classType, value] of Object.entries(raw)) {
    const info = value as Info | null;
    let required: Record<string, unknown> | undefined;
    for (const [name, spec] of Object.entries(info?.input?.required ?? {})) {
      const folder = INPUT_FOLDERS[name];
      const files = folder ? models[folder] : undefined;
      if (!files || !Array.isArray(spec)) continue;
      const [type, options, ...rest] = spec as unknown[];
      let copy: unknown[];
      if (Array.isArray(type)) {
        const listed = [...new Set([...(type as unknown[]), ...files])].sort();
        copy = spec.length > 1 ? [listed, options, ...rest] : [listed];
      } else if (type === "COMBO" && options && typeof options === "object") {
        const o = options as { options?: unknown[] };
        const listed = [...new Set([...(o.options ?? []), ...files])].sort();
        copy = [type, { ...o, options: listed }, ...rest];
      } else continue;
      required ??= { ...info!.input!.required };
      required[name] = copy;
    }
    if (required) {
      Object.defineProperty(out, classType, {
        value: { ...info, input: { ...info!.input, required } },
        enumerable: true,
        writable: true,
        configurable: true,
      });
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
