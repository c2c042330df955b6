/**
 * Everything `comfyc/gateway` exports (`index.ts` loads this once its packages are known to be
 * installed). `comfyc/gateway`: the HTTP API in front of ComfyUI. Typed workflow endpoints from
 * `defineWorkflow` files, API keys, per-key rate limits, idempotent submission, signed webhooks,
 * OpenAPI, metrics. Needs Redis; workers are `comfyc worker`.
 */
export { ApiError, ErrorEnvelopeSchema } from "./api-error.js";
export type { ErrorEnvelope, Problem } from "./api-error.js";
export { createGateway } from "./gateway.js";
export type { Gateway, GatewayOptions } from "./gateway.js";
export { addKey, formatRate, hashKey, listKeys, parseRate, revokeKey } from "./keys.js";
export type { ApiKeyRecord, NewKeyOptions, Rate } from "./keys.js";
export { newWebhookSecret, postWebhook, WebhookPolicy } from "./webhooks.js";
export type { WebhookAttempt, WebhookMessage } from "./webhooks.js";
export type { WebhookRetry } from "./webhook-delivery.js";
export type { WorkflowEndpoint, WorkflowSource } from "./workflows.js";
