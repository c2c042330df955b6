/**
 * `comfyc/gateway`: the HTTP API in front of ComfyUI. Typed workflow endpoints from
 * `defineWorkflow` files, API keys, per-key rate limits, idempotent submission, signed webhooks,
 * OpenAPI, metrics. Needs Redis; workers are `comfyc worker`.
 *
 * Its packages (Fastify and its plugins, rate-limiter-flexible, standardwebhooks, and those of
 * `comfyc/scale`) are optional peer dependencies of comfyc; importing this module without them
 * throws `MISSING_PACKAGE` (CLI exit 11) with the install line. As in `comfyc/scale`, the values
 * load after that check and are listed here (`test/unit/entry-points.test.ts` keeps the list
 * complete).
 */
import { requirePackages } from "../errors.js";
import { SCALE_PACKAGES } from "../scale/packages.js";
import type * as Api from "./api.js";
import { GATEWAY_PACKAGES } from "./packages.js";

requirePackages([...SCALE_PACKAGES, ...GATEWAY_PACKAGES], "comfyc/gateway");
const api = await import("./api.js");

export type * from "./api.js";
export const {
  addKey,
  ApiError,
  createGateway,
  ErrorEnvelopeSchema,
  formatRate,
  hashKey,
  listKeys,
  newWebhookSecret,
  parseRate,
  postWebhook,
  revokeKey,
  WebhookPolicy,
} = api;
export type ApiError = Api.ApiError;
export type WebhookPolicy = Api.WebhookPolicy;
