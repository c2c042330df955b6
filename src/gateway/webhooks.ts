import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { request, type Dispatcher } from "undici";
import { ComfycError } from "../errors.js";

/** The longest callback URL a job may carry (what browsers and proxies commonly accept). */
export const MAX_WEBHOOK_URL = 2048;

/**
 * Which callback URLs a job may carry: `http(s)` URLs of at most {@link MAX_WEBHOOK_URL}
 * characters, without credentials, whose host is on the allow-list.
 * Entries are host names (`hooks.example.com`), host:port (`127.0.0.1:9000`) or a wildcard for
 * subdomains (`*.example.com`, which does not match `example.com` itself). Everything else is
 * refused, so a caller cannot make the gateway POST to internal services.
 */
export class WebhookPolicy {
  readonly #entries: readonly string[];

  constructor(hosts: readonly string[]) {
    this.#entries = hosts.map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0);
  }

  /** True when webhooks can be accepted at all. */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  /** Why `url` is refused, or `undefined` when it is allowed. */
  problem(url: string): string | undefined {
    if (!this.enabled) return "webhooks are not enabled on this gateway (no --webhook-hosts)";
    // Stored with the job and sent on every delivery attempt: a URL, not a payload.
    if (url.length > MAX_WEBHOOK_URL)
      return `callback URLs may be at most ${MAX_WEBHOOK_URL} characters, not ${url.length}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "not a valid URL";
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
      return `only http and https callbacks are allowed, not ${parsed.protocol}`;
    if (parsed.username || parsed.password) return "callback URLs must not carry credentials";
    const host = parsed.hostname.toLowerCase();
    const port = parsed.port;
    const allowed = this.#entries.some((entry) => {
      const [name, entryPort] = splitHostPort(entry);
      if (entryPort !== undefined && entryPort !== port) return false;
      if (name.startsWith("*."))
        return host.endsWith(name.slice(1)) && host.length > name.length - 1;
      return host === name;
    });
    return allowed ? undefined : `host ${parsed.host} is not on the webhook allow-list`;
  }
}

function splitHostPort(entry: string): [string, string | undefined] {
  // [::1]:9000, [::1], host:9000, host
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return [`[${v6[1]}]`, v6[2]];
  const i = entry.lastIndexOf(":");
  if (i > 0 && /^\d+$/.test(entry.slice(i + 1)) && !entry.slice(0, i).includes(":"))
    return [entry.slice(0, i), entry.slice(i + 1)];
  return [entry, undefined];
}

/** A new Standard Webhooks signing secret (`whsec_` + 32 random bytes, base64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** Checks a `whsec_…` secret and returns a signer; throws `USAGE` when it cannot be decoded. */
export function webhookSigner(secret: string): Webhook {
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length < 6 + 24) {
    throw new ComfycError(
      "USAGE",
      "The webhook secret must be whsec_ followed by at least 16 bytes in base64",
      "Make one with `comfyc gateway webhook-secret` and pass it as --webhook-secret (or $COMFYC_WEBHOOK_SECRET).",
    );
  }
  return new Webhook(secret);
}

/** One delivery attempt as recorded on the job. */
export interface WebhookAttempt {
  /** 1-based. */
  readonly attempt: number;
  /** ISO time the attempt started. */
  readonly at: string;
  /** The receiver's HTTP status, or `null` when no response came. */
  readonly status: number | null;
  /** Why the attempt failed (`status 500`, `connect ECONNREFUSED …`); absent on success. */
  readonly error?: string;
  readonly duration_ms: number;
}

/** The body of a webhook: Standard Webhooks' recommended `type` / `timestamp` / `data` shape. */
export interface WebhookMessage {
  /** Unique per message and the same on every retry of it (receivers deduplicate on it). */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

/**
 * POSTs one signed message (`webhook-id`, `webhook-timestamp`, `webhook-signature` headers,
 * HMAC-SHA256 as the Standard Webhooks specification says) and reports the attempt. A 2xx is a
 * success; redirects are not followed (the allow-list applies to the URL given, not to where
 * it points). Never throws.
 */
export async function postWebhook(
  url: string,
  message: WebhookMessage,
  signer: Webhook,
  attempt: number,
  options: { timeoutMs?: number; dispatcher?: Dispatcher } = {},
): Promise<WebhookAttempt> {
  const started = new Date();
  const t0 = performance.now();
  const payload = JSON.stringify({
    type: message.type,
    timestamp: started.toISOString(),
    data: message.data,
  });
  const headers = {
    "content-type": "application/json",
    "user-agent": "comfyc-gateway",
    "webhook-id": message.id,
    "webhook-timestamp": String(Math.floor(started.getTime() / 1000)),
    "webhook-signature": signer.sign(message.id, started, payload),
  };
  const timeoutMs = options.timeoutMs ?? 10_000;
  const done = (status: number | null, error?: string): WebhookAttempt => ({
    attempt,
    at: started.toISOString(),
    status,
    ...(error ? { error } : {}),
    duration_ms: Math.round(performance.now() - t0),
  });
  try {
    const res = await request(url, {
      method: "POST",
      headers,
      body: payload,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300
      ? done(res.statusCode)
      : done(res.statusCode, `status ${res.statusCode}`);
  } catch (e) {
    return done(null, (e as Error)?.message ?? String(e));
  }
}
