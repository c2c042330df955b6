import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { comfyuiRules, type ComfyuiRules } from "../protocol/comfyui-version.js";
import { pyRepr } from "../schema/python-format.js";
import type { HistoryEntryWire, WsMessageData, WsMessageType } from "../protocol/messages.js";
import type { ClassLookup } from "../schema/validate.js";
import type { Folders } from "./files.js";
import { encodePng, imageTensor, pattern, toRgba, type ImageBatch } from "./images.js";
import { NodeFailure, runNode, type Value } from "./nodes.js";
import { queueTuple, type PromptHeap, type QueueItem } from "./queue.js";
import { BINARY, type SocketHub } from "./sockets.js";
import { torchRepr } from "./torch-repr.js";
import { pythonTraceback } from "./tracebacks.js";

/** Scripted behaviour of nodes, per class type or node id (node id wins). */
export interface NodeScript {
  /** How long each matching node takes, in ms (samplers spread it over their steps). */
  durationMs?: number;
  /**
   * Make matching nodes raise this exception. Its traceback is the release's real `execute`
   * chain, then one stand-in frame (`comfyc_testing.py`, in `scripted_failure`).
   */
  fail?: { exceptionType?: string; message?: string };
  /** Interrupt the prompt when a matching node is about to run, as `POST /interrupt` would. */
  interrupt?: boolean;
}

/** One `status.messages` item of a history entry: a message type and its data. */
type HistoryMessage = {
  [K in WsMessageType]: [K, WsMessageData<K>];
}[WsMessageType];

/** A history entry as written (protocol §8), typed by the protocol's own definition. */
export type HistoryEntry = HistoryEntryWire & {
  outputs: Record<string, Record<string, unknown[]>>;
  status: { status_str: "success" | "error"; completed: boolean; messages: HistoryMessage[] };
  meta: Record<
    string,
    { node_id: string; display_node: string; parent_node: null; real_node_id: string }
  >;
};

interface CacheEntry {
  readonly outputs: readonly Value[];
  readonly ui: Record<string, unknown[]> | undefined;
}

/** Everything the executor shares with the HTTP side. */
export interface ExecutorState {
  readonly queue: PromptHeap;
  running: QueueItem | undefined;
  readonly history: Map<string, HistoryEntry>;
}

/** What the executor reports and waits on, besides its state. */
export interface ExecutorHooks {
  /** A prompt finished (success, error or interrupt) and its history entry was written. */
  readonly onFinished?: (promptId: string) => void;
  /** Resolves when the server may go on (at once, unless it is frozen). */
  readonly gate?: () => Promise<void>;
}

const HISTORY_CAP = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The longest run of node work, in ms, before the executor lets the event loop turn. */
const SLICE_MS = 20;

class Interrupted extends Error {}
class Abandoned extends Error {}
/** A failure a test scripted (`NodeScript.fail`): its traceback ends in a stand-in frame. */
class ScriptedFailure extends NodeFailure {}

/**
 * Runs queued prompts one at a time, in queue order, emitting the WebSocket messages of
 * protocol §3.6 and writing history entries of §8. Nodes are simulated (see nodes.ts).
 */
export class Executor {
  #cache = new Map<string, CacheEntry>();
  #interrupt = false;
  #generation = 0;
  #loop: Promise<void> | undefined;
  #lastDisplayNode: string | undefined;
  /** Extra per-class or per-node behaviour scripted by tests. */
  readonly scripts = new Map<string, NodeScript>();
  nodeDurationMs = 0;
  previews = false;
  /** The release whose node behaviours apply (file names, SaveText); the app sets it. */
  rules: ComfyuiRules = comfyuiRules();

  constructor(
    readonly state: ExecutorState,
    readonly hub: SocketHub,
    readonly folders: Folders,
    readonly find: ClassLookup,
    readonly queueRemaining: () => number,
    readonly hooks: ExecutorHooks = {},
  ) {}

  /** Starts the worker if idle. */
  kick(): void {
    if (this.#loop) return;
    const loop: Promise<void> = this.#work().finally(() => {
      // A loop abandoned by reset() must not clear or restart the new process's worker.
      if (this.#loop !== loop) return;
      this.#loop = undefined;
      if (this.state.queue.size > 0) this.kick();
    });
    this.#loop = loop;
  }

  /** Global interrupt: stops whatever runs (checked before each node and in progress hooks). */
  interrupt(): void {
    if (this.state.running) this.#interrupt = true;
  }

  /** `POST /free {free_memory}`: clears the execution cache. */
  freeMemory(): void {
    this.#cache = new Map();
  }

  /** Forgets everything, as a process restart does; a running prompt is abandoned. */
  reset(): void {
    this.#generation++;
    this.#cache = new Map();
    this.#interrupt = false;
    this.state.running = undefined;
    // The old worker dies with the old process: it stops at its next check and picks up nothing.
    this.#loop = undefined;
  }

  /** The node the current client's prompt is executing, for the reconnect message. */
  currentFor(sid: string): string | undefined {
    const running = this.state.running;
    return running && running.extraData["client_id"] === sid ? this.#lastDisplayNode : undefined;
  }

  async #work(): Promise<void> {
    for (;;) {
      const item = this.state.queue.pop();
      if (!item) return;
      const generation = this.#generation;
      this.state.running = item;
      // The pick-up status: the count still includes this prompt.
      this.hub.send("status", {
        status: { exec_info: { queue_remaining: this.queueRemaining() } },
      });
      try {
        await this.#execute(item, generation);
      } catch (e) {
        if (e instanceof Abandoned) return;
        // A bug of the simulation must not hang clients or stop the queue: fail the prompt.
        this.#internalFailure(item, e);
      }
    }
  }

  async #execute(item: QueueItem, generation: number): Promise<void> {
    const promptId = item.promptId;
    const clientId =
      typeof item.extraData["client_id"] === "string"
        ? (item.extraData["client_id"] as string)
        : undefined;
    const prompt = item.prompt as Record<
      string,
      { class_type: string; inputs: Record<string, unknown> }
    >;
    const messages: HistoryMessage[] = [];
    const alive = () => {
      if (generation !== this.#generation) throw new Abandoned();
    };
    // PromptExecutor.add_message: to the client, broadcast only when asked, else dropped.
    const addMessage = <K extends HistoryMessage[0]>(
      event: K,
      data: WsMessageData<K>,
      broadcast = false,
    ) => {
      messages.push([event, data] as HistoryMessage);
      if (clientId !== undefined) this.hub.send(event, data, clientId);
      else if (broadcast) this.hub.send(event, data);
    };
    const toClientOrAll = <K extends WsMessageType>(event: K, data: WsMessageData<K>) =>
      this.hub.send(event, data, clientId);
    const toClientOnly = <K extends WsMessageType>(event: K, data: WsMessageData<K>) => {
      if (clientId !== undefined) this.hub.send(event, data, clientId);
    };
    this.#interrupt = false;

    addMessage("execution_start", { prompt_id: promptId, timestamp: Date.now() });
    const order = executionOrder(prompt, item.outputs);
    const signatures = new Map<string, string>();
    // Links in undeclared inputs are never validated: they may name missing nodes or loop.
    const visiting = new Set<string>();
    const signature = (id: string): string => {
      const known = signatures.get(id);
      if (known) return known;
      const node = prompt[id];
      if (!node) return `missing:${id}`;
      if (visiting.has(id)) return `cycle:${id}`;
      visiting.add(id);
      const parts = Object.entries(node.inputs ?? {}).map(([k, v]) =>
        Array.isArray(v) && v.length === 2 && typeof v[0] === "string"
          ? [k, signature(v[0]), v[1]]
          : [k, v],
      );
      visiting.delete(id);
      const sig = createHash("sha256")
        .update(
          JSON.stringify([node.class_type, parts], (_k, x: unknown) =>
            typeof x === "bigint" ? `${x}n` : x,
          ),
        )
        .digest("hex");
      signatures.set(id, sig);
      return sig;
    };
    const cached = Object.keys(prompt).filter(
      (id) => order.includes(id) && this.#cache.has(signature(id)),
    );
    addMessage("execution_cached", { nodes: cached, prompt_id: promptId, timestamp: Date.now() });

    const results = new Map<string, readonly Value[]>();
    const outputs: HistoryEntry["outputs"] = {};
    const meta: HistoryEntry["meta"] = {};
    const progress: WsMessageData<"progress_state">["nodes"] = {};
    const executed: string[] = [];
    const sendProgressState = () =>
      toClientOrAll("progress_state", { prompt_id: promptId, nodes: structuredClone(progress) });
    const progressEntry = (
      id: string,
      value: number,
      max: number,
      state: "running" | "finished",
    ) => {
      progress[id] = {
        value,
        max,
        state,
        node_id: id,
        prompt_id: promptId,
        display_node_id: id,
        parent_node_id: null,
        real_node_id: id,
      };
    };
    const recordUi = (id: string, ui: Record<string, unknown[]>) => {
      outputs[id] = ui;
      meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
    };

    for (const id of cached) {
      const entry = this.#cache.get(signature(id))!;
      results.set(id, entry.outputs);
      const cls = this.find(prompt[id]!.class_type);
      if (cls?.outputNode) {
        toClientOnly("executed", {
          node: id,
          display_node: id,
          output: entry.ui ?? null,
          prompt_id: promptId,
        });
        progressEntry(id, 1, 1, "finished");
        sendProgressState();
      }
      if (entry.ui) recordUi(id, entry.ui);
    }

    let failure:
      | { event: "execution_error"; data: WsMessageData<"execution_error"> }
      | { event: "execution_interrupted"; data: WsMessageData<"execution_interrupted"> }
      | undefined;
    let slice = performance.now();
    for (const id of order) {
      if (results.has(id)) continue;
      // ComfyUI executes on its own thread; here the nodes share the server's event loop, so
      // after every 20 ms of work the next node first lets waiting requests, socket frames and
      // signals (SIGTERM, /interrupt) through: a long prompt never leaves the server deaf.
      if (performance.now() - slice > SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
      await this.hooks.gate?.();
      alive();
      const node = prompt[id]!;
      const cls = this.find(node.class_type)!;
      progressEntry(id, 0, 1, "running");
      sendProgressState();
      toClientOnly("executing", { node: id, display_node: id, prompt_id: promptId });
      this.#lastDisplayNode = id;
      const inputs: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node.inputs)) {
        inputs[k] =
          Array.isArray(v) && v.length === 2 && typeof v[0] === "string"
            ? pyIndex(results.get(v[0]), v[1])
            : v;
      }
      const script = { ...this.scripts.get(node.class_type), ...this.scripts.get(id) };
      try {
        if (script.interrupt) this.#interrupt = true;
        if (this.#interrupt) throw new Interrupted();
        const duration = script.durationMs ?? this.nodeDurationMs;
        let progressed = false;
        const result = await runNode({
          nodeId: id,
          cls,
          inputs,
          folders: this.folders,
          rules: this.rules,
          prompt: item.prompt,
          extraPngInfo: item.extraData["extra_pnginfo"] as Record<string, unknown> | undefined,
          progress: async (value, max) => {
            progressed = true;
            if (duration > 0) await sleep(duration / max);
            await this.hooks.gate?.();
            alive();
            if (this.#interrupt) throw new Interrupted();
            toClientOrAll("progress", { value, max, prompt_id: promptId, node: id });
            progressEntry(id, value, max, "running");
            sendProgressState();
            if (
              this.previews ||
              (item.extraData["preview_method"] !== undefined &&
                item.extraData["preview_method"] !== "none")
            ) {
              this.#sendPreview(clientId, promptId, id);
            }
          },
          text: (text) => {
            const idBytes = Buffer.from(id, "utf8");
            const len = Buffer.alloc(4);
            len.writeUInt32BE(idBytes.length, 0);
            this.hub.sendBinary(
              BINARY.TEXT,
              Buffer.concat([len, idBytes, Buffer.from(text, "utf8")]),
            );
          },
        });
        if (!progressed && duration > 0) await sleep(duration);
        await this.hooks.gate?.();
        alive();
        if (script.fail)
          throw new ScriptedFailure(
            script.fail.exceptionType ?? "RuntimeError",
            script.fail.message ?? `Scripted failure in node ${id}`,
          );
        results.set(id, result.outputs);
        this.#cache.set(signature(id), { outputs: result.outputs, ui: result.ui });
        executed.push(id);
        if (result.ui) {
          recordUi(id, result.ui);
          toClientOnly("executed", {
            node: id,
            display_node: id,
            output: result.ui,
            prompt_id: promptId,
          });
        }
        progressEntry(id, 1, 1, "finished");
        sendProgressState();
      } catch (e) {
        if (e instanceof Abandoned) throw e;
        if (e instanceof Interrupted) {
          failure = {
            event: "execution_interrupted",
            data: {
              prompt_id: promptId,
              node_id: id,
              node_type: node.class_type,
              executed: [...executed],
              timestamp: Date.now(),
            },
          };
        } else {
          const ex =
            e instanceof NodeFailure
              ? e
              : new NodeFailure(
                  (e as { pyType?: string }).pyType ?? "RuntimeError",
                  (e as Error).message,
                );
          failure = {
            event: "execution_error",
            data: {
              prompt_id: promptId,
              node_id: id,
              node_type: node.class_type,
              executed: [...executed],
              exception_message: `${ex.message}\n`,
              exception_type: ex.exceptionType,
              traceback: pythonTraceback(
                {
                  classType: node.class_type,
                  ...(ex.site ? { site: ex.site } : {}),
                  scripted: ex instanceof ScriptedFailure,
                },
                this.rules,
                resolve(this.folders.root),
              ),
              current_inputs: {
                ...formatInputs(inputs),
                ...hiddenInputs(cls.hidden, item.prompt, item.extraData, id),
              },
              current_outputs: Object.keys(prompt),
              timestamp: Date.now(),
            },
          };
        }
        break;
      }
    }
    alive();
    if (failure?.event === "execution_interrupted") addMessage(failure.event, failure.data, true);
    else if (failure) addMessage(failure.event, failure.data);
    else addMessage("execution_success", { prompt_id: promptId, timestamp: Date.now() });
    // The classic cache keeps only what the most recent prompt used.
    const used = new Set([...results.keys()].map((id) => signature(id)));
    for (const key of [...this.#cache.keys()]) if (!used.has(key)) this.#cache.delete(key);

    const history = this.state.history;
    if (history.size > HISTORY_CAP) history.delete(history.keys().next().value!);
    history.delete(promptId);
    history.set(promptId, {
      prompt: queueTuple(item),
      outputs,
      status: { status_str: failure ? "error" : "success", completed: !failure, messages },
      meta,
    });
    this.hooks.onFinished?.(promptId);
    this.state.running = undefined;
    this.#lastDisplayNode = undefined;
    this.hub.send("status", { status: { exec_info: { queue_remaining: this.queueRemaining() } } });
    toClientOnly("executing", { node: null, prompt_id: promptId });
  }

  /** Ends a prompt whose simulation threw outside any node: an error entry, as ComfyUI would. */
  #internalFailure(item: QueueItem, e: unknown): void {
    const promptId = item.promptId;
    const clientId =
      typeof item.extraData["client_id"] === "string"
        ? (item.extraData["client_id"] as string)
        : undefined;
    const error: WsMessageData<"execution_error"> & { timestamp: number } = {
      prompt_id: promptId,
      node_id: null,
      node_type: null,
      executed: [],
      exception_message: `${(e as Error)?.message ?? String(e)}\n`,
      exception_type: "RuntimeError",
      traceback: [],
      current_inputs: {},
      current_outputs: Object.keys(item.prompt as object),
      timestamp: Date.now(),
    };
    if (clientId !== undefined) this.hub.send("execution_error", error, clientId);
    this.state.history.set(promptId, {
      prompt: queueTuple(item),
      outputs: {},
      status: {
        status_str: "error",
        completed: false,
        messages: [
          ["execution_start", { prompt_id: promptId, timestamp: error.timestamp }],
          ["execution_error", error],
        ],
      },
      meta: {},
    });
    this.hooks.onFinished?.(promptId);
    this.state.running = undefined;
    this.#lastDisplayNode = undefined;
    this.hub.send("status", { status: { exec_info: { queue_remaining: this.queueRemaining() } } });
    if (clientId !== undefined)
      this.hub.send("executing", { node: null, prompt_id: promptId }, clientId);
  }

  #sendPreview(clientId: string | undefined, promptId: string, nodeId: string): void {
    const image = pattern(64, 64, 1, Date.now() & 0xffff);
    const png = encodePng(64, 64, toRgba(image.frames[0]!));
    if (this.hub.supportsPreviewMetadata(clientId)) {
      const meta = Buffer.from(
        JSON.stringify({
          node_id: nodeId,
          prompt_id: promptId,
          display_node_id: nodeId,
          parent_node_id: null,
          real_node_id: nodeId,
          image_type: "image/png",
        }),
      );
      const len = Buffer.alloc(4);
      len.writeUInt32BE(meta.length, 0);
      this.hub.sendBinary(
        BINARY.PREVIEW_IMAGE_WITH_METADATA,
        Buffer.concat([len, meta, png]),
        clientId,
      );
    } else {
      const format = Buffer.alloc(4);
      format.writeUInt32BE(2, 0);
      this.hub.sendBinary(BINARY.PREVIEW_IMAGE, Buffer.concat([format, png]), clientId);
    }
  }
}

/** Dependencies before dependents, starting from the outputs in order. */
export function executionOrder(
  prompt: Record<string, { inputs: Record<string, unknown> }>,
  outputs: readonly string[],
): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id) || !prompt[id]) return;
    seen.add(id);
    for (const v of Object.values(prompt[id]!.inputs)) {
      if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string") visit(v[0]);
    }
    order.push(id);
  };
  for (const o of outputs) visit(o);
  return order;
}

/**
 * `execution_error.current_inputs`: each input as `format_value` shows it (`execution.py`):
 * numbers, strings and booleans as they are, anything else as `str(x)` (an IMAGE as torch
 * prints the tensor; other objects as a Python object repr whose address no client can rely on).
 */
function formatInputs(inputs: Record<string, unknown>): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(inputs)) {
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) out[k] = [v];
    else if (typeof v === "bigint") out[k] = [Number(v)];
    else {
      const kind = (v as { kind?: string }).kind;
      out[k] = [
        kind === "IMAGE"
          ? torchRepr(imageTensor((v as { image: ImageBatch }).image))
          : `<comfy.${String(kind ?? "object").toLowerCase()} object at 0x7f00c0ffee00>`,
      ];
    }
  }
  return out;
}

/**
 * The hidden inputs `get_input_data` fills in (`execution.py`), as `format_value` shows them:
 * `prompt` as `str()` of the prompt dict, `extra_pnginfo` (None when the request had none),
 * `unique_id` as the node id. Others (`dynprompt`, auth tokens) are left out.
 */
function hiddenInputs(
  hidden: readonly string[],
  prompt: Record<string, unknown>,
  extraData: Record<string, unknown>,
  id: string,
): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const name of hidden) {
    if (name === "prompt") out[name] = [pyRepr(prompt)];
    else if (name === "extra_pnginfo") {
      const info = extraData["extra_pnginfo"];
      out[name] = [info === undefined || info === null ? null : pyRepr(info)];
    } else if (name === "unique_id") out[name] = [id];
  }
  return out;
}

/**
 * `outputs[node][index]` as ComfyUI's `get_input_data` reads it: validation accepted the index,
 * so it is an int in Python's sense (a bool counts as 0 or 1) and a negative one counts from
 * the end.
 */
function pyIndex(values: readonly unknown[] | undefined, index: unknown): unknown {
  if (!values) return undefined;
  const i = Number(index);
  return values[i < 0 ? values.length + i : i];
}
