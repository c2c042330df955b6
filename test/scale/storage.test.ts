import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import S3rver from "@20minutes/s3rver";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalStorage } from "../../src/scale/local-storage.js";
import { S3Storage } from "../../src/scale/s3-storage.js";
import { openStorage, outputKey, safeSegment, type Storage } from "../../src/scale/storage.js";
import { S3RVER_CREDENTIALS, startS3rver } from "./helpers.js";
import { tempDir } from "../helpers.js";
import { errorOf } from "./helpers.js";

/** A deterministic byte stream of `size` bytes, produced chunk by chunk (never whole in memory). */
function bytes(size: number, seed = 1): Readable {
  let sent = 0;
  let x = seed;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(256 * 1024, size - sent);
      const chunk = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        chunk[i] = x >>> 24;
      }
      sent += n;
      this.push(chunk);
    },
  });
}

async function sha(stream: Readable): Promise<{ hash: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { hash: h.digest("hex"), size };
}

describe("storage keys", () => {
  const cases: [string, string, string, string][] = [
    ["plain", "3", "ComfyUI_00001_.png", "job/3/ComfyUI_00001_.png"],
    ["path in the name", "9", "../../etc/passwd", "job/9/passwd"],
    ["backslashes", "9", "..\\..\\x.png", "job/9/x.png"],
    ["hidden file", "9", ".bashrc", "job/9/bashrc"],
    ["spaces and unicode", "12", "my image é.png", "job/12/my_image__.png"],
    ["empty", "1", "", "job/1/file"],
  ];
  test.each(cases)("%s", (_, node, file, want) => expect(outputKey("job", node, file)).toBe(want));

  test("safeSegment keeps at most 200 characters", () => {
    expect(safeSegment("a".repeat(500) + ".png")).toHaveLength(200);
  });

  test("a key with .. is refused with UNSAFE_PATH", async () => {
    const storage = new LocalStorage(tempDir());
    expect((await errorOf(storage.put("a/../b", Buffer.from("x")))).code).toBe("UNSAFE_PATH");
    expect((await errorOf(storage.get("/etc/passwd"))).code).toBe("UNSAFE_PATH");
  });
});

describe("local storage errors", () => {
  test("a storage root that is a file: put, get and delete are IO_ERROR naming the key and the folder", async () => {
    const dir = tempDir();
    const root = join(dir, "not-a-folder");
    writeFileSync(root, "x");
    const storage = new LocalStorage(root);
    const put = await errorOf(storage.put("job-3/1/a.png", Buffer.from("png")));
    expect(put.code).toBe("IO_ERROR");
    expect(put.message).toContain(`Cannot write job-3/1/a.png to ${storage.location}`);
    const get = await errorOf(storage.get("job-3/1/a.png"));
    expect(get.code).toBe("IO_ERROR");
    expect(get.message).toContain("Cannot read job-3/1/a.png");
    const del = await errorOf(storage.delete("job-3/1/a.png"));
    expect(del.code).toBe("IO_ERROR");
  });
});

function contract(name: string, make: () => Storage) {
  describe(name, () => {
    test("streams a 20 MB object in and out unchanged", async () => {
      const storage = make();
      const size = 20 * 1024 * 1024 + 17;
      const want = await sha(bytes(size, 7));
      const stored = await storage.put("job-1/9/big.bin", bytes(size, 7), {
        contentType: "application/octet-stream",
      });
      expect(stored.size).toBe(size);
      expect(await sha(await storage.get("job-1/9/big.bin"))).toEqual(want);
      expect((await storage.stat("job-1/9/big.bin"))?.size).toBe(size);
    });

    test("replaces, deletes, and reports a missing key as NOT_FOUND", async () => {
      const storage = make();
      await storage.put("job-2/1/a.txt", Buffer.from("one"));
      await storage.put("job-2/1/a.txt", Buffer.from("two"));
      expect((await sha(await storage.get("job-2/1/a.txt"))).size).toBe(3);
      await storage.delete("job-2/1/a.txt");
      await storage.delete("job-2/1/a.txt");
      expect(await storage.stat("job-2/1/a.txt")).toBeUndefined();
      expect((await errorOf(storage.get("job-2/1/a.txt"))).code).toBe("NOT_FOUND");
    });
  });
}

contract("local storage", () => new LocalStorage(tempDir()));

describe("S3 storage against a local S3-compatible server (s3rver)", () => {
  let server: S3rver;
  let endpoint: string;
  const credentials = S3RVER_CREDENTIALS;
  beforeAll(async () => {
    ({ server, endpoint } = await startS3rver("outputs"));
  });
  afterAll(async () => server?.close());

  const make = () =>
    new S3Storage({
      bucket: "outputs",
      prefix: "comfyc",
      endpoint,
      forcePathStyle: true,
      credentials,
      partSize: 5 * 1024 * 1024,
    });
  contract("S3Storage", make);

  test("a presigned URL downloads the object; a tampered one is refused", async () => {
    const storage = make();
    await storage.put("job-3/9/out.png", Buffer.from("png bytes"), { contentType: "image/png" });
    const url = await storage.url("job-3/9/out.png", { expiresInSeconds: 60 });
    expect(url).toContain("X-Amz-Signature=");
    expect(url).toContain("X-Amz-Expires=60");
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("png bytes");
    const tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61");
    expect((await fetch(tampered)).status).toBe(403);
  });

  test("openStorage reads an s3:// URL", async () => {
    process.env["AWS_ACCESS_KEY_ID"] = "S3RVER";
    process.env["AWS_SECRET_ACCESS_KEY"] = "S3RVER";
    const storage = await openStorage(
      `s3://outputs/p1?endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true&expires=120`,
    );
    expect(storage.location).toBe("s3://outputs/p1");
    await storage.put("job-4/1/x.txt", Buffer.from("hello"));
    expect(await storage.url("job-4/1/x.txt")).toContain("X-Amz-Expires=120");
    await storage.close?.();
  });
});

describe("openStorage", () => {
  test("a path or file:// URL is a local folder", async () => {
    const dir = tempDir();
    const storage = await openStorage(dir);
    await storage.put("j/1/a.txt", Buffer.from("hi"));
    expect(await readFile(fileURLToPath(await storage.url("j/1/a.txt")), "utf8")).toBe("hi");
    expect((await openStorage(`file://${dir}`)).location).toBe(storage.location);
  });
  test.each(["ftp://x/y", "s3://", "s3://b?expires=abc"])("%s is a USAGE error", async (url) => {
    expect((await errorOf(openStorage(url))).code).toBe("USAGE");
  });
});
