import { createHash, randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import { ComfycError, ioError } from "../errors.js";

/** A request rate: `points` requests per `durationSec` seconds. */
export interface Rate {
  readonly points: number;
  readonly durationSec: number;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  s: 1,
  sec: 1,
  second: 1,
  m: 60,
  min: 60,
  minute: 60,
  h: 3600,
  hour: 3600,
  d: 86400,
  day: 86400,
};

/**
 * Parses a rate such as `60/min`, `10/s`, `1000/hour` or `100/10s` (100 per 10 seconds).
 * Throws a `USAGE` error naming the accepted forms.
 */
export function parseRate(text: string): Rate {
  const m = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? UNIT_SECONDS[m[3]!.toLowerCase()] : undefined;
  const points = m ? Number(m[1]) : NaN;
  const count = m && m[2] ? Number(m[2]) : 1;
  if (!m || unit === undefined || !Number.isSafeInteger(points) || points < 1 || count < 1) {
    throw new ComfycError(
      "USAGE",
      `Bad rate ${JSON.stringify(text)}`,
      "Write a rate as <requests>/<unit>: 60/min, 10/s, 1000/hour, 5000/day or 100/10s.",
    );
  }
  return { points, durationSec: unit * count };
}

/** The text form of a rate, as `parseRate` reads it. */
export function formatRate(rate: Rate): string {
  const names: [number, string][] = [
    [86400, "day"],
    [3600, "hour"],
    [60, "min"],
    [1, "s"],
  ];
  for (const [seconds, name] of names)
    if (rate.durationSec === seconds) return `${rate.points}/${name}`;
  return `${rate.points}/${rate.durationSec}s`;
}

const RateSchema = z.object({
  points: z.number().int().positive(),
  durationSec: z.number().int().positive(),
});

/** One API key as the keys file stores it: its hash, never the key. */
export const ApiKeyRecordSchema = z.object({
  /** Stable id (`key_…`), shown in logs and metrics instead of the name's owner. */
  id: z.string().regex(/^key_[A-Za-z0-9]+$/),
  name: z.string().min(1),
  /** `sha256:<hex>` of the whole key. */
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** Workflow names the key may submit to; `null` = every workflow. */
  workflows: z.array(z.string()).nullable(),
  /** Submissions allowed per window; `null` = the gateway's default. */
  rate: RateSchema.nullable(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

const KeysFileSchema = z.object({
  version: z.literal(1),
  keys: z.array(ApiKeyRecordSchema),
});
type KeysFile = z.infer<typeof KeysFileSchema>;

/** The prefix of every key comfyc issues; lets secret scanners and logs recognise one. */
export const KEY_PREFIX = "cfk_";

/** `sha256:<hex>` of a presented key. Keys are 256 random bits, so a fast hash is enough. */
export function hashKey(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

/** Reads a keys file; a missing file is an empty one. Throws `IO_ERROR` or `USAGE` when unreadable. */
export async function readKeysFile(path: string): Promise<KeysFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException)?.code === "ENOENT") return { version: 1, keys: [] };
    throw ioError(path, cause);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ComfycError(
      "USAGE",
      `${path} is not a keys file (not JSON: ${(cause as Error).message})`,
      "Create it with `comfyc gateway keys add <name> --keys <file>`.",
      { cause },
    );
  }
  const parsed = KeysFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ComfycError(
      "USAGE",
      `${path} is not a valid keys file: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
      "Create it with `comfyc gateway keys add <name> --keys <file>`; do not edit hashes by hand.",
    );
  }
  return parsed.data;
}

async function writeKeysFile(path: string, file: KeysFile): Promise<void> {
  // Write beside, then rename: a running gateway never reads half a file.
  const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}.keys.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, path);
  } catch (cause) {
    throw new ComfycError(
      "IO_ERROR",
      `Cannot write ${path}: ${(cause as Error)?.message ?? String(cause)}`,
      "Check that its folder exists and is writable.",
      { cause },
    );
  }
}

/** What `addKey` stores about a new key. */
export interface NewKeyOptions {
  readonly name: string;
  /** Workflow names the key may use (default: all; an empty list is a `USAGE` error). */
  readonly workflows?: readonly string[];
  readonly rate?: Rate;
}

/**
 * Creates a key, stores its hash in the keys file (created when missing, mode 0600) and returns
 * the key itself, which is never stored: show it once. Names are unique among active keys.
 */
export async function addKey(
  path: string,
  options: NewKeyOptions,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const name = options.name.trim();
  if (!name)
    throw new ComfycError(
      "USAGE",
      "A key needs a name",
      "Name it after who uses it: `keys add ci`.",
    );
  if (options.workflows && options.workflows.length === 0)
    throw new ComfycError(
      "USAGE",
      `The key ${JSON.stringify(name)} would be allowed no workflow (an empty workflow list)`,
      "Name the workflows it may use (--workflows sd15-txt2img,invert-image), or leave --workflows out to allow all.",
    );
  const file = await readKeysFile(path);
  if (file.keys.some((k) => k.name === name && k.revoked_at === null)) {
    throw new ComfycError(
      "USAGE",
      `${path} already has an active key named ${JSON.stringify(name)}`,
      "Pick another name, or revoke the old key first with `comfyc gateway keys revoke`.",
    );
  }
  const key = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const record: ApiKeyRecord = {
    id: `key_${randomBytes(8).toString("hex")}`,
    name,
    hash: hashKey(key),
    workflows: options.workflows ? [...new Set(options.workflows)] : null,
    rate: options.rate ? { ...options.rate } : null,
    created_at: new Date().toISOString(),
    revoked_at: null,
  };
  await writeKeysFile(path, { version: 1, keys: [...file.keys, record] });
  return { key, record };
}

/** Every key in the file, revoked ones included. */
export async function listKeys(path: string): Promise<ApiKeyRecord[]> {
  return (await readKeysFile(path)).keys;
}

/**
 * Revokes the active key with this name or id. Throws `NOT_FOUND` when there is none. A running
 * gateway stops accepting it when it next reloads the file (within about a second).
 */
export async function revokeKey(path: string, nameOrId: string): Promise<ApiKeyRecord> {
  const file = await readKeysFile(path);
  const index = file.keys.findIndex(
    (k) => (k.name === nameOrId || k.id === nameOrId) && k.revoked_at === null,
  );
  if (index < 0) {
    throw new ComfycError(
      "NOT_FOUND",
      `${path} has no active key named ${JSON.stringify(nameOrId)}`,
      "List keys with `comfyc gateway keys list --keys <file>`.",
    );
  }
  const revoked = { ...file.keys[index]!, revoked_at: new Date().toISOString() };
  const keys = [...file.keys];
  keys[index] = revoked;
  await writeKeysFile(path, { version: 1, keys });
  return revoked;
}

/** Active keys indexed by hash, for request authentication. */
export class KeyRing {
  readonly #byHash: Map<string, ApiKeyRecord>;

  constructor(records: readonly ApiKeyRecord[]) {
    this.#byHash = new Map(records.filter((k) => k.revoked_at === null).map((k) => [k.hash, k]));
  }

  /** The active key record for a presented key, or `undefined`. */
  find(key: string): ApiKeyRecord | undefined {
    return this.#byHash.get(hashKey(key));
  }

  get size(): number {
    return this.#byHash.size;
  }
}
