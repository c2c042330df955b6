import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { ComfycError, isComfycError } from "../errors.js";
import type { ComfyClient } from "../runtime/client.js";
import { readLocal, uploadMarkerOf, uploadNameOf } from "../runtime/files.js";
import { checkKey, type Storage } from "./storage.js";

/**
 * A file a queued job needs in its instance's input folder (a `LoadImage` image). It is kept in
 * storage from enqueue until a worker runs the job; the prompt names it by {@link name}, which
 * the worker makes exist on its own instance before posting the prompt.
 */
export interface StagedInput {
  /** The file name in the prompt and on the instance: `comfyc-<sha256, 24 hex>.<ext>`. */
  readonly name: string;
  /** Storage key: `inputs/<sha256>.<ext>` (content-addressed: one object per distinct file). */
  readonly key: string;
  /** SHA-256 of the bytes, hex; the worker checks what it reads from storage against it. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
  /** Where it was stored (`Storage.location`), for the error when a worker's storage differs. */
  readonly storage: string;
}

/** The first segment of input keys; a job id may not be this (its outputs would mix with them). */
export const INPUTS_PREFIX = "inputs";

/**
 * Stores the bytes of one input file under its content-addressed key (skipped when an object of
 * that size is already there) and returns its {@link StagedInput}. `filename` only gives the
 * extension; `beforeStore(key)` runs before the object is looked for (the queue takes the job's
 * reference there: see `input-refs.ts`). Throws storage errors (`IO_ERROR`, S3 errors).
 */
export async function storeInput(
  storage: Storage,
  bytes: Uint8Array,
  filename: string,
  beforeStore?: (key: string) => Promise<unknown>,
): Promise<StagedInput> {
  return (await putInput(storage, bytes, filename, beforeStore)).input;
}

/**
 * {@link storeInput}, also saying whether the bytes were new to the storage (`created`) or an
 * object with that content was already there (a dedup hit).
 */
export async function putInput(
  storage: Storage,
  bytes: Uint8Array,
  filename: string,
  beforeStore?: (key: string) => Promise<unknown>,
): Promise<{ input: StagedInput; created: boolean }> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const name = uploadNameOf(sha256, filename);
  const key = checkKey(`${INPUTS_PREFIX}/${sha256}${name.slice(name.lastIndexOf("."))}`);
  // The queue takes the job's reference here, so no deletion can start once we look.
  await beforeStore?.(key);
  const there = await storage.stat(key);
  const created = there?.size !== bytes.byteLength;
  if (created) await storage.put(key, bytes);
  return {
    input: { name, key, sha256, size: bytes.byteLength, storage: storage.location },
    created,
  };
}

/**
 * Replaces every upload marker of a compiled prompt (`localFile()`, `fileBytes()`) by the name
 * the file will have on the instance, after storing the file in `storage`. Returns the prompt
 * itself when it has no markers. Throws `USAGE` naming the option and flag when it has some and
 * no storage is configured, `IO_ERROR` for a local file that cannot be read.
 */
export async function stageUploads(
  prompt: Record<string, unknown>,
  storage: Storage | undefined,
  beforeStore?: (key: string) => Promise<unknown>,
): Promise<{ prompt: Record<string, unknown>; inputs: StagedInput[] }> {
  const found: { node: string; input: string }[] = [];
  for (const [id, node] of Object.entries(prompt))
    for (const [name, value] of Object.entries(
      (node as { inputs?: Record<string, unknown> }).inputs ?? {},
    ))
      if (uploadMarkerOf(value)) found.push({ node: id, input: name });
  if (found.length === 0) return { prompt, inputs: [] };
  if (!storage) {
    const where = found.map((f) => `node "${f.node}" input ${f.input}`).join(", ");
    throw new ComfycError(
      "USAGE",
      `The prompt uploads local files (${where}), and queued jobs carry them through storage, but no storage is configured`,
      "Pass `storage` to new ComfyQueue({ redis, storage: await openStorage(url) }), or --storage <url> to `comfyc enqueue`; workers must use the same storage (--storage).",
    );
  }
  // Marker objects are frozen builder data: copy the nodes we change, keep the rest shared.
  const copy: Record<string, unknown> = { ...prompt };
  const inputs = new Map<string, StagedInput>();
  for (const { node, input } of found) {
    const original = copy[node] as { inputs: Record<string, unknown> };
    const marker = uploadMarkerOf(original.inputs[input])!;
    const bytes = marker.bytes ?? (await readLocal(marker.path!));
    const staged = await storeInput(storage, bytes, marker.name, beforeStore);
    inputs.set(staged.key, staged);
    copy[node] = { ...original, inputs: { ...original.inputs, [input]: staged.name } };
  }
  return { prompt: copy, inputs: [...inputs.values()] };
}

/**
 * Makes each input exist on the worker's instance before its prompt is posted: a file the
 * instance already has under its content-hash name (`HEAD /view`) is not sent again (retries
 * and hand-backs to the same instance upload nothing); otherwise it is read from storage,
 * checked against its SHA-256 and uploaded with `POST /upload/image` (the runtime's own
 * multipart upload). Returns how many files were uploaded, and the names the server chose
 * when it stored one under another name.
 *
 * Throws `NOT_FOUND` (the object is not in this worker's storage: a `--storage` differing from
 * the producer's) and `IO_ERROR` (the bytes read do not match), both retried by the worker.
 */
export async function ensureInputs(
  client: ComfyClient,
  storage: Storage,
  inputs: readonly StagedInput[],
  signal?: AbortSignal,
): Promise<{ uploaded: number; renamed: Map<string, string> }> {
  const options = signal ? { signal } : {};
  const renamed = new Map<string, string>();
  let uploaded = 0;
  for (const input of inputs) {
    if (await client.exists({ filename: input.name, subfolder: "", type: "input" }, options))
      continue;
    let body: Readable;
    try {
      body = await storage.get(input.key);
    } catch (e) {
      if (!isComfycError(e, "NOT_FOUND")) throw e;
      throw new ComfycError(
        "NOT_FOUND",
        `Input file ${input.key} of this job is not in ${storage.location} (it was stored in ${input.storage})`,
        "Start workers with the same --storage as the producer (comfyc enqueue --storage, the gateway's --storage).",
        { cause: e },
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== input.sha256)
      throw new ComfycError(
        "IO_ERROR",
        `Input file ${input.key} in ${storage.location} does not match the job (SHA-256 ${sha256.slice(0, 12)}…, expected ${input.sha256.slice(0, 12)}…)`,
        "Something changed the stored object; enqueue the job again with the file.",
      );
    const reply = await client.uploadImageBytes(bytes, input.name, options);
    uploaded++;
    const stored = reply.subfolder ? `${reply.subfolder}/${reply.name}` : reply.name;
    if (stored !== input.name) renamed.set(input.name, stored);
  }
  return { uploaded, renamed };
}

/** The prompt with every input value equal to a renamed file's name replaced by its new name. */
export function renameInputs(
  prompt: Record<string, unknown>,
  renamed: ReadonlyMap<string, string>,
): Record<string, unknown> {
  if (renamed.size === 0) return prompt;
  const out: Record<string, unknown> = {};
  for (const [id, node] of Object.entries(prompt)) {
    const n = node as { inputs?: Record<string, unknown> };
    const inputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n.inputs ?? {}))
      inputs[k] = typeof v === "string" ? (renamed.get(v) ?? v) : v;
    out[id] = { ...n, inputs };
  }
  return out;
}
