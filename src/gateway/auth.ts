import { watchFile, unwatchFile } from "node:fs";
import { ApiError } from "./api-error.js";
import { KeyRing, readKeysFile, type ApiKeyRecord, type Rate } from "./keys.js";

/** Who made a request: the API key's id, name, permissions and rate. */
export interface Caller {
  readonly keyId: string;
  readonly name: string;
  /** Workflow names it may use; `null` = all. */
  readonly workflows: readonly string[] | null;
  readonly rate: Rate | null;
}

/** The caller when authentication is off (`--no-auth`): every workflow, the default rate. */
export const ANONYMOUS: Caller = {
  keyId: "anonymous",
  name: "anonymous",
  workflows: null,
  rate: null,
};

function callerOf(record: ApiKeyRecord): Caller {
  return { keyId: record.id, name: record.name, workflows: record.workflows, rate: record.rate };
}

/**
 * The key presented on a request: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 * `undefined` when neither header is there.
 */
export function presentedKey(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const auth = headers["authorization"];
  if (typeof auth === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey.trim()) return apiKey.trim();
  return undefined;
}

/**
 * Authenticates requests against a keys file, reloading it when it changes on disk (polled once
 * a second, so `comfyc gateway keys add|revoke` take effect on a running gateway).
 */
export class Authenticator {
  readonly #path: string | undefined;
  #ring = new KeyRing([]);
  #watching = false;
  #reloading: Promise<void> | undefined;
  /** Called when a reload fails (the previous keys stay in force). */
  onReloadError: (error: unknown) => void = () => {};

  /** `path` undefined: authentication off, every request is {@link ANONYMOUS}. */
  constructor(path: string | undefined) {
    this.#path = path;
  }

  get enabled(): boolean {
    return this.#path !== undefined;
  }

  /** Number of active keys. */
  get size(): number {
    return this.#ring.size;
  }

  /** Reads the keys file now; throws `IO_ERROR`/`USAGE` when it is unreadable. */
  async reload(): Promise<void> {
    if (!this.#path) return;
    this.#ring = new KeyRing((await readKeysFile(this.#path)).keys);
  }

  /** Starts following changes of the keys file. */
  watch(): void {
    if (!this.#path || this.#watching) return;
    this.#watching = true;
    watchFile(this.#path, { interval: 1000, persistent: false }, () => {
      this.#reloading = this.reload().catch((e: unknown) => this.onReloadError(e));
    });
  }

  async close(): Promise<void> {
    if (this.#path && this.#watching) unwatchFile(this.#path);
    this.#watching = false;
    await this.#reloading;
  }

  /** The caller of a request; throws 401 when the key is missing, unknown or revoked. */
  authenticate(headers: Record<string, string | string[] | undefined>): Caller {
    if (!this.#path) return ANONYMOUS;
    const key = presentedKey(headers);
    if (key === undefined) {
      throw new ApiError(
        401,
        "unauthorized",
        "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        undefined,
        { "www-authenticate": 'Bearer realm="comfyc"' },
      );
    }
    const record = this.#ring.find(key);
    if (!record) {
      throw new ApiError(
        401,
        "unauthorized",
        "This API key is not valid (unknown or revoked).",
        undefined,
        {
          "www-authenticate": 'Bearer realm="comfyc", error="invalid_token"',
        },
      );
    }
    return callerOf(record);
  }
}

/** Throws 403 when `caller` may not use `workflow`. */
export function authorizeWorkflow(caller: Caller, workflow: string): void {
  if (caller.workflows !== null && !caller.workflows.includes(workflow)) {
    throw new ApiError(
      403,
      "forbidden",
      `The API key ${JSON.stringify(caller.name)} may not use the workflow ${JSON.stringify(workflow)}.`,
      { workflow },
    );
  }
}
