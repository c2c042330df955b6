import { z } from "zod";
import type { UiFile } from "./ui-outputs.js";

/**
 * zod schemas for the server's replies and `/ws` messages (protocol §2, §3, §8). Everything
 * a server sends is untrusted: unknown fields are kept, unknown message types are ignored by
 * the client, and a reply that does not fit is a typed error, never a crash.
 */

/** A file the server produced or stores: `/view?filename=&subfolder=&type=` fetches it. */
export const FileRefSchema = z
  .object({
    filename: z.string(),
    subfolder: z.string().catch(""),
    type: z.string().catch("output"),
  })
  .loose() satisfies z.ZodType<UiFile>;
export type FileRef = z.infer<typeof FileRefSchema>;

/**
 * A node's UI output dict: every value is a list (`images`, `audio`, `text`, `animated`, …).
 * Some custom nodes return a bare value instead of a list; it is kept, wrapped in a list.
 */
export const NodeOutputSchema = z.record(
  z.string(),
  z.unknown().transform((v): unknown[] => (Array.isArray(v) ? v : [v])),
);
export type NodeOutput = z.infer<typeof NodeOutputSchema>;

const promptId = z.string();
const timestamp = z.number().optional();

/**
 * The `/ws` text messages (protocol §3), one schema per `type`: what the client reads, and
 * through {@link WsMessageData} what the test server writes.
 */
export const WsMessageSchemas = {
  /** The server's answer to the client's `feature_flags` (its own flags). */
  feature_flags: z.record(z.string(), z.unknown()),
  status: z
    .object({
      status: z.object({ exec_info: z.object({ queue_remaining: z.number() }).loose() }).loose(),
      sid: z.string().optional(),
    })
    .loose(),
  execution_start: z.object({ prompt_id: promptId, timestamp }).loose(),
  execution_cached: z
    .object({ prompt_id: promptId, nodes: z.array(z.string()), timestamp })
    .loose(),
  executing: z
    .object({
      node: z.string().nullable(),
      display_node: z.string().nullish(),
      prompt_id: promptId.optional(),
    })
    .loose(),
  progress: z
    .object({
      value: z.number(),
      max: z.number(),
      prompt_id: promptId.optional(),
      node: z.string().nullish(),
    })
    .loose(),
  progress_state: z
    .object({
      prompt_id: promptId,
      nodes: z.record(
        z.string(),
        z.object({ value: z.number(), max: z.number(), state: z.string() }).loose(),
      ),
    })
    .loose(),
  executed: z
    .object({
      node: z.string(),
      display_node: z.string().nullish(),
      output: NodeOutputSchema.nullable(),
      prompt_id: promptId,
    })
    .loose(),
  execution_success: z.object({ prompt_id: promptId, timestamp }).loose(),
  execution_error: z
    .object({
      prompt_id: promptId,
      node_id: z.string().nullish(),
      node_type: z.string().nullish(),
      executed: z.array(z.string()).catch([]),
      exception_message: z.string().catch(""),
      exception_type: z.string().catch(""),
      traceback: z.array(z.string()).catch([]),
      current_inputs: z.unknown().optional(),
      current_outputs: z.unknown().optional(),
      timestamp,
    })
    .loose(),
  execution_interrupted: z
    .object({
      prompt_id: promptId,
      node_id: z.string().nullish(),
      node_type: z.string().nullish(),
      executed: z.array(z.string()).catch([]),
      timestamp,
    })
    .loose(),
} as const;

export type WsMessageType = keyof typeof WsMessageSchemas;
export type WsMessage = {
  [K in WsMessageType]: { type: K; data: z.infer<(typeof WsMessageSchemas)[K]> };
}[WsMessageType];
/** The `data` a server writes for a message `type`: the input side of the reader's schema. */
export type WsMessageData<K extends WsMessageType> = z.input<(typeof WsMessageSchemas)[K]>;

const TYPE_PREFIX = /^\{\s*"type"\s*:\s*"([a-z_]+)"/;

/**
 * Parses a text frame; undefined for unknown types, types not in `wanted`, or shapes that do
 * not fit. Skipping unwanted types (such as the frequent `progress_state`) saves their schema
 * check.
 */
export function parseWsMessage(text: string, wanted?: ReadonlySet<string>): WsMessage | undefined {
  if (wanted) {
    // ComfyUI writes `{"type": "…", "data": …}`: an unwanted type is skipped without parsing.
    const peek = TYPE_PREFIX.exec(text);
    if (peek && !wanted.has(peek[1]!)) return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== "object") return undefined;
  const { type, data } = raw as { type?: unknown; data?: unknown };
  if (typeof type !== "string" || !(type in WsMessageSchemas)) return undefined;
  if (wanted && !wanted.has(type)) return undefined;
  const parsed = WsMessageSchemas[type as WsMessageType].safeParse(data);
  return parsed.success ? ({ type, data: parsed.data } as WsMessage) : undefined;
}

/** A binary frame (§3.4): previews and progress text. */
export type BinaryFrame =
  | {
      kind: "preview";
      mime: "image/jpeg" | "image/png";
      image: Uint8Array;
      meta?: { node_id?: string; prompt_id?: string; display_node_id?: string };
    }
  | { kind: "text"; nodeId: string; text: string };

/** Parses a binary frame; undefined for unknown event types or truncated frames. */
export function parseBinaryFrame(bytes: Uint8Array): BinaryFrame | undefined {
  if (bytes.length < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const event = view.getUint32(0);
  if (event === 1) {
    const format = view.getUint32(4);
    return {
      kind: "preview",
      mime: format === 2 ? "image/png" : "image/jpeg",
      image: bytes.subarray(8),
    };
  }
  if (event === 3 || event === 4) {
    const length = view.getUint32(4);
    if (8 + length > bytes.length) return undefined;
    const head = new TextDecoder().decode(bytes.subarray(8, 8 + length));
    if (event === 3)
      return {
        kind: "text",
        nodeId: head,
        text: new TextDecoder().decode(bytes.subarray(8 + length)),
      };
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(head) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const mime = meta["image_type"] === "image/png" ? "image/png" : "image/jpeg";
    return {
      kind: "preview",
      mime,
      image: bytes.subarray(8 + length),
      meta: meta as { node_id?: string; prompt_id?: string },
    };
  }
  return undefined;
}

/** One history entry (§8). */
export const HistoryEntrySchema = z
  .object({
    prompt: z.array(z.unknown()).catch([]),
    outputs: z.record(z.string(), NodeOutputSchema).catch({}),
    status: z
      .object({
        status_str: z.string().catch(""),
        completed: z.boolean().catch(false),
        // Each message is kept on its own: one odd entry must not hide an execution_error.
        messages: z
          .array(z.unknown())
          .catch([])
          .transform((items) =>
            items.flatMap((m): [string, Record<string, unknown>][] =>
              Array.isArray(m) && typeof m[0] === "string"
                ? [
                    [
                      m[0],
                      m[1] !== null && typeof m[1] === "object"
                        ? (m[1] as Record<string, unknown>)
                        : {},
                    ],
                  ]
                : [],
            ),
          ),
      })
      .loose()
      .optional(),
    meta: z.record(z.string(), z.unknown()).catch({}),
  })
  .loose();
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
/**
 * A history entry as a server writes it (`prompt`, `outputs`, `status`, `meta`): the input
 * side of {@link HistoryEntrySchema}, so writer and reader share one definition.
 */
export type HistoryEntryWire = z.input<typeof HistoryEntrySchema>;

export const HistorySchema = z.record(z.string(), HistoryEntrySchema);

const QueueItemSchema = z.array(z.unknown()).min(2);
export const QueueSchema = z
  .object({ queue_running: z.array(QueueItemSchema), queue_pending: z.array(QueueItemSchema) })
  .loose();
export type QueueReply = z.infer<typeof QueueSchema>;

export const SystemStatsSchema = z
  .object({
    system: z.object({ comfyui_version: z.string().optional(), os: z.string().optional() }).loose(),
    devices: z.array(z.record(z.string(), z.unknown())).catch([]),
  })
  .loose();
export type SystemStats = z.infer<typeof SystemStatsSchema>;

export const UploadReplySchema = z
  .object({ name: z.string(), subfolder: z.string().catch(""), type: z.string().catch("input") })
  .loose();
export type UploadReply = z.infer<typeof UploadReplySchema>;
