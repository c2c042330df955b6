/**
 * `comfyc/gateway`'s HTTP stack: optional peer dependencies of comfyc, installed by projects that
 * serve the gateway (`comfyc gateway`, `createGateway`), besides the scale packages.
 */
export const GATEWAY_PACKAGES: readonly string[] = [
  "fastify",
  "fastify-type-provider-zod",
  "@fastify/swagger",
  "@fastify/swagger-ui",
  "@fastify/multipart",
  "rate-limiter-flexible",
  "standardwebhooks",
];
