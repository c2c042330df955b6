import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "comfyc/testing";
import { byteRange } from "../../src/testing/routes/v2.js";
import { v2ResponseProblems } from "../comfy-api-v2-openapi.js";

/**
 * The test server's Comfy API v2 assets beyond upload and download, as the document
 * (`../shared/comfy-api-v2-openapi.yaml`) defines them: blake3 hashes, `expected_hash`,
 * `HEAD …/by-hash/{hash}`, `POST …/from-hash`, `DELETE …/{id}` and `Range` downloads. Every
 * answer is checked against the document.
 */

/** blake3("abc"), the BLAKE3 reference test vector. */
const ABC = "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const headersOf = (res: Response) => Object.fromEntries(res.headers.entries());

/** A request's reply, its JSON body (when it has one) and its problems against the document. */
async function call(operationId: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  const body: unknown =
    text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : undefined;
  const problems = await v2ResponseProblems(operationId, res.status, body, headersOf(res));
  return {
    status: res.status,
    body: body as Record<string, any>,
    text,
    headers: res.headers,
    problems,
  };
}

function upload(bytes: Uint8Array | string, name: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append(
    "file",
    new Blob([typeof bytes === "string" ? Buffer.from(bytes) : new Uint8Array(bytes)]),
    name,
  );
  form.append("content_type", "application/octet-stream");
  form.append("file_path", name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return call("postAssets", "/api/v2/assets", { method: "POST", body: form });
}

const fromHash = (body: unknown) =>
  call("assetFromHash", "/api/v2/assets/from-hash", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const byHash = (hash: string) =>
  call("headAssetByHash", `/api/v2/assets/by-hash/${encodeURIComponent(hash)}`, { method: "HEAD" });

const content = (id: string, range?: string) =>
  call("getAssetContent", `/api/v2/assets/${id}/content`, range ? { headers: { range } } : {});

describe("Comfy API v2 assets on the test server", () => {
  test("an upload is hashed with blake3; a wrong expected_hash is 409 hash_mismatch and mints nothing", async () => {
    const wrong = `blake3:${"0".repeat(64)}`;
    const rejected = await upload("abc", "abc-wrong.txt", { expected_hash: wrong });
    expect(rejected.status).toBe(409);
    expect(rejected.body.error.code).toBe("hash_mismatch");
    expect(rejected.problems).toEqual([]);
    expect((await byHash(ABC)).status).toBe(404);

    const stored = await upload("abc", "abc.txt", { expected_hash: ABC });
    expect(stored.status).toBe(201);
    expect(stored.body).toMatchObject({
      hash: ABC,
      size_bytes: 3,
      created_new: true,
      file_path: "abc.txt",
    });
    expect(stored.problems).toEqual([]);
    const head = await byHash(ABC);
    expect([head.status, head.text]).toEqual([200, ""]);
    expect(head.problems).toEqual([]);
    expect((await byHash(wrong)).status).toBe(404);
  });

  test("from-hash mints new records over a known blob; the same placement again is 200 as it is; an unknown hash is 404 blob_not_found", async () => {
    const bytes = Buffer.from("from-hash bytes ✓");
    const original = await upload(bytes, "fh.bin");
    const hash = original.body.hash as string;
    expect(hash).toMatch(/^blake3:[0-9a-f]{64}$/);

    const minted = await fromHash({ hash, file_path: "copies/fh-copy.bin" });
    expect(minted.status).toBe(201);
    expect(minted.problems).toEqual([]);
    expect(minted.body).toMatchObject({
      hash,
      size_bytes: bytes.length,
      file_path: "copies/fh-copy.bin",
    });
    expect(minted.body.id).not.toBe(original.body.id);
    expect(Buffer.from((await content(minted.body.id)).text)).toEqual(bytes);

    const again = await fromHash({ hash, file_path: "copies/fh-copy.bin" });
    expect([again.status, again.body.id]).toEqual([200, minted.body.id]);
    expect(again.problems).toEqual([]);

    const missing = await fromHash({ hash: `blake3:${"1".repeat(64)}` });
    expect([missing.status, missing.body.error.code]).toEqual([404, "blob_not_found"]);
    expect(missing.problems).toEqual([]);
  });

  test("DELETE removes the record, not the bytes another record has; a second DELETE is 404; a job output is 409 asset_in_use", async () => {
    const first = await upload("shared blob", "shared.bin");
    const second = await fromHash({ hash: first.body.hash, file_path: "second.bin" });
    const del = await call("deleteAsset", `/api/v2/assets/${second.body.id}`, { method: "DELETE" });
    expect([del.status, del.text]).toEqual([204, ""]);
    expect(del.problems).toEqual([]);
    const twice = await call("deleteAsset", `/api/v2/assets/${second.body.id}`, {
      method: "DELETE",
    });
    expect(twice.status).toBe(404);
    expect(twice.problems).toEqual([]);
    expect((await call("getAsset", `/api/v2/assets/${second.body.id}`)).status).toBe(404);
    // The other record's bytes are untouched, and the blob can still be found by its hash.
    expect((await content(first.body.id)).text).toBe("shared blob");
    expect((await byHash(first.body.hash)).status).toBe(200);
    // A workflow that references the deleted record is refused.
    const job = await call("postJobs", "/api/v2/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        workflow: {
          "1": {
            class_type: "LoadImage",
            inputs: { image: { __type: "core/ASSET", info: { id: second.body.id } } },
          },
          "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
        },
      }),
    });
    expect([job.status, job.body.error.code]).toEqual([422, "missing_asset"]);
    // Deleting the last record: no blob left to mint from.
    await call("deleteAsset", `/api/v2/assets/${first.body.id}`, { method: "DELETE" });
    expect((await byHash(first.body.hash)).status).toBe(404);

    // A job's outputs are held by the job.
    const ran = await call("postJobs", "/api/v2/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        workflow: {
          "1": {
            class_type: "EmptyImage",
            inputs: { width: 4, height: 4, batch_size: 1, color: 7 },
          },
          "2": {
            class_type: "SaveImage",
            inputs: { images: ["1", 0], filename_prefix: "v2/held" },
          },
        },
      }),
    });
    expect(ran.status).toBe(201);
    await server.finished(ran.body.id);
    const done = await call("getJob", `/api/v2/jobs/${ran.body.id}`);
    const output = (done.body.outputs as { id: string }[])[0]!;
    const held = await call("deleteAsset", `/api/v2/assets/${output.id}`, { method: "DELETE" });
    expect([held.status, held.body.error.code]).toEqual([409, "asset_in_use"]);
    expect(held.problems).toEqual([]);
    expect((await content(output.id)).status).toBe(200);
  });

  test("Range downloads: 206 with Content-Range, suffix and open ranges, 416 past the end, 200 without", async () => {
    const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    const { body } = await upload(bytes, "ranged.bin");
    const cases: [string | undefined, number, string | null, Buffer][] = [
      [undefined, 200, null, bytes],
      ["bytes=10-19", 206, "bytes 10-19/100", bytes.subarray(10, 20)],
      ["bytes=90-", 206, "bytes 90-99/100", bytes.subarray(90)],
      ["bytes=-5", 206, "bytes 95-99/100", bytes.subarray(95)],
      ["bytes=95-1000", 206, "bytes 95-99/100", bytes.subarray(95)],
      ["bytes=0-0", 206, "bytes 0-0/100", bytes.subarray(0, 1)],
    ];
    for (const [range, status, contentRange, want] of cases) {
      const res = await fetch(
        `${server.url}/api/v2/assets/${body.id}/content`,
        range ? { headers: { range } } : {},
      );
      const got = Buffer.from(await res.arrayBuffer());
      expect([range, res.status, res.headers.get("content-range")]).toEqual([
        range,
        status,
        contentRange,
      ]);
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      expect(got).toEqual(want);
      expect(
        await v2ResponseProblems("getAssetContent", res.status, undefined, headersOf(res)),
      ).toEqual([]);
    }
    const past = await content(body.id, "bytes=100-");
    expect([past.status, past.headers.get("content-range")]).toEqual([416, "bytes */100"]);
    expect(past.problems).toEqual([]);
  });
});

describe("byteRange: one Range header against a size (RFC 9110 §14.1.2)", () => {
  const cases: [string | undefined, number, ReturnType<typeof byteRange>][] = [
    [undefined, 10, undefined],
    ["bytes=0-4", 10, [0, 4]],
    ["bytes=5-", 10, [5, 9]],
    ["bytes=-3", 10, [7, 9]],
    ["bytes=-30", 10, [0, 9]],
    ["bytes=8-30", 10, [8, 9]],
    ["bytes=10-", 10, "unsatisfiable"],
    ["bytes=-0", 10, "unsatisfiable"],
    ["bytes=0-", 0, "unsatisfiable"],
    // Ignored (the whole content is served): bad syntax, reversed, several ranges, other units.
    ["bytes=5-2", 10, undefined],
    ["bytes=0-1,4-5", 10, undefined],
    ["items=0-1", 10, undefined],
    ["bytes=-", 10, undefined],
    ["bytes=a-b", 10, undefined],
  ];
  test.each(cases)("%s of %i bytes", (header, size, want) => {
    expect(byteRange(header, size)).toEqual(want);
  });
});
