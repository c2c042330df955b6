import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, expect, test } from "vitest";
import { addKey } from "../../src/gateway/keys.js";
import { Cluster } from "../scale/cluster.js";
import { ROOT, tempDir } from "../helpers.js";
import { OpenApiContract } from "../openapi-contract.js";
import { decodePng, encodePng, invert, toRgba } from "../../src/testing/images.js";
import { readSse } from "./helpers.js";

let cluster: Cluster | undefined;
let gateway: ChildProcess | undefined;

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway!.once("exit", resolve));
    gateway.kill("SIGTERM");
    await exited;
  }
  await cluster?.close();
});

test("comfyc gateway serves the examples folder: submit, follow, download from --storage, stop on SIGTERM", async () => {
  cluster = await Cluster.start();
  const server = await cluster.addServer();
  await cluster.addWorker(server);
  const keys = join(tempDir(), "keys.json");
  const { key } = await addKey(keys, { name: "cli" });
  gateway = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=comfyc-source",
      join(ROOT, "src/cli/bin.ts"),
      "gateway",
      "--redis",
      cluster.redis.url,
      "--workflows",
      join(ROOT, "examples"),
      "--keys",
      keys,
      "--storage",
      cluster.storageDir,
      "--allow-url-prefix",
      `${server.url}/api/`,
      "--port",
      "0",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT },
  );
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    gateway!.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^(http:\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    gateway!.once("exit", (code) => reject(new Error(`comfyc gateway exited with ${code}`)));
  });
  const auth = { authorization: `Bearer ${key}` };
  const res = await request(`${base}/v1/workflows/sd15-txt2img/jobs`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ params: { prompt: "a red fox", steps: 2, width: 64, height: 64 } }),
  });
  expect(res.statusCode).toBe(202);
  const submitted = (await res.body.json()) as { id: string };
  const { id } = submitted;
  // What the process answers matches the document it serves.
  const doc = (await (await request(`${base}/openapi.json`)).body.json()) as Record<string, any>;
  const contract = new OpenApiContract(doc);
  expect(
    await contract.responseProblems(
      contract.operationAt("post", "/v1/workflows/sd15-txt2img/jobs")!,
      202,
      submitted,
      res.headers,
    ),
  ).toEqual([]);
  const { events } = await readSse(`${base}/v1/jobs/${id}/events`, auth, (e) => e.event === "done");
  const done = events.at(-1)!.data;
  expect(done.status).toBe("succeeded");
  const polled = await request(`${base}/v1/jobs/${id}`, { headers: auth });
  expect(
    await contract.responseProblems(
      contract.operationAt("get", "/v1/jobs/{id}")!,
      polled.statusCode,
      await polled.body.json(),
      polled.headers,
    ),
  ).toEqual([]);
  const file = await request(`${base}${done.outputs[0].url}`, { headers: auth });
  expect(file.statusCode).toBe(200);
  expect(Buffer.from(await file.body.arrayBuffer()).length).toBe(done.outputs[0].size_bytes);

  // examples/invert-image.ts has an image parameter: a multipart file part, or an allowed URL
  // (here the test server's own /api/view, as in the README's demo). Each output is its input
  // inverted, so the worker's ComfyUI loaded exactly those bytes.
  const example = Buffer.from(
    await (
      await request(`${server.url}/api/view?filename=example.png&type=input`)
    ).body.arrayBuffer(),
  );
  const photo = encodePng(
    2,
    2,
    Buffer.from([9, 80, 200, 255, 0, 0, 0, 255, 255, 255, 255, 255, 1, 2, 3, 255]),
  );
  const form = new FormData();
  form.append("params", JSON.stringify({ prefix: "cli/multipart" }));
  form.append("image", new Blob([photo], { type: "image/png" }), "photo.png");
  const submissions = [
    { input: photo, init: { body: form } },
    {
      input: example,
      init: {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          params: { image: `${server.url}/api/view?filename=example.png&type=input` },
        }),
      },
    },
  ];
  for (const { input, init } of submissions) {
    const sent = await fetch(`${base}/v1/workflows/invert-image/jobs`, {
      method: "POST",
      ...init,
      headers: { ...auth, ...init.headers },
    });
    const body = (await sent.json()) as { id: string };
    expect(sent.status, JSON.stringify(body)).toBe(202);
    const record = await cluster.queue.waitFor(body.id, { timeoutMs: 60_000 });
    expect(record.state, JSON.stringify(record.error)).toBe("succeeded");
    const out = decodePng(await cluster.stored(record.outputs![0]!.key)).image;
    expect(toRgba(out.frames[0]!)).toEqual(toRgba(invert(decodePng(input).image).frames[0]!));
  }

  const exited = new Promise<number | null>((resolve) => gateway!.once("exit", resolve));
  gateway.kill("SIGTERM");
  expect(await exited).toBe(0);
}, 180_000);
