import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { request } from "undici";
import { z } from "zod";
import { defineWorkflow } from "../../src/builder/define-workflow.js";
import { EmptyImage, ImageInvert, SaveImage } from "../../generated/core.js";
import { join } from "node:path";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { addKey, type NewKeyOptions } from "../../src/gateway/keys.js";
import type { TestServer } from "../../src/testing/app.js";
import { tempDir } from "../helpers.js";
import { OpenApiContract } from "../openapi-contract.js";
import { Cluster } from "../scale/cluster.js";

/** A served workflow for end-to-end tests: EmptyImage → ImageInvert → SaveImage. */
export const invert = defineWorkflow(
  {
    name: "invert",
    description: "An inverted blank image",
    params: z.object({
      width: z.number().int().min(8).max(256).default(8),
      prefix: z.string().default("gw/invert"),
    }),
  },
  (wf, p) => {
    const image = wf.add(EmptyImage, { width: p.width, height: 8, batch_size: 1 });
    wf.add(SaveImage, { images: wf.add(ImageInvert, { image }), filename_prefix: p.prefix });
  },
);

/** One Server-Sent Event as received. */
export interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: any;
}

/**
 * Reads a Server-Sent Events stream until it ends or `stop(event)` says so (then the
 * connection is closed), returning the events in order.
 */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  stop: (e: SseEvent, all: readonly SseEvent[]) => boolean = () => false,
): Promise<{ status: number; events: SseEvent[] }> {
  const controller = new AbortController();
  const res = await request(url, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  if (res.statusCode !== 200) {
    await res.body.dump();
    return { status: res.statusCode, events };
  }
  let buffer = "";
  try {
    for await (const chunk of res.body) {
      buffer += (chunk as Buffer).toString("utf8");
      let i: number;
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const c = line.indexOf(":");
          fields[line.slice(0, c)] = line.slice(c + 1).trimStart();
        }
        if (!fields["event"]) continue;
        const e: SseEvent = {
          ...(fields["id"] ? { id: fields["id"] } : {}),
          event: fields["event"],
          data: JSON.parse(fields["data"] ?? "null"),
        };
        events.push(e);
        if (stop(e, events)) {
          controller.abort();
          return { status: 200, events };
        }
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  }
  return { status: 200, events };
}

/** A webhook receiver on loopback that verifies every delivery's signature. */
export class WebhookReceiver {
  readonly deliveries: {
    headers: IncomingHttpHeaders;
    body: string;
    verified: boolean;
    payload: any;
  }[] = [];
  /** Status to answer with, per delivery index (default 204). */
  statuses: number[] = [];
  readonly #server: Server;
  readonly #waiters: { test: () => boolean; resolve: () => void }[] = [];
  readonly #signer: Webhook;

  private constructor(secret: string) {
    this.#signer = new Webhook(secret);
    this.#server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        let verified = false;
        let payload: unknown;
        try {
          payload = this.#signer.verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          payload = JSON.parse(body);
        }
        const status = this.statuses[this.deliveries.length] ?? 204;
        this.deliveries.push({ headers: req.headers, body, verified, payload });
        res.writeHead(status).end();
        for (const w of [...this.#waiters])
          if (w.test()) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve();
          }
      });
    });
  }

  static async start(secret: string): Promise<WebhookReceiver> {
    const r = new WebhookReceiver(secret);
    await new Promise<void>((resolve) => r.#server.listen(0, "127.0.0.1", resolve));
    return r;
  }

  get host(): string {
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `http://${this.host}/hook`;
  }

  /** Resolves once `test()` holds (checked after each delivery). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** One response a watched gateway sent on a `/v1` route. */
interface SentResponse {
  readonly method: string;
  /** The route as an OpenAPI path template (`/v1/jobs/{id}`). */
  readonly path: string;
  readonly status: number;
  readonly payload: unknown;
  readonly headers: Record<string, unknown>;
}

/**
 * Checks every `/v1` response of the watched gateways against the gateway's own `/openapi.json`
 * (with the shared contract validator), whichever client a test used (inject, undici, fetch):
 * the document cannot drift from what the routes answer. Call {@link watch} right after
 * `createGateway` (before `listen` or `inject`), and {@link problems} after each test.
 */
export class GatewayContract {
  readonly #sent: SentResponse[] = [];
  #contract: OpenApiContract | undefined;
  #gateway: Gateway | undefined;

  watch(gateway: Gateway): void {
    this.#gateway ??= gateway;
    gateway.app.addHook("onSend", async (request, reply, payload) => {
      const route = request.routeOptions.url;
      if (route?.startsWith("/v1/"))
        this.#sent.push({
          method: request.method,
          path: route.replace(/:([A-Za-z0-9_]+)/g, "{$1}"),
          status: reply.statusCode,
          payload,
          headers: reply.getHeaders(),
        });
      return payload;
    });
  }

  /** The gateway's own `/openapi.json` as a contract. */
  #document(): OpenApiContract {
    this.#contract ??= new OpenApiContract(
      structuredClone(this.#gateway!.app.swagger()) as unknown as Record<string, any>,
    );
    return this.#contract;
  }

  /**
   * Problems of Server-Sent Events a `/v1` stream sent (`path` as an OpenAPI template,
   * `/v1/jobs/{id}/events`): each payload against the schema `x-sse-events` of `/openapi.json`
   * gives for its event; [] if none.
   */
  eventProblems(path: string, events: readonly SseEvent[]): string[] {
    return events.flatMap((e) => this.#document().eventProblems(path, e.event, e.data));
  }

  /** Problems of the responses sent since the last call ([] if none); forgets them. */
  async problems(): Promise<string[]> {
    const sent = this.#sent.splice(0);
    if (sent.length === 0) return [];
    this.#document();
    const problems: string[] = [];
    for (const r of sent) {
      const op = this.#contract!.operationAt(r.method, r.path);
      if (!op) {
        problems.push(`${r.method} ${r.path} is not in /openapi.json`);
        continue;
      }
      const json =
        typeof r.payload === "string" &&
        String(r.headers["content-type"] ?? "").startsWith("application/json");
      problems.push(
        ...(await this.#contract!.responseProblems(
          op,
          r.status,
          json ? JSON.parse(r.payload as string) : undefined,
          r.headers,
        )),
      );
    }
    return problems;
  }
}

/** What {@link startGatewayCluster} started; `close()` stops the gateway, then the cluster. */
export interface GatewayCluster {
  readonly cluster: Cluster;
  readonly servers: readonly TestServer[];
  readonly gateway: Gateway;
  /** The gateway's base URL. */
  readonly base: string;
  /** The new keys, in the order of `keys`. */
  readonly keys: readonly string[];
  close(): Promise<void>;
}

/**
 * Redis, `servers` test servers (default 1), a worker for each unless `workers` is false, a keys
 * file holding `keys`, and a gateway serving {@link invert} on a free port with the cluster's
 * storage; `contract`, when given, checks every /v1 answer against /openapi.json.
 */
export async function startGatewayCluster(options: {
  readonly keys: readonly NewKeyOptions[];
  readonly servers?: number;
  readonly workers?: boolean;
  readonly contract?: GatewayContract;
}): Promise<GatewayCluster> {
  const cluster = await Cluster.start();
  const servers: TestServer[] = [];
  for (let i = 0; i < (options.servers ?? 1); i++) servers.push(await cluster.addServer());
  if (options.workers !== false) for (const s of servers) await cluster.addWorker(s);
  const keysFile = join(tempDir("comfyc-gw-"), "keys.json");
  const keys: string[] = [];
  for (const k of options.keys) keys.push((await addKey(keysFile, k)).key);
  const gateway = await createGateway({
    redis: cluster.redis.url,
    workflows: [{ workflow: invert }],
    keysFile,
    storage: cluster.storage,
    logger: false,
  });
  options.contract?.watch(gateway);
  const base = await gateway.listen({ port: 0 });
  return {
    cluster,
    servers,
    gateway,
    base,
    keys,
    close: async () => {
      await gateway.close();
      await cluster.close();
    },
  };
}
