import busboy from "busboy";
import { readFileSync } from "node:fs";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { localFile, workflow } from "comfyc";
import { PNG } from "pngjs";
import {
  CancelledError,
  CancelUndeliveredError,
  ComfyClient,
  ExecutionFailedError,
  JobLostError,
  JobTimeoutError,
  PromptRejectedError,
  ServerGoneError,
  type JobEvent,
} from "comfyc/runtime";
import { startTestServer, type TestServer } from "comfyc/testing";
import {
  EmptyImage,
  ImageInvert,
  ImageScale,
  LoadImage,
  PreviewAny,
  SaveImage,
} from "../../generated/core.js";
import {
  v2ComponentValidator,
  v2RequestProblems,
  v2ResponseProblems,
  v2SseEventComponent,
} from "../comfy-api-v2-openapi.js";
import { cli } from "../helpers-cli.js";
import { tempDir } from "../helpers.js";
import { samplerPrompt } from "../sampler-prompt.js";
import { writeFileSync } from "node:fs";

/**
 * The Comfy API v2 transport (`new ComfyClient({ api: "v2" })`) against the test server's v2
 * routes, through a recording proxy: every request and response the client exchanges (SSE
 * events included) is checked against the OpenAPI document with openapi-backend and Ajv.
 */

interface Exchange {
  method: string;
  path: string;
  query: string;
  requestHeaders: IncomingHttpHeaders;
  requestBody: Buffer;
  status: number;
  responseHeaders: IncomingHttpHeaders;
  responseBody: Buffer;
}

/** What the proxy answers itself instead of forwarding (a fault a real deployment shows). */
type Inject = (
  method: string,
  path: string,
) => { status: number; headers: Record<string, string>; body: unknown } | undefined;

/** A recording HTTP proxy in front of the test server (the client's only way to it). */
async function recordingProxy(target: string): Promise<{
  url: string;
  exchanges: Exchange[];
  inject: { fn: Inject | undefined };
  close(): Promise<void>;
}> {
  const exchanges: Exchange[] = [];
  const inject: { fn: Inject | undefined } = { fn: undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const record: Exchange = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.search.slice(1),
        requestHeaders: req.headers,
        requestBody: Buffer.concat(chunks),
        status: 0,
        responseHeaders: {},
        responseBody: Buffer.alloc(0),
      };
      exchanges.push(record);
      const injected = inject.fn?.(record.method, record.path);
      if (injected) {
        const text = JSON.stringify(injected.body);
        record.status = injected.status;
        record.responseHeaders = {
          ...Object.fromEntries(
            Object.entries(injected.headers).map(([k, v]) => [k.toLowerCase(), v]),
          ),
          "content-type": "application/json",
        };
        record.responseBody = Buffer.from(text);
        res.writeHead(injected.status, { ...injected.headers, "content-type": "application/json" });
        res.end(text);
        return;
      }
      const upstream = request(
        new URL(req.url ?? "/", target),
        { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
        (up) => {
          record.status = up.statusCode ?? 0;
          record.responseHeaders = up.headers;
          res.writeHead(up.statusCode ?? 502, up.headers);
          const body: Buffer[] = [];
          up.on("data", (c: Buffer) => {
            body.push(c);
            res.write(c);
          });
          up.on("end", () => {
            record.responseBody = Buffer.concat(body);
            res.end();
          });
          res.on("close", () => up.destroy());
        },
      );
      upstream.on("error", () => res.destroy());
      upstream.end(record.requestBody);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    inject,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const OPERATIONS: readonly [string, RegExp][] = [
  ["postJobs", /^POST \/api\/v2\/jobs$/],
  ["getJob", /^GET \/api\/v2\/jobs\/[^/]+$/],
  ["getJobEvents", /^GET \/api\/v2\/jobs\/[^/]+\/events$/],
  ["cancelJob", /^POST \/api\/v2\/jobs\/[^/]+\/cancel$/],
  ["getJobWorkflow", /^GET \/api\/v2\/jobs\/[^/]+\/workflow$/],
  ["getAssetContent", /^GET \/api\/v2\/assets\/[^/]+\/content$/],
  ["getAsset", /^GET \/api\/v2\/assets\/[^/]+$/],
  ["postAssets", /^POST \/api\/v2\/assets$/],
];

/**
 * A multipart body as the document's schema sees it: each field's text (a repeated field as a
 * list when the schema says array: `tags`), each file part as a string placeholder (binary).
 */
function formFields(type: string, bytes: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, unknown> = {};
    const form = busboy({ headers: { "content-type": type } });
    form.on("file", (name, stream) => {
      stream.resume();
      fields[name] = "<binary>";
    });
    form.on("field", (name, value) => {
      if (name !== "tags") fields[name] = value;
      else fields[name] = [...((fields[name] as string[] | undefined) ?? []), value];
    });
    form.on("close", () => resolve(fields));
    form.on("error", reject);
    form.end(bytes);
  });
}

/** Every problem of the recorded exchanges against the document; [] when all conform. */
async function contractProblems(exchanges: readonly Exchange[]): Promise<string[]> {
  const problems: string[] = [];
  for (const x of exchanges) {
    const line = `${x.method} ${x.path}`;
    const op = OPERATIONS.find(([, re]) => re.test(line))?.[0];
    if (!op) {
      problems.push(`${line}: not a v2 operation (the v2 transport must use only v2 routes)`);
      continue;
    }
    const requestType = x.requestHeaders["content-type"] ?? "";
    const requestBody = requestType.includes("application/json")
      ? JSON.parse(x.requestBody.toString("utf8"))
      : requestType.startsWith("multipart/form-data")
        ? await formFields(requestType, x.requestBody)
        : undefined;
    problems.push(
      ...(await v2RequestProblems({
        method: x.method,
        path: x.path,
        headers: x.requestHeaders as Record<string, string>,
        query: x.query,
        ...(requestBody !== undefined ? { body: requestBody } : {}),
      })),
    );
    // A request the client aborted (a poll in flight when its job ended) has no answer.
    if (x.status === 0) continue;
    const type = String(x.responseHeaders["content-type"] ?? "");
    if (type.startsWith("text/event-stream")) {
      problems.push(...(await v2ResponseProblems(op, x.status, undefined, x.responseHeaders)));
      for (const block of x.responseBody.toString("utf8").split("\n\n")) {
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || data === undefined) continue;
        const component = v2SseEventComponent(event);
        if (!component) {
          problems.push(`SSE event ${event} is not in the document`);
          continue;
        }
        const validate = v2ComponentValidator(component);
        if (!validate(JSON.parse(data)))
          problems.push(`SSE ${event}: ${JSON.stringify(validate.errors?.slice(0, 2))}`);
      }
      continue;
    }
    const body = type.includes("application/json")
      ? JSON.parse(x.responseBody.toString("utf8"))
      : undefined;
    problems.push(...(await v2ResponseProblems(op, x.status, body, x.responseHeaders)));
  }
  return problems;
}

function graph(w: number, withText = false) {
  const wf = workflow();
  const image = wf.add(EmptyImage, { width: w, height: 8, batch_size: 1 });
  wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: "v2/img" });
  if (withText) wf.add(PreviewAny, { source: image });
  return wf.compileWithReport();
}

/**
 * EmptyImage → `inverts` ImageInvert nodes (ids "10", "11", …) → SaveImage: a job whose
 * progress changes once per node. The test server (like ComfyUI) interrupts between nodes.
 */
function chainGraph(w: number, inverts: number) {
  const wf = workflow();
  let image = wf.add(EmptyImage, { width: w, height: 4, batch_size: 1 }, { id: "1" }).IMAGE;
  for (let i = 0; i < inverts; i++)
    image = wf.add(ImageInvert, { image }, { id: String(10 + i) }).IMAGE;
  wf.add(SaveImage, { images: image, filename_prefix: "v2/chain" }, { id: "2" });
  return wf.compileWithReport();
}

/** The v2 job as the test server reports it (`GET /api/v2/jobs/{id}`). */
async function v2Status(url: string, id: string): Promise<string> {
  const res = await fetch(`${url}/api/v2/jobs/${id}`);
  return ((await res.json()) as { status: string }).status;
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("Comfy API v2 transport against the test server", () => {
  let server: TestServer;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  const FAST = {
    pollIntervalMs: 50,
    silenceMs: 200,
    retry: { retries: 3, minDelayMs: 10, maxDelayMs: 50 },
  };

  beforeAll(async () => {
    server = await startTestServer();
    proxy = await recordingProxy(server.url);
  });
  afterAll(async () => {
    await proxy.close();
    await server.close();
  });

  test("a job runs to completion: events, outputs as assets, saved files, texts; every exchange fits the document", async () => {
    proxy.exchanges.length = 0;
    const client = new ComfyClient({
      url: proxy.url,
      api: "v2",
      auth: { bearer: "t0ken" },
      ...FAST,
    });
    try {
      const job = client.submit(graph(24, true));
      const events: JobEvent["type"][] = [];
      job.on("event", (e) => events.push(e.type));
      const result = await job.result();
      expect(job.status).toBe("succeeded");
      expect(result.promptId).toBe(job.promptId);
      expect(events[0]).toBe("queued");
      expect(events.at(-1)).toBe("success");
      // The image output is a v2 asset; saving downloads it from its content URL.
      const images = result.files.filter((f) => f.kind === "image");
      expect(images).toHaveLength(1);
      const dir = tempDir();
      const [path] = await client.saveOutputs(result, dir);
      expect(readFileSync(path!)).toEqual(
        readFileSync(
          join(server.folders.dir("output"), "v2", images[0]!.filename.split("/").pop()!),
        ),
      );
      // PreviewAny's text comes back as text, read from its text asset.
      const textNode = Object.keys(result.texts)[0]!;
      expect(result.texts[textNode]![0]).toMatch(/^\[?tensor|^[\s\S]*\d/);
      // Bearer auth reached the server on every request.
      expect(
        proxy.exchanges.every((x) => x.requestHeaders["authorization"] === "Bearer t0ken"),
      ).toBe(true);
      expect(proxy.exchanges.some((x) => x.path.endsWith("/events"))).toBe(true);
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test("local files go up once as v2 assets and reach the node as core/ASSET references", async () => {
    proxy.exchanges.length = 0;
    const dir = tempDir();
    const png = new PNG({ width: 5, height: 3 });
    for (let i = 0; i < png.data.length; i += 4) png.data.set([30, 60, 90, 255], i);
    const path = join(dir, "photo.png");
    writeFileSync(path, PNG.sync.write(png));
    const graph = (w: number) => {
      const wf = workflow();
      const loaded = wf.add(LoadImage, { image: localFile(path) });
      const scaled = wf.add(ImageScale, {
        image: loaded.IMAGE,
        upscale_method: "nearest-exact",
        width: w,
        height: 3,
        crop: "disabled",
      });
      wf.add(SaveImage, { images: scaled, filename_prefix: "v2/up" });
      return wf;
    };
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const first = await client.run(graph(5));
      const saved = PNG.sync.read(await client.read(first.files[0]!));
      expect([saved.width, saved.height, ...saved.data.subarray(0, 3)]).toEqual([5, 3, 30, 60, 90]);
      await client.run(graph(10));
      const uploads = proxy.exchanges.filter(
        (x) => x.method === "POST" && x.path === "/api/v2/assets",
      );
      expect(uploads).toHaveLength(1);
      const asset = JSON.parse(uploads[0]!.responseBody.toString("utf8")) as { id: string };
      expect(uploads[0]!.requestHeaders["idempotency-key"]).toMatch(/^comfyc-asset-/);
      for (const submit of proxy.exchanges.filter((x) => x.path === "/api/v2/jobs")) {
        const sent = JSON.parse(submit.requestBody.toString("utf8")) as {
          workflow: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
        };
        const load = Object.values(sent.workflow).find((n) => n.class_type === "LoadImage")!;
        expect(load.inputs["image"]).toEqual({
          __type: "core/ASSET",
          info: expect.objectContaining({
            id: asset.id,
            file_path: expect.stringMatching(/^comfyc-[0-9a-f]{24}\.png$/),
          }),
        });
      }
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test("422 invalid_workflow becomes PromptRejectedError with ComfyUI's node_errors", async () => {
    proxy.exchanges.length = 0;
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const bad = {
        "1": { class_type: "EmptyImage", inputs: { width: 0, height: 8, batch_size: 1, color: 0 } },
        "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "x" } },
      };
      const e = await errorOf(client.submit(bad).result());
      expect(e).toBeInstanceOf(PromptRejectedError);
      const r = e as PromptRejectedError;
      expect(r.nodeErrors["1"]?.errors[0]?.type).toBe("value_smaller_than_min");
      expect(r.message).toContain("Value 0 smaller than min of 1");
      expect(proxy.exchanges.map((x) => x.status)).toEqual([422]);
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test("a node that raises fails the job with ExecutionFailedError naming the node", async () => {
    server.script.node("ImageInvert", { fail: { message: "boom" } });
    proxy.exchanges.length = 0;
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const e = await errorOf(client.submit(graph(25)).result());
      expect(e).toBeInstanceOf(ExecutionFailedError);
      expect((e as ExecutionFailedError).nodeType).toBe("ImageInvert");
      expect((e as Error).message).toContain("boom");
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      server.script.clearNodes();
      await client.close();
    }
  });

  test("cancel: a running job is interrupted, a queued one is dequeued", async () => {
    server.script.node("ImageInvert", { durationMs: 3_000 });
    proxy.exchanges.length = 0;
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const running = client.submit(graph(26));
      const queued = client.submit(graph(27));
      await new Promise<void>((r) => running.on("started", () => r()));
      await new Promise<void>((r) =>
        queued.status === "queued" ? r() : queued.on("queued", () => r()),
      );
      expect(await queued.cancel()).toEqual({ state: "dequeued" });
      expect(await running.cancel()).toEqual({ state: "interrupted" });
      expect(await errorOf(running.result())).toBeInstanceOf(CancelledError);
      expect(await errorOf(queued.result())).toBeInstanceOf(CancelledError);
      expect(running.status).toBe("cancelled");
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      server.script.clearNodes();
      await client.close();
    }
  });

  test("cancel on a frozen server: undelivered (TIMEOUT) within the budget while it stays frozen; the job ends CANCEL_UNDELIVERED, not cancelled", async () => {
    // A server of its own: its 60 s node outlives the test (interrupts land between nodes).
    const own = await startTestServer({ port: 0 });
    own.script.node("ImageInvert", { durationMs: 60_000 });
    const client = new ComfyClient({ url: own.url, api: "v2", ...FAST, cancelTimeoutMs: 300 });
    try {
      const running = client.submit(graph(28));
      await new Promise<void>((r) => running.on("started", () => r()));
      own.script.freeze();
      const outcome = await running.cancel();
      expect(outcome.state === "undelivered" && outcome.error).toMatchObject({ code: "TIMEOUT" });
      const error = await errorOf(running.result());
      expect(error).toBeInstanceOf(CancelUndeliveredError);
      expect(error).toMatchObject({ code: "CANCEL_UNDELIVERED", promptId: running.promptId });
      expect(running.status).toBe("failed");
    } finally {
      own.script.thaw();
      await client.close();
      await own.close();
    }
  });

  test("a server frozen mid-job: SERVER_GONE once unreachableTimeoutMs has passed, not after the poll's own 10 s timeout", async () => {
    const own = await startTestServer({ port: 0 });
    own.script.node("ImageInvert", { durationMs: 60_000 });
    const client = new ComfyClient({ url: own.url, api: "v2", ...FAST, unreachableTimeoutMs: 300 });
    try {
      const job = client.submit(graph(29));
      await new Promise<void>((r) => job.on("started", () => r()));
      own.script.freeze();
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(ServerGoneError);
      // The poll that met the frozen server gave up with the watchdog's budget, on our clock:
      // before, it held the watchdog for its own timeout (here about 6 s, 20 times the limit).
      // The margin is wide on purpose: under load the ticks around it stretch.
      expect((error as ServerGoneError).silentMs).toBeLessThan(4000);
      expect(job.status).toBe("failed");
    } finally {
      own.script.thaw();
      await client.close();
      await own.close();
    }
  });

  test("attach: a second client follows a running v2 job to the same outputs", async () => {
    server.script.node("ImageInvert", { durationMs: 100 });
    proxy.exchanges.length = 0;
    const owner = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    const follower = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const job = owner.submit(chainGraph(40, 6));
      await new Promise<void>((r) => job.on("started", () => r()));
      expect(job.status).toBe("running");
      const attached = follower.attach(job.promptId);
      expect(attached.promptId).toBe(job.promptId);
      const events: JobEvent["type"][] = [];
      attached.on("event", (e) => events.push(e.type));
      const [mine, theirs] = await Promise.all([job.result(), attached.result()]);
      expect(attached.status).toBe("succeeded");
      expect(events.at(-1)).toBe("success");
      expect(theirs.promptId).toBe(mine.promptId);
      expect(theirs.files.map((f) => f.filename)).toEqual(["chain_00001_.png"]);
      expect(theirs.files.map((f) => f.filename)).toEqual(mine.files.map((f) => f.filename));
      expect(await follower.read(theirs.files[0]!)).toEqual(await owner.read(mine.files[0]!));
      // It ran once: attaching submits nothing.
      expect(proxy.exchanges.filter((x) => x.method === "POST")).toHaveLength(1);
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      server.script.clearNodes();
      await owner.close();
      await follower.close();
    }
  });

  test("attach to an id the server does not know: JobLostError, whose hint does not offer resubmitOnLoss", async () => {
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const job = client.attach("00000000-0000-4000-8000-000000000000");
      await expect(job.result()).rejects.toMatchObject({ code: "JOB_LOST" });
      expect(job.status).toBe("lost");
      expect((job.error as JobLostError).hint).not.toContain("resubmitOnLoss");
    } finally {
      await client.close();
    }
  });

  test("options v2 has no equivalent for are a USAGE error naming them, nothing posted: resubmitOnLoss too", async () => {
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      proxy.exchanges.length = 0;
      for (const [options, name] of [
        [{ front: true }, "front"],
        [{ fresh: true }, "fresh"],
        [{ resubmitOnLoss: true }, "resubmitOnLoss"],
      ] as const) {
        const job = client.submit(graph(31), options);
        await expect(job.result()).rejects.toMatchObject({ code: "USAGE" });
        expect(job.error?.message).toContain(`Comfy API v2 has no ${name}`);
      }
      expect(proxy.exchanges.filter((x) => x.method === "POST")).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test("a run timeout fails the job on our clock and cancels it on the server", async () => {
    // 60 s of nodes; a chain stays within the ~980 links ComfyUI can validate.
    server.script.node("ImageInvert", { durationMs: 100 });
    proxy.exchanges.length = 0;
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const job = client.submit(chainGraph(41, 600), { timeouts: { runMs: 300 } });
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(JobTimeoutError);
      expect(error).toMatchObject({ code: "TIMEOUT", phase: "run", ms: 300 });
      expect(job.status).toBe("failed");
      expect(await job.cancelOutcome).toEqual({ state: "interrupted" });
      // On the server: interrupted between two nodes, long before the chain's end.
      await server.finished(job.promptId);
      expect(await v2Status(server.url, job.promptId)).toBe("canceled");
      const cancels = proxy.exchanges.filter((x) => x.path.endsWith("/cancel"));
      expect(cancels.map((x) => [x.method, x.status])).toEqual([["POST", 200]]);
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      server.script.clearNodes();
      await client.close();
    }
  });

  test("the stall watchdog: a node that reports nothing for stallMs fails the job and cancels it; repeated snapshots are not progress", async () => {
    // Five quick nodes (each one progress), then node "15" holds the job far longer than
    // stallMs while polls and the stream keep returning the same snapshot.
    server.script.node("ImageInvert", { durationMs: 20 });
    server.script.node("15", { durationMs: 4000 });
    proxy.exchanges.length = 0;
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST, silenceMs: 50 });
    try {
      const job = client.submit(chainGraph(42, 10), { timeouts: { stallMs: 1000 } });
      const nodes: string[] = [];
      job.on("executing", (e) => nodes.push(e.node));
      const progress: string[] = [];
      job.on("progress", (e) => progress.push(`${e.node} ${e.value}/${e.max}`));
      const error = await errorOf(job.result());
      expect(error).toBeInstanceOf(JobTimeoutError);
      expect(error).toMatchObject({ code: "TIMEOUT", phase: "stall", ms: 1000 });
      // One progress event per change: the snapshot repeated during the stall gave none, and
      // each node of the chain counts as done once the next one starts.
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.filter((p, i) => i > 0 && p === progress[i - 1])).toEqual([]);
      expect(progress.at(-1)).toBe("15 6/12"); // "1" and "10" to "14" done
      expect(job.currentNode).toBe("15");
      // Nodes before it did report (each restarted the timer); it was the last one seen.
      expect(nodes.at(-1)).toBe("15");
      expect(nodes.length).toBeGreaterThan(1);
      expect(await job.cancelOutcome).toEqual({ state: "interrupted" });
      // The same snapshot was read again and again during the stall (polls every 50 ms).
      const polls = proxy.exchanges.filter(
        (x) => x.method === "GET" && x.path === `/api/v2/jobs/${job.promptId}`,
      );
      expect(polls.length).toBeGreaterThan(1);
      await server.finished(job.promptId);
      expect(await v2Status(server.url, job.promptId)).toBe("canceled");
      // Stopped after node 15: the rest of the chain never ran.
      const entry = await (await fetch(`${server.url}/history/${job.promptId}`)).json();
      const messages = (entry as Record<string, { status: { messages: [string, unknown][] } }>)[
        job.promptId
      ]!.status.messages;
      expect(messages.map(([type]) => type)).toContain("execution_interrupted");
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      server.script.clearNodes();
      await client.close();
    }
  });

  test("SSE preview events become the job's preview events; a stream opened later gets the latest preview on connect", async () => {
    const previews = await startTestServer({ previews: true });
    const front = await recordingProxy(previews.url);
    // Four sampler steps of 400 ms: a preview after each (the stream throttles them).
    previews.script.node("KSampler", { durationMs: 1600 });
    const owner = new ComfyClient({ url: front.url, api: "v2", ...FAST });
    const follower = new ComfyClient({ url: front.url, api: "v2", ...FAST });
    try {
      const job = owner.submit(
        samplerPrompt(4, (images) => ({ class_type: "PreviewImage", inputs: { images } })),
      );
      const first = new Promise<Extract<JobEvent, { type: "preview" }>>((r) =>
        job.on("preview", r),
      );
      const seen = await first;
      expect(seen.node).toBe("4");
      expect(seen.mime).toBe("image/png");
      const png = PNG.sync.read(Buffer.from(seen.image));
      expect([png.width, png.height]).toEqual([64, 64]);
      // The follower's stream opens after that preview: it is pushed on connect.
      const attached = follower.attach(job.promptId);
      const late = await new Promise<Extract<JobEvent, { type: "preview" }>>((r) =>
        attached.on("preview", r),
      );
      expect(late.node).toBe("4");
      await Promise.all([job.result(), attached.result()]);
      const sse = front.exchanges.filter((x) => x.path.endsWith("/events"));
      // The follower's stream began with the snapshot: status, progress, then the preview.
      const names = (x: (typeof sse)[number]) =>
        [...x.responseBody.toString("utf8").matchAll(/^event: (.*)$/gm)].map((m) => m[1]);
      expect(
        sse.slice(1).some((x) => names(x).slice(0, 3).join() === "status,progress,preview"),
      ).toBe(true);
      expect(await contractProblems(front.exchanges)).toEqual([]);
    } finally {
      await owner.close();
      await follower.close();
      await front.close();
      await previews.close();
    }
  });

  test("without an event stream (501) the job is followed by polling; a 429 is retried after its Retry-After", async () => {
    proxy.exchanges.length = 0;
    let limited = 0;
    proxy.inject.fn = (method, path): ReturnType<Inject> => {
      if (path.endsWith("/events"))
        return {
          status: 501,
          headers: {},
          body: { error: { code: "not_implemented", message: "No event streams here." } },
        };
      if (method === "POST" && path === "/api/v2/jobs" && limited++ === 0)
        return {
          status: 429,
          headers: { "Retry-After": "1" },
          body: { error: { code: "queue_full", message: "The queue is full." } },
        };
      return undefined;
    };
    const client = new ComfyClient({ url: proxy.url, api: "v2", ...FAST });
    try {
      const job = client.submit(graph(28));
      const result = await job.result();
      expect(result.files).toHaveLength(1);
      const posts = proxy.exchanges.filter((x) => x.method === "POST");
      expect(posts.map((x) => x.status)).toEqual([429, 201]);
      // The same submission: the same Idempotency-Key (a 429 releases it).
      expect(posts[0]!.requestHeaders["idempotency-key"]).toBe(
        posts[1]!.requestHeaders["idempotency-key"],
      );
      expect(proxy.exchanges.filter((x) => x.path.endsWith("/events")).length).toBe(1);
      expect(
        proxy.exchanges.filter((x) => x.method === "GET" && !x.path.endsWith("/events")).length,
      ).toBeGreaterThan(0);
      expect(await contractProblems(proxy.exchanges)).toEqual([]);
    } finally {
      proxy.inject.fn = undefined;
      await client.close();
    }
  });

  test("the server side: a reused Idempotency-Key, the UI format and reserved fields are 422s with their codes", async () => {
    const wf = graph(29).prompt;
    const post = (body: unknown, key?: string) =>
      fetch(`${server.url}/api/v2/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { error?: { code: string } },
      }));
    expect((await post({ workflow: wf }, "key-1")).status).toBe(201);
    expect((await post({ workflow: wf }, "key-1")).body.error?.code).toBe("idempotency_key_reuse");
    expect((await post({ workflow: { nodes: [], links: [] } })).body.error?.code).toBe(
      "workflow_format_ui",
    );
    expect((await post({ workflow: wf, webhook_url: "http://x" })).body.error?.code).toBe(
      "invalid_workflow",
    );
    const missing = await post({
      workflow: {
        "1": {
          class_type: "LoadImage",
          inputs: {
            image: { __type: "core/ASSET", info: { id: "00000000-0000-4000-8000-000000000000" } },
          },
        },
        "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
      },
    });
    expect(missing.body.error?.code).toBe("missing_asset");
    expect((await fetch(`${server.url}/v2/jobs/x`)).status).toBe(404);
  });

  test("comfyc run --api v2 --token submits through Comfy API v2 with a bearer token and saves the outputs", async () => {
    const guarded = await startTestServer({ auth: { bearer: "tok" } });
    try {
      const file = join(tempDir(), "prompt.json");
      writeFileSync(file, JSON.stringify(graph(30).prompt));
      const out = tempDir();
      const run = await cli(
        "run",
        file,
        "--server",
        guarded.url,
        "--api",
        "v2",
        "--token",
        "tok",
        "--out",
        out,
      );
      expect(run.stderr).toMatch(/Done: [0-9a-f-]{36}/);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(join(out, "img_00001_.png"));
      expect(readFileSync(run.stdout.trim())).toEqual(
        readFileSync(join(guarded.folders.dir("output"), "v2", "img_00001_.png")),
      );
      // Only v2 job routes and asset downloads: no /prompt, no WebSocket, no /history.
      expect(guarded.requests.filter((r) => !r.includes("/api/v2/"))).toEqual([]);
      const denied = await cli("run", file, "--server", guarded.url, "--api", "v2", "--out", out);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/401/);
      const bad = await cli("run", file, "--server", guarded.url, "--api", "banana");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--api banana: not a job API");
    } finally {
      await guarded.close();
    }
  });
});

describe("Comfy API v2 links the server gives", () => {
  test("a job whose urls name another origin: the client's token never goes there, and the job is followed on its own server", async () => {
    const server = await startTestServer({ port: 0 });
    // Where a hostile or misconfigured server points the job's links: it records what it gets.
    const elsewhere: string[] = [];
    const foreign = createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url} ${req.headers.authorization ?? "(no credentials)"}`);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => foreign.listen(0, "127.0.0.1", r));
    const foreignUrl = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
    // Forwards to the test server, pointing every JSON reply's `urls` at the foreign origin.
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const upstream = request(
          new URL(req.url ?? "/", server.url),
          { method: req.method, headers: req.headers },
          (up) => {
            if (!String(up.headers["content-type"]).includes("json")) {
              res.writeHead(up.statusCode ?? 502, up.headers);
              up.pipe(res);
              return;
            }
            const body: Buffer[] = [];
            up.on("data", (c: Buffer) => body.push(c));
            up.on("end", () => {
              const reply = JSON.parse(Buffer.concat(body).toString()) as {
                urls?: Record<string, string>;
              };
              for (const [k, v] of Object.entries(reply.urls ?? {}))
                reply.urls![k] = new URL(new URL(v, server.url).pathname, foreignUrl).href;
              const { "content-length": _length, ...headers } = up.headers;
              res.writeHead(up.statusCode ?? 502, headers).end(JSON.stringify(reply));
            });
          },
        );
        upstream.on("error", () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const client = new ComfyClient({
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      api: "v2",
      auth: { bearer: "secret-token" },
      pollIntervalMs: 50,
      silenceMs: 200,
    });
    try {
      const result = await client.run(graph(30));
      expect(result.files.length).toBeGreaterThan(0);
      expect(elsewhere).toEqual([]);
    } finally {
      await client.close();
      proxy.closeAllConnections();
      foreign.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      await new Promise((r) => foreign.close(r));
      await server.close();
    }
  });
});
