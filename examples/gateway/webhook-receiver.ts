/**
 * A webhook receiver for `comfyc gateway`: verifies the Standard Webhooks signature of each
 * delivery with the same secret the gateway signs with, then acts on the job record.
 *
 *   COMFYC_WEBHOOK_SECRET=whsec_… npm run example -- examples/gateway/webhook-receiver.ts
 *
 * Answer 2xx once handled; anything else (or no answer in 10 s) makes the gateway retry with
 * backoff. Deliveries of one job share a `webhook-id`: use it to ignore a repeat.
 */
import { createServer } from "node:http";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const secret = process.env["COMFYC_WEBHOOK_SECRET"];
if (!secret) throw new Error("Set COMFYC_WEBHOOK_SECRET to the gateway's --webhook-secret");
const webhook = new Webhook(secret);
const seen = new Set<string>();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event: { type: string; data: { id: string; status: string; outputs: { url: string }[] } };
    try {
      // Checks webhook-id, webhook-timestamp (within 5 minutes) and webhook-signature.
      event = webhook.verify(body, req.headers as Record<string, string>) as typeof event;
    } catch (e) {
      res.writeHead(e instanceof WebhookVerificationError ? 401 : 400).end();
      return;
    }
    const id = String(req.headers["webhook-id"]);
    if (!seen.has(id)) {
      seen.add(id);
      console.log(`${event.type}: job ${event.data.id}, ${event.data.outputs.length} output(s)`);
    }
    res.writeHead(204).end();
  });
});
server.listen(Number(process.env["PORT"] ?? 9000), "127.0.0.1", () =>
  console.log(`receiving webhooks on http://127.0.0.1:${Number(process.env["PORT"] ?? 9000)}/`),
);
