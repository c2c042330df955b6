import { readdir } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import type { Command } from "commander";
import { ComfycError, ioError, requirePackages } from "../errors.js";
import { CLIENT_TYPES_PACKAGES, gatewayClientTypes } from "../gateway/client-types.js";
import { writeOutputFile } from "./files.js";
import type { CliIo } from "./io.js";

interface GatewayFlags {
  redis?: string;
  workflows?: string;
  port: string;
  host: string;
  storage?: string;
  keys?: string;
  auth: boolean;
  rate?: string;
  webhookHosts?: string;
  webhookSecret?: string;
  maxWaiting?: string;
  bodyLimit: string;
  allowUrlPrefix: string[];
  uploadLimit: string;
  queue?: string;
  validate: boolean;
  logLevel: string;
}

/** Strict positive integer flag parsing: `--port abc` is a usage error, not NaN. */
function intFlag(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new ComfycError(
      "USAGE",
      `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`,
      `Pass digits only, e.g. ${name} ${min === 0 ? 0 : min}.`,
    );
  return n;
}

const list = (text: string | undefined): string[] =>
  (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** The workflow files of a folder (top level only): `.ts`, `.mts`, `.js`, `.mjs`, not tests or declarations. */
export async function workflowFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw ioError(dir, cause);
  }
  const files = names
    .filter((n) => /\.(m?ts|m?js)$/.test(n) && !/\.(d|test|spec)\.[mc]?[tj]s$/.test(n))
    .sort()
    .map((n) => join(dir, n));
  if (files.length === 0) {
    throw new ComfycError(
      "USAGE",
      `${dir} has no workflow files (.ts or .js)`,
      "Put one defineWorkflow(...) (or workflow()) file per endpoint in the folder, each with `export default`.",
    );
  }
  return files;
}

/**
 * Reads a gateway's `/openapi.json` (public, no key). Throws `USAGE` for a URL that is not
 * http(s), `SERVER_UNREACHABLE` naming it, `SERVER_ERROR` for a reply that is not a JSON 200.
 */
async function readOpenApi(base: string): Promise<unknown> {
  let url: URL;
  try {
    url = new URL("openapi.json", base.endsWith("/") ? base : `${base}/`);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(url.protocol);
  } catch (cause) {
    throw new ComfycError(
      "USAGE",
      `--url ${JSON.stringify(base)} is not an http(s) URL`,
      "Pass the gateway's base URL, e.g. --url http://127.0.0.1:8080.",
      { cause },
    );
  }
  const { request } = await import("undici");
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  } catch (cause) {
    throw new ComfycError(
      "SERVER_UNREACHABLE",
      `Cannot reach ${url.href}: ${(cause as Error).message}`,
      "Start the gateway (comfyc gateway …) and pass its address with --url.",
      { cause },
    );
  }
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new ComfycError(
      "SERVER_ERROR",
      `${url.href} answered HTTP ${res.statusCode}, not 200`,
      "Point --url at a comfyc gateway (its /openapi.json is public).",
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ComfycError(
      "SERVER_ERROR",
      `${url.href} did not answer JSON`,
      "Point --url at a comfyc gateway (its /openapi.json is public).",
      { cause },
    );
  }
}

/**
 * Imports the gateway. `comfyc/gateway` checks its own packages (`MISSING_PACKAGE`, exit 11, with
 * the install line); `main.ts` has checked them before this command loaded, too.
 */
async function importGateway(): Promise<typeof import("../gateway/index.js")> {
  return await import("../gateway/index.js");
}

/**
 * The flags of a `gateway keys …` command. `gateway` itself has `--keys`, `--workflows` and
 * `--rate` too, and commander gives a flag to the first command that declares it, wherever it
 * stands on the line; so they are read with the parent's.
 */
function keysFlags<T>(command: Command): T & { keys: string } {
  const flags = command.optsWithGlobals<T & { keys?: string }>();
  if (!flags.keys)
    throw new ComfycError(
      "USAGE",
      `comfyc gateway keys ${command.name()} needs --keys <file>`,
      "Pass the keys file the gateway reads, e.g. --keys keys.json.",
    );
  return flags as T & { keys: string };
}

/**
 * `comfyc gateway`: the HTTP API in front of the queue, and `comfyc gateway keys …` to manage
 * its API keys. The gateway's framework loads only when one of these runs.
 */
export function registerGateway(program: Command, io: CliIo): void {
  const gateway = program
    .command("gateway")
    .description(
      "Serve typed workflow endpoints (HTTP API with keys, rate limits, webhooks) in front of the queue",
    )
    .option("--redis <url>", "Redis the queue lives in (redis://host:6379; required)")
    .option(
      "--workflows <dir>",
      "folder of workflow files; each becomes POST /v1/workflows/{name}/jobs (required)",
    )
    .option("--port <n>", "port (0 picks a free one)", "8080")
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option(
      "--storage <url>",
      "where workers store outputs (folder, file:// or s3://…), to serve them",
    )
    .option("--keys <file>", "API keys file (comfyc gateway keys add)")
    .option("--no-auth", "serve without API keys (only behind your own authenticating proxy)")
    .option("--rate <rate>", "submission rate of keys that set none, e.g. 60/min")
    .option(
      "--webhook-hosts <hosts>",
      "comma-separated hosts callbacks may go to (host, host:port, *.domain)",
    )
    .option(
      "--webhook-secret <whsec>",
      "Standard Webhooks signing secret (default $COMFYC_WEBHOOK_SECRET)",
      process.env["COMFYC_WEBHOOK_SECRET"],
    )
    .option("--max-waiting <n>", "answer 429 queue_full while this many jobs wait")
    .option("--body-limit <bytes>", "largest JSON body", String(1024 * 1024))
    .option(
      "--allow-url-prefix <prefix>",
      "image parameters may be URLs under this prefix, e.g. https://cdn.example.com/images/ (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      "--upload-limit <bytes>",
      "largest image for an image parameter, uploaded or fetched",
      String(20 * 1024 * 1024),
    )
    .option("--queue <name>", "queue name (as given to comfyc worker)")
    .option("--no-validate", "skip ComfyUI validation of compiled graphs before queueing")
    .option("--log-level <level>", "pino log level", "info")
    .action(async (flags: GatewayFlags) => {
      if (!flags.redis || !flags.workflows)
        throw new ComfycError(
          "USAGE",
          `comfyc gateway needs ${!flags.redis ? "--redis <url>" : "--workflows <dir>"}`,
          "Example: comfyc gateway --redis redis://127.0.0.1:6379 --workflows ./workflows --keys keys.json",
        );
      if (!flags.keys && flags.auth) {
        throw new ComfycError(
          "USAGE",
          "The gateway needs --keys <file>, or --no-auth to serve without API keys",
          "Create a key with `comfyc gateway keys add <name> --keys keys.json`.",
        );
      }
      const port = intFlag("--port", flags.port, 0, 65535);
      const bodyLimit = intFlag("--body-limit", flags.bodyLimit, 1024, 1024 ** 3);
      const uploadLimit = intFlag("--upload-limit", flags.uploadLimit, 1, 1024 ** 3);
      const maxWaiting =
        flags.maxWaiting !== undefined
          ? intFlag("--max-waiting", flags.maxWaiting, 1, 1e9)
          : undefined;
      const [{ createGateway, parseRate }, { loadWorkflowModule }] = await Promise.all([
        importGateway(),
        import("./load.js"),
      ]);
      const files = await workflowFiles(flags.workflows);
      const workflows = [];
      for (const file of files)
        workflows.push({
          workflow: await loadWorkflowModule(file),
          fallbackName: basename(file, extname(file)),
          origin: file,
        });
      const gw = await createGateway({
        redis: flags.redis,
        workflows,
        ...(flags.storage ? { storage: flags.storage } : {}),
        ...(flags.queue ? { queue: flags.queue } : {}),
        ...(flags.auth && flags.keys ? { keysFile: flags.keys } : {}),
        ...(flags.rate ? { defaultRate: parseRate(flags.rate) } : {}),
        ...(flags.webhookHosts ? { webhookHosts: list(flags.webhookHosts) } : {}),
        ...(flags.webhookSecret ? { webhookSecret: flags.webhookSecret } : {}),
        ...(maxWaiting !== undefined ? { maxWaiting } : {}),
        bodyLimitBytes: bodyLimit,
        uploadLimitBytes: uploadLimit,
        ...(flags.allowUrlPrefix.length ? { allowUrlPrefixes: flags.allowUrlPrefix } : {}),
        validate: flags.validate !== false,
        logger: flags.logLevel,
      });
      let url: string;
      try {
        url = await gw.listen({ port, host: flags.host });
      } catch (cause) {
        await gw.close();
        throw new ComfycError(
          "USAGE",
          `Cannot listen on ${flags.host}:${port}: ${(cause as Error)?.message ?? String(cause)}`,
          "Pick another --port (0 picks a free one).",
          { cause },
        );
      }
      io.info(
        `comfyc gateway on ${url}: ${gw.workflows.map((w) => w.name).join(", ")}; docs at ${url}/docs${flags.auth ? "" : " (no auth!)"}`,
      );
      io.out(url);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await gw.close();
    });

  const keys = gateway.command("keys").description("Manage the gateway's API keys (stored hashed)");
  keys
    .command("add")
    .description("Create a key; prints it once (last line), stores only its hash")
    .argument("<name>", "who the key is for (unique among active keys)")
    .option("--keys <file>", "the keys file (created when missing, mode 0600; required)")
    .option("--workflows <names>", "comma-separated workflows it may use (default: all)")
    .option("--rate <rate>", "its submission rate, e.g. 60/min, 10/s, 1000/hour")
    .action(async (name: string, _flags: unknown, command: Command) => {
      const flags = keysFlags<{ workflows?: string; rate?: string }>(command);
      const { addKey, parseRate, formatRate } = await import("../gateway/keys.js");
      const rate = flags.rate ? parseRate(flags.rate) : undefined;
      const workflows = flags.workflows !== undefined ? list(flags.workflows) : undefined;
      const { key, record } = await addKey(flags.keys, {
        name,
        ...(workflows ? { workflows } : {}),
        ...(rate ? { rate } : {}),
      });
      io.info(
        `Added ${record.id} "${record.name}" (workflows: ${record.workflows?.join(", ") ?? "all"}; rate: ${record.rate ? formatRate(record.rate) : "gateway default"}) to ${flags.keys}. The key is shown once:`,
      );
      io.out(key);
    });
  keys
    .command("list")
    .description("List keys (never the keys themselves)")
    .option("--keys <file>", "the keys file (required)")
    .option("--json", "one JSON object per key")
    .action(async (_flags: unknown, command: Command) => {
      const flags = keysFlags<{ json?: boolean }>(command);
      const { listKeys, formatRate } = await import("../gateway/keys.js");
      const records = await listKeys(flags.keys);
      for (const r of records) {
        if (flags.json) {
          const { hash: _hash, ...shown } = r;
          io.out(JSON.stringify(shown));
        } else
          io.out(
            [
              r.id,
              r.name,
              r.revoked_at ? `revoked ${r.revoked_at}` : "active",
              `workflows=${r.workflows?.join(",") ?? "*"}`,
              `rate=${r.rate ? formatRate(r.rate) : "default"}`,
              `created ${r.created_at}`,
            ].join("  "),
          );
      }
      if (records.length === 0 && !flags.json) io.info(`No keys in ${flags.keys}.`);
    });
  keys
    .command("revoke")
    .description("Revoke a key by name or id (a running gateway drops it within a second)")
    .argument("<name-or-id>")
    .option("--keys <file>", "the keys file (required)")
    .action(async (nameOrId: string, _flags: unknown, command: Command) => {
      const flags = keysFlags(command);
      const { revokeKey } = await import("../gateway/keys.js");
      const r = await revokeKey(flags.keys, nameOrId);
      io.info(`Revoked ${r.id} "${r.name}".`);
    });
  gateway
    .command("client")
    .description(
      "Write TypeScript types for a running gateway's API (openapi-typescript), for openapi-fetch",
    )
    .option("--url <url>", "the gateway's base URL, e.g. http://127.0.0.1:8080 (required)")
    .option("--out <file>", "the .d.ts file to write (required), e.g. gateway.d.ts")
    .action(async (_flags: unknown, command: Command) => {
      const flags = command.opts<{ url?: string; out?: string }>();
      if (!flags.url || !flags.out)
        throw new ComfycError(
          "USAGE",
          `comfyc gateway client needs ${!flags.url ? "--url <gateway url>" : "--out <file>"}`,
          "e.g. comfyc gateway client --url http://127.0.0.1:8080 --out gateway.d.ts",
        );
      requirePackages(CLIENT_TYPES_PACKAGES, "comfyc gateway client");
      const document = await readOpenApi(flags.url);
      const text = await gatewayClientTypes(document, flags.url);
      writeOutputFile(flags.out, text, "--out");
      io.info(
        `Wrote ${flags.out}: import type { paths } from it and call createClient<paths>({ baseUrl: ${JSON.stringify(flags.url)} }) (openapi-fetch).`,
      );
    });
  gateway
    .command("webhook-secret")
    .description("Print a new Standard Webhooks signing secret (whsec_…) for --webhook-secret")
    .action(async () => {
      const { newWebhookSecret } = await importGateway();
      io.out(newWebhookSecret());
    });
}
