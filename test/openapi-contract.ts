import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { OpenAPIBackend, SetMatchType } from "openapi-backend";

/** One operation of a document: its method, path template and declared responses. */
export interface ContractOperation {
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly responses: Record<string, any>;
}

/**
 * An OpenAPI document ready to check requests and responses against: the one loader and
 * validator of the contract tests (openapi-backend, Ajv with formats underneath), used for the
 * Comfy API v2 document and for the gateway's own `/openapi.json`.
 */
export class OpenApiContract {
  readonly document: Record<string, any>;
  #backend: Promise<OpenAPIBackend> | undefined;
  #ajv: Ajv | undefined;
  readonly #schemas = new Map<string, ValidateFunction>();

  /**
   * Operations without an `operationId` get `"<METHOD> <path>"` (openapi-backend finds
   * validators by id).
   */
  constructor(document: Record<string, any>) {
    this.document = structuredClone(document);
    for (const [path, item] of Object.entries(
      (this.document["paths"] ?? {}) as Record<string, any>,
    ))
      for (const [method, op] of Object.entries(item as Record<string, any>))
        if (op && typeof op === "object" && "responses" in op)
          op.operationId ??= `${method.toUpperCase()} ${path}`;
  }

  /** The document's operations, ready to validate (built once). */
  api(): Promise<OpenAPIBackend> {
    this.#backend ??= (async () => {
      const api = new OpenAPIBackend({
        definition: this.document as never,
        strict: false,
        validate: true,
        // openapi-backend checks a definition against the OpenAPI 3.0 schema only; a 3.1
        // document (the gateway's, JSON Schema 2020-12) skips that check, not the validation.
        quick: String(this.document["openapi"] ?? "").startsWith("3.1"),
        customizeAjv: (ajv) => {
          addFormats.default(ajv as unknown as Ajv);
          return ajv;
        },
      });
      await api.init();
      return api;
    })();
    return this.#backend;
  }

  /** The operation with this id. Throws when there is none. */
  operation(operationId: string): ContractOperation {
    for (const op of this.operations()) if (op.operationId === operationId) return op;
    throw new Error(`no operation ${operationId} in the document`);
  }

  /** The operation at this method and path template (`/v1/jobs/{id}`), or `undefined`. */
  operationAt(method: string, path: string): ContractOperation | undefined {
    const m = method.toLowerCase();
    return this.operations().find((op) => op.method === m && op.path === path);
  }

  /** Every operation of the document. */
  operations(): ContractOperation[] {
    const out: ContractOperation[] = [];
    for (const [path, item] of Object.entries(
      (this.document["paths"] ?? {}) as Record<string, any>,
    ))
      for (const [method, op] of Object.entries(item as Record<string, any>))
        if (op && typeof op === "object" && "responses" in op)
          out.push({ method, path, operationId: op.operationId, responses: op.responses });
    return out;
  }

  /**
   * Problems of one response against its operation: an undeclared status, a JSON body that
   * does not match the declared schema, declared headers that are wrong; [] if none. A body
   * that is not JSON (a stream, a file) is checked for its status only.
   */
  async responseProblems(
    operation: ContractOperation,
    status: number,
    body: unknown,
    headers: Record<string, unknown> = {},
  ): Promise<string[]> {
    const api = await this.api();
    const name = operation.operationId;
    const declared = operation.responses[String(status)] ?? operation.responses["default"];
    if (!declared) return [`${name} answered ${status}, which the document does not declare`];
    const problems: string[] = [];
    const op = name;
    const content = declared.content as Record<string, unknown> | undefined;
    if (content?.["application/json"] && body !== undefined) {
      const valid = api.validateResponse(body, op, status);
      for (const e of valid.errors ?? [])
        problems.push(`${name} ${status} body ${e.instancePath || "/"} ${e.message}`);
    }
    const hdrs = api.validateResponseHeaders(headers, op, {
      statusCode: status,
      setMatchType: SetMatchType.Superset,
    });
    for (const e of hdrs.errors ?? [])
      problems.push(`${name} ${status} header ${e.instancePath || "/"} ${e.message}`);
    return problems;
  }

  /** Problems of one request against the document ([] if none). */
  async requestProblems(req: {
    method: string;
    path: string;
    headers: Record<string, string | string[]>;
    query?: string;
    body?: unknown;
  }): Promise<string[]> {
    const api = await this.api();
    const valid = api.validateRequest({
      method: req.method,
      path: req.path,
      headers: req.headers,
      ...(req.query ? { query: req.query } : {}),
      ...(req.body !== undefined ? { body: req.body } : {}),
    });
    return (valid.errors ?? []).map(
      (e) => `${req.method} ${req.path} ${e.instancePath || "/"} ${e.message}`,
    );
  }

  /**
   * Problems of one Server-Sent Event's payload against the catalog of the `GET` operation at
   * `path` (`x-sse-events`, as Comfy API v2 and the gateway write it: event name → `{ schema:
   * "#/components/schemas/…" }`): an event the catalog does not list, or a payload that does
   * not match its schema; [] if none.
   */
  eventProblems(path: string, event: string, data: unknown): string[] {
    const catalog = this.document["paths"]?.[path]?.get?.["x-sse-events"] as
      Record<string, { schema?: string }> | undefined;
    if (!catalog) return [`GET ${path} has no x-sse-events catalog`];
    const ref = catalog[event]?.schema;
    if (!ref) return [`GET ${path} sent a ${event} event, which its x-sse-events does not list`];
    let validate = this.#schemas.get(ref);
    if (!validate) {
      // 3.1 documents are JSON Schema 2020-12; 3.0 ones the draft-07 subset (with `nullable`).
      if (!this.#ajv) {
        this.#ajv = String(this.document["openapi"] ?? "").startsWith("3.1")
          ? new Ajv2020({ strict: false, allErrors: true })
          : new Ajv({ strict: false, allErrors: true });
        addFormats.default(this.#ajv);
      }
      validate = this.#ajv.compile({
        $ref: ref,
        components: structuredClone(this.document["components"] ?? {}),
      });
      this.#schemas.set(ref, validate);
    }
    if (validate(data)) return [];
    return (validate.errors ?? []).map(
      (e) => `${event} event ${e.instancePath || "/"} ${e.message ?? "invalid"}`,
    );
  }
}
