import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { OpenAPIBackend } from "openapi-backend";
import { parse } from "yaml";
import { ROOT } from "./helpers.js";
import { OpenApiContract, type ContractOperation } from "./openapi-contract.js";

/**
 * The Comfy API v2 OpenAPI document for contract tests: the vendored copy
 * `test/fixtures/comfy-api-v2/openapi.yaml` (see its README for provenance), so the tests run
 * on a bare clone; a test checks that it is still `../shared/comfy-api-v2-openapi.yaml`.
 * Requests and responses are validated with openapi-backend (Ajv underneath), SSE payloads with
 * Ajv against the document's event schemas.
 */

/** The vendored document. */
export const V2_OPENAPI_FIXTURE = join(ROOT, "test", "fixtures", "comfy-api-v2", "openapi.yaml");
/** The shared ground truth, when `../shared` is beside the repository. */
export const V2_OPENAPI_SHARED = join(ROOT, "..", "shared", "comfy-api-v2-openapi.yaml");
export const HAS_SHARED_V2_OPENAPI = existsSync(V2_OPENAPI_SHARED);

/** The parsed document, with `nullable` beside `allOf` rewritten for Ajv (see below). */
export const v2Document: Record<string, any> = nullableAllOf(
  parse(readFileSync(V2_OPENAPI_FIXTURE, "utf8")),
) as Record<string, any>;

/**
 * Ajv reads OpenAPI 3.0's `nullable: true` only beside a `type`. The document also writes it
 * beside `allOf` (`Job.progress`, `Job.error`); rewrite those as `anyOf [the schema, null]`,
 * which is what OpenAPI 3.0.3 means by it.
 */
function nullableAllOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableAllOf);
  if (node === null || typeof node !== "object") return node;
  const o = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, nullableAllOf(v)]));
  if (o["nullable"] === true && o["type"] === undefined && Array.isArray(o["allOf"])) {
    const { nullable: _n, allOf, ...rest } = o;
    return { ...rest, anyOf: [{ allOf }, { enum: [null] }] };
  }
  return o;
}

/** The document as a contract (the shared loader and validator, test/openapi-contract.ts). */
export const v2Contract = new OpenApiContract(v2Document);

/** The document's operations, ready to validate requests and responses. */
export function v2Api(): Promise<OpenAPIBackend> {
  return v2Contract.api();
}

/** The operation with this id: its method, path template and declared responses. */
export function v2Operation(operationId: string): ContractOperation {
  return v2Contract.operation(operationId);
}

/** Problems of one response against the document (undeclared status, body, headers); [] if none. */
export async function v2ResponseProblems(
  operationId: string,
  status: number,
  body: unknown,
  headers: Record<string, unknown> = {},
): Promise<string[]> {
  return v2Contract.responseProblems(v2Operation(operationId), status, body, headers);
}

/** Problems of one request against the document ([] if none). */
export function v2RequestProblems(
  req: Parameters<OpenApiContract["requestProblems"]>[0],
): Promise<string[]> {
  return v2Contract.requestProblems(req);
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
const compiled = new Map<string, ValidateFunction>();

/**
 * A validator for one component schema of the document (`"Job"`, `"StatusEvent"`, …), with the
 * components it refers to.
 */
export function v2ComponentValidator(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    const components = { schemas: v2Document["components"].schemas };
    const schema = components.schemas[name];
    if (!schema) throw new Error(`no component schema ${name} in the v2 document`);
    validate = ajv.compile({ ...structuredClone(schema), components: structuredClone(components) });
    compiled.set(name, validate);
  }
  return validate;
}

/** The document's component schema for an SSE event name (`x-sse-events` of the events route). */
export function v2SseEventComponent(event: string): string | undefined {
  const events = v2Document["paths"]["/api/v2/jobs/{id}/events"].get["x-sse-events"] as Record<
    string,
    { schema: string }
  >;
  return events[event]?.schema.split("/").pop();
}
