import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CancelledError, ComfyClient, type Job } from "comfyc/runtime";
import {
  blurChain,
  HAS_REAL_COMFYUI,
  startRealComfyui,
  type RealComfyui,
} from "../real-comfyui.js";
import { errorOf, started, until } from "../waits.js";

/**
 * `resubmitOnLoss` and `cancel()` across a real crash and restart of ComfyUI 0.33.0
 * (`../shared/comfyui-real`, CPU): `kill -9`, then a new process on the same port, which has
 * forgotten its queue. The client under test talks to it through a pass-through proxy that can
 * hold requests, so the cancel lands exactly where the test wants it: before the client has
 * seen the loss, or while it posts the prompt again.
 */

/**
 * An HTTP pass-through to `port` that holds the requests `hold` matches until `release()`
 * (no WebSocket: its clients follow jobs by polling). `requests` lists what arrived, as
 * `"METHOD /path?query"`.
 */
class HoldingProxy {
  readonly requests: string[] = [];
  hold: ((method: string, url: string) => boolean) | undefined;
  #held: (() => void)[] = [];
  readonly #server: Server;

  constructor(readonly port: number) {
    this.#server = createServer((req, res) => {
      const url = req.url ?? "/";
      this.requests.push(`${req.method} ${url}`);
      const forward = () => {
        const upstream = request(
          { host: "127.0.0.1", port, method: req.method, path: url, headers: req.headers },
          (reply: IncomingMessage) => {
            res.writeHead(reply.statusCode ?? 502, reply.headers);
            reply.pipe(res);
          },
        );
        upstream.on("error", () => res.destroy());
        req.pipe(upstream);
      };
      if (this.hold?.(req.method ?? "GET", url)) this.#held.push(forward);
      else forward();
    });
    // No WebSocket through here: refused at once, so the client polls instead of waiting on it.
    this.#server.on("upgrade", (_req, socket: Duplex) => socket.destroy());
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Stops holding; what was held goes on to the server, in the order it came. */
  release(): void {
    this.hold = undefined;
    for (const forward of this.#held.splice(0)) forward();
  }

  /** How many requests so far matched `pattern`. */
  count(pattern: RegExp): number {
    return this.requests.filter((r) => pattern.test(r)).length;
  }

  close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

/** The client's reads of a job: the poll's list and one job, by the jobs API or the classic routes. */
const isRead = (method: string, url: string) =>
  method === "GET" && /^\/api\/(jobs(\/[^/?]+)?|queue|history\/[^/?]+)(\?|$)/.test(url);

const POST_PROMPT = /^POST \/api\/prompt$/;

const TEST = { timeout: 300_000 };

describe.runIf(HAS_REAL_COMFYUI)(
  "a real ComfyUI 0.33.0 restarted under resubmitOnLoss",
  TEST,
  () => {
    let comfy: RealComfyui;
    let proxy: HoldingProxy;
    let proxied: string;
    /** Reads the server directly (and runs other jobs there), past the proxy. */
    let direct: ComfyClient;
    beforeAll(async () => {
      comfy = await startRealComfyui("0.33.0");
      proxy = new HoldingProxy(comfy.port);
      proxied = await proxy.listen();
      direct = new ComfyClient({ url: comfy.url, pollIntervalMs: 200 });
    }, 300_000);
    afterAll(async () => {
      await direct?.close();
      await proxy?.close();
      await comfy?.stop();
    });

    /** Whether the server has the prompt queued, running or in its history. */
    const onServer = async (promptId: string) => {
      const q = await direct.queue();
      const queued = [...q.queue_running, ...q.queue_pending].some((item) => item[1] === promptId);
      return queued || (await direct.history(promptId)) !== undefined;
    };
    const running = (job: Job) =>
      until(async () => (await direct.queue()).queue_running.some((i) => i[1] === job.promptId));

    test("a cancel before the client saw the loss: cancelled, never posted again", async () => {
      const client = new ComfyClient({ url: proxied, pollIntervalMs: 200 });
      try {
        const job = client.submit(blurChain(128, 4, "comfyc-real/resub-a"), {
          resubmitOnLoss: true,
        });
        await running(job);
        proxy.hold = isRead;
        await comfy.restart();
        const posts = proxy.count(POST_PROMPT);
        const before = proxy.requests.length;
        const outcome = job.cancel();
        // The cancel was asked before any read of the restarted server was answered (they are
        // held); wait until a request (the cancel's, or a held read) has reached the proxy.
        await until(() => proxy.requests.length > before);
        proxy.release();
        // The server did not have it: the atomic cancel found nothing, or the classic interrupt by
        // id stopped nothing (the client may not have read the release before the crash).
        expect(["finished", "interrupted"]).toContain((await outcome).state);
        expect(await errorOf(job.result())).toBeInstanceOf(CancelledError);
        expect(job.status).toBe("cancelled");
        // A later job runs to its end: a copy posted after the cancel would have been queued first.
        await direct.run(blurChain(128, 1, "comfyc-real/resub-a-later"));
        expect(proxy.count(POST_PROMPT)).toBe(posts);
        expect(await onServer(job.promptId)).toBe(false);
      } finally {
        proxy.release();
        await client.close();
      }
    });

    test("a cancel while the prompt is posted again: dequeued when the server takes it, another client's job untouched", async () => {
      const client = new ComfyClient({ url: proxied, pollIntervalMs: 200 });
      try {
        const first = proxy.requests.length;
        const job = client.submit(blurChain(128, 4, "comfyc-real/resub-b"), {
          resubmitOnLoss: true,
        });
        await running(job);
        proxy.hold = (method, url) => method === "POST" && url === "/api/prompt";
        const posts = proxy.count(POST_PROMPT);
        await comfy.restart();
        const blocker = direct.submit(blurChain(128, 4, "comfyc-real/resub-blocker"));
        await started(blocker);
        // The client found the prompt gone and posts it again: the proxy holds that POST.
        await until(() => proxy.count(POST_PROMPT) > posts);
        const outcome = job.cancel();
        proxy.release();
        expect(await outcome).toEqual({ state: "dequeued" });
        expect(await errorOf(job.result())).toBeInstanceOf(CancelledError);
        expect(job.status).toBe("cancelled");
        expect((await blocker.result()).files).toHaveLength(1);
        expect(await onServer(job.promptId)).toBe(false);
        // Dequeued by its id: no interrupt at all, which could only have hit the blocker.
        expect(proxy.requests.slice(first)).not.toContain("POST /api/interrupt");
      } finally {
        proxy.release();
        await client.close();
      }
    });
  },
);
