import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { ComfycError } from "../errors.js";
import { checkKey, notFound, type Storage, type StoredObject } from "./storage.js";

/**
 * Storage in a local folder (the default): `<root>/<job id>/<node id>/<file>`. Writes stream
 * into a temporary file that is renamed into place once complete, so a reader never sees half
 * a file and a crash leaves no partial object under a real key.
 */
export class LocalStorage implements Storage {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  #path(key: string): string {
    return join(this.root, ...checkKey(key).split("/"));
  }

  async put(
    key: string,
    body: Readable | Uint8Array,
    options: { readonly contentType?: string } = {},
  ): Promise<StoredObject> {
    const path = this.#path(key);
    const temp = `${path}.${randomUUID()}.part`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const source = body instanceof Readable ? body : Readable.from([body]);
      await pipeline(source, createWriteStream(temp));
      await rename(temp, path);
    } catch (cause) {
      // The temp file may not exist, or its folder may not be one: the write's error is the news.
      await rm(temp, { force: true }).catch(() => undefined);
      throw new ComfycError(
        "IO_ERROR",
        `Cannot write ${key} to ${this.location}: ${(cause as Error).message}`,
        "Check that the storage folder exists and is writable.",
        { cause },
      );
    }
    const { size } = await stat(path);
    return { key, size, ...(options.contentType ? { contentType: options.contentType } : {}) };
  }

  async get(key: string): Promise<Readable> {
    const path = this.#path(key);
    // Open first, so a missing file is a typed error here rather than a stream error later.
    const stream = createReadStream(path);
    await new Promise<void>((resolveOpen, reject) => {
      stream.once("open", () => resolveOpen());
      stream.once("error", (e) =>
        reject(
          (e as NodeJS.ErrnoException).code === "ENOENT"
            ? notFound(this.location, key)
            : new ComfycError(
                "IO_ERROR",
                `Cannot read ${key} from ${this.location}: ${e.message}`,
                "Check that the storage folder is readable by this process.",
                { cause: e },
              ),
        ),
      );
    });
    return stream;
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const s = await stat(this.#path(key));
      return s.isFile() ? { key, size: s.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async url(key: string): Promise<string> {
    return pathToFileURL(this.#path(key)).href;
  }

  async delete(key: string): Promise<void> {
    try {
      await rm(this.#path(key), { force: true });
    } catch (cause) {
      throw new ComfycError(
        "IO_ERROR",
        `Cannot delete ${key} from ${this.location}: ${(cause as Error).message}`,
        "Check that the storage folder is writable by this process.",
        { cause },
      );
    }
  }
}
