import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The gateway's Prometheus metrics, in a registry of its own (a worker in the same process
 * keeps its own). Served on `GET /metrics`.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Requests by route pattern (`/v1/jobs/:id`), method and status. */
  readonly requests = new Counter({
    name: "comfyc_gateway_requests_total",
    help: "HTTP requests answered, by route, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  /** Latency by route pattern and method, in seconds. */
  readonly latency = new Histogram({
    name: "comfyc_gateway_request_duration_seconds",
    help: "Time from request to response, by route and method",
    labelNames: ["route", "method"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  /** Jobs accepted, by workflow (`api` for raw v2 workflows) and API key name. */
  readonly jobsSubmitted = new Counter({
    name: "comfyc_gateway_jobs_submitted_total",
    help: "Jobs submitted, by workflow and API key",
    labelNames: ["workflow", "key"] as const,
    registers: [this.registry],
  });
  /** Webhook delivery attempts by outcome (`delivered`, `failed`, `gave_up`). */
  readonly webhooks = new Counter({
    name: "comfyc_gateway_webhook_deliveries_total",
    help: "Webhook delivery attempts, by outcome: delivered, failed (will retry), gave_up",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "comfyc_gateway_" });
  }
}
