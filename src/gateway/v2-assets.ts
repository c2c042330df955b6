import { randomUUID } from "node:crypto";
import type {} from "@fastify/multipart";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isComfycError } from "../errors.js";
import {
  V2AssetReferenceSchema,
  V2AssetSchema,
  V2AssetUploadFieldsSchema,
  V2ErrorEnvelopeSchema,
  type V2Asset,
} from "../protocol/comfy-api-v2.js";
import { putInput, type StagedInput } from "../scale/inputs.js";
import { ApiError, invalidRequest, type Problem } from "./api-error.js";
import type { Caller } from "./auth.js";
import type { GatewayContext } from "./gateway.js";
import { IdempotencyStore } from "./idempotency.js";

/** How long an uploaded asset stays referenceable unless `expires_in` says otherwise: 7 days. */
export const ASSET_RETENTION_SECONDS = 7 * 24 * 3600;

/** How long an asset's content `url` is said to work (it is served with the owner's key). */
const URL_TTL_MS = 3600_000;

/** What the gateway keeps about one uploaded asset (in Redis, expiring with the asset). */
interface AssetRecord {
  readonly id: string;
  /** The API key id that uploaded it: only that key may read, delete or reference it. */
  readonly owner: string;
  readonly input: StagedInput;
  readonly contentType: string;
  readonly filePath: string;
  readonly tags: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string;
}

const IdParams = z.object({ id: z.string().max(128) });
const envelope = (what: string) => V2ErrorEnvelopeSchema.describe(what);
const ASSET_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Uploaded Comfy API v2 assets, in Redis under the gateway's prefix; the bytes are in the
 * gateway's storage under their content-addressed input key (`inputs/<sha256>.<ext>`), where
 * workers read job inputs from.
 */
export class V2AssetStore {
  constructor(private readonly ctx: Pick<GatewayContext, "redis" | "prefix">) {}

  #key(id: string): string {
    return `${this.ctx.prefix}:asset:${id}`;
  }

  async save(record: AssetRecord, ttlSeconds: number): Promise<void> {
    await this.ctx.redis.set(this.#key(record.id), JSON.stringify(record), "EX", ttlSeconds);
  }

  /** The asset if `caller` owns it (or authentication is off), else `undefined`. */
  async get(id: string, caller: Caller, authEnabled: boolean): Promise<AssetRecord | undefined> {
    if (!ASSET_ID.test(id)) return undefined;
    const text = await this.ctx.redis.get(this.#key(id));
    if (text === null) return undefined;
    const record = JSON.parse(text) as AssetRecord;
    return authEnabled && record.owner !== caller.keyId ? undefined : record;
  }

  /** Deletes the record (never the bytes: other assets and queued jobs may share them). */
  async delete(id: string): Promise<void> {
    await this.ctx.redis.del(this.#key(id));
  }
}

/** The v2 `Asset` of a record; its content URL is absolute on `origin`. */
function assetView(record: AssetRecord, origin: string, createdNew?: boolean): V2Asset {
  return {
    id: record.id,
    // blake3 is not computed here: the document allows null ("computed lazily").
    hash: null,
    size_bytes: record.input.size,
    content_type: record.contentType,
    file_path: record.filePath,
    ...(createdNew !== undefined ? { created_new: createdNew } : {}),
    created_at: record.createdAt,
    url: `${origin}/api/v2/assets/${encodeURIComponent(record.id)}/content`,
    url_expires_at: new Date(Date.now() + URL_TTL_MS).toISOString(),
    expires_at: record.expiresAt,
  };
}

/** Keys limited to some workflows may not upload assets (they may not submit raw graphs). */
function mayUseRawGraphs(caller: Caller): void {
  if (caller.workflows !== null)
    throw new ApiError(
      403,
      "forbidden",
      `The API key ${JSON.stringify(caller.name)} may only use its workflows (${caller.workflows.join(", ") || "none"}), not Comfy API v2 assets and raw graphs.`,
    );
}

/**
 * Reads the `POST /api/v2/assets` form: one `file` part (at most the upload limit), and the
 * `content_type`, `file_path`, `expected_hash`, `tags` (repeatable) and `expires_in` fields.
 * Throws `ApiError` 422 listing every problem (`invalid_request`), or `payload_too_large`
 * naming the limit (the document declares no 413 for this route).
 */
async function readAssetForm(
  request: FastifyRequest,
  ctx: GatewayContext,
): Promise<{ bytes: Buffer; filename: string; fields: z.infer<typeof V2AssetUploadFieldsSchema> }> {
  const limit = ctx.uploads.limitBytes;
  const tooLarge = () =>
    new ApiError(
      422,
      "payload_too_large",
      `The file is larger than this gateway's upload limit of ${limit} bytes (--upload-limit)`,
      { limit_bytes: limit },
    );
  if (!request.isMultipart())
    throw invalidRequest([{ path: "", message: "send the asset as multipart/form-data" }]);
  const problems: Problem[] = [];
  const fields: Record<string, string> = {};
  const tags: string[] = [];
  let file: { bytes: Buffer; filename: string } | undefined;
  try {
    for await (const part of request.parts({
      limits: { fileSize: limit, files: 1, fields: 16, fieldSize: ctx.bodyLimitBytes },
    })) {
      if (part.type === "file") {
        if (part.fieldname !== "file") {
          await part.toBuffer().catch(() => undefined);
          problems.push({ path: part.fieldname, message: "the only file part is `file`" });
          continue;
        }
        try {
          file = { bytes: await part.toBuffer(), filename: part.filename || "" };
        } catch (e) {
          if ((e as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE") throw tooLarge();
          throw e;
        }
      } else if (part.fieldname === "tags") {
        tags.push(String(part.value));
      } else if (part.fieldname in fields) {
        problems.push({ path: part.fieldname, message: "this field is given twice" });
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    const code = (e as { code?: string }).code;
    if (code === "FST_FILES_LIMIT")
      throw invalidRequest([{ path: "file", message: "send one file part" }]);
    if (code === "FST_FIELDS_LIMIT" || code === "FST_PARTS_LIMIT")
      throw invalidRequest([{ path: "", message: "too many multipart fields" }]);
    throw invalidRequest([{ path: "", message: "the multipart body could not be read" }]);
  }
  if (!file) problems.push({ path: "file", message: "the file part is missing" });
  else if (file.bytes.length === 0) problems.push({ path: "file", message: "the file is empty" });
  const parsed = V2AssetUploadFieldsSchema.safeParse({
    ...fields,
    ...(tags.length ? { tags } : {}),
  });
  if (!parsed.success)
    for (const issue of parsed.error.issues)
      problems.push({ path: issue.path.join(".") || "", message: issue.message });
  if (problems.length || !file || !parsed.success) throw invalidRequest(problems);
  return { bytes: file.bytes, filename: file.filename, fields: parsed.data };
}

/**
 * The `core/ASSET` references of an API-format workflow (`{"__type": "core/ASSET", "info":
 * {"id"}}` as an input value) replaced by the stored file's name, with the inputs the queued
 * job carries so its worker puts the files on its instance. A reference that is malformed, or
 * names no asset of the caller, is 422 `missing_asset` (all of them listed in
 * `details.asset_ids` and `details.problems`).
 */
export async function resolveAssetReferences(
  ctx: GatewayContext,
  caller: Caller,
  workflow: Readonly<Record<string, unknown>>,
): Promise<{ workflow: Record<string, unknown>; inputs: StagedInput[] }> {
  const store = new V2AssetStore(ctx);
  const out: Record<string, unknown> = { ...workflow };
  const inputs = new Map<string, StagedInput>();
  const missing: string[] = [];
  const problems: { node_id: string; input: string; message: string }[] = [];
  for (const [id, node] of Object.entries(workflow)) {
    const values = (node as { inputs?: Record<string, unknown> } | null)?.inputs;
    if (!values || typeof values !== "object") continue;
    let copy: Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(values)) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) continue;
      if ((value as { __type?: unknown }).__type !== "core/ASSET") continue;
      const ref = V2AssetReferenceSchema.safeParse(value);
      const record = ref.success
        ? await store.get(ref.data.info.id, caller, ctx.auth.enabled)
        : undefined;
      if (!record) {
        if (ref.success) missing.push(ref.data.info.id);
        problems.push({
          node_id: id,
          input: name,
          message: ref.success
            ? `asset ${JSON.stringify(ref.data.info.id)} does not exist (or has expired, or belongs to another key)`
            : 'a core/ASSET reference needs info.id: {"__type": "core/ASSET", "info": {"id": "<asset id>"}}',
        });
        continue;
      }
      copy ??= { ...values };
      copy[name] = record.input.name;
      inputs.set(record.input.key, record.input);
    }
    if (copy) out[id] = { ...(node as Record<string, unknown>), inputs: copy };
  }
  if (problems.length > 0)
    throw new ApiError(
      422,
      "missing_asset",
      `The workflow references ${problems.length === 1 ? "an asset" : `${problems.length} assets`} it cannot use: node ${problems[0]!.node_id} input ${problems[0]!.input}: ${problems[0]!.message}`,
      { asset_ids: missing, problems },
    );
  return { workflow: out, inputs: [...inputs.values()] };
}

/**
 * The asset routes of Comfy API v2 (`../shared/comfy-api-v2-openapi.yaml`): upload an input
 * file (`POST /api/v2/assets`, multipart, at most `--upload-limit` bytes), read its record
 * and bytes, delete its record. Uploaded assets are referenced in `POST /api/v2/jobs`
 * workflows as `core/ASSET` objects. Not served: `from-hash` and `by-hash` (no blake3 is
 * computed: `hash` is null, `expected_hash` is not checked) and `Range`.
 */
export function registerV2AssetRoutes(
  app: FastifyInstance,
  ctx: GatewayContext,
  originOf: (request: FastifyRequest) => string,
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const store = new V2AssetStore(ctx);
  const owned = async (request: FastifyRequest, id: string): Promise<AssetRecord> => {
    const record = await store.get(id, request.caller!, ctx.auth.enabled);
    if (!record) throw new ApiError(404, "not_found", `No asset ${JSON.stringify(id)}`);
    return record;
  };

  typed.post(
    "/api/v2/assets",
    {
      schema: {
        summary: "Comfy API v2: upload an asset (multipart)",
        description: `Multipart form: a \`file\` part (at most the gateway's upload limit, \`--upload-limit\`), \`content_type\` and \`file_path\`; optional \`tags\` and \`expires_in\` (seconds, 60–604800; default ${ASSET_RETENTION_SECONDS}). 201 for new bytes, 200 when the same bytes were stored before. Reference the asset in a workflow as \`{"__type": "core/ASSET", "info": {"id": "<id>"}}\`. \`Idempotency-Key\` is single-use.`,
        tags: ["comfy api v2"],
        operationId: "postAssets",
        consumes: ["multipart/form-data"],
        headers: z.object({ "idempotency-key": z.string().max(255).optional() }),
        response: {
          200: V2AssetSchema.describe("The bytes were stored before; a new asset over them"),
          201: V2AssetSchema.describe("New bytes stored; asset minted"),
          401: envelope("`unauthorized`"),
          403: envelope("`forbidden`: the key is limited to some workflows"),
          422: envelope(
            "`invalid_request` (every problem of the form in `details.issues`), `payload_too_large` (`details.limit_bytes`) or `idempotency_key_reuse`",
          ),
          500: envelope("`upstream_error`: storage failed"),
        },
      },
      preValidation: async (request) => mayUseRawGraphs(request.caller!),
    },
    async (request, reply) => {
      const caller = request.caller!;
      const header = request.headers["idempotency-key"];
      const key = typeof header === "string" ? IdempotencyStore.check(header) : undefined;
      const scope = `${caller.keyId}:assets`;
      if (key) await ctx.idempotency.claim(scope, key, "", "single-use");
      let record: AssetRecord;
      let created: boolean;
      try {
        const form = await readAssetForm(request, ctx);
        let put: Awaited<ReturnType<typeof putInput>>;
        try {
          put = await putInput(ctx.storage, form.bytes, form.fields.file_path);
        } catch (cause) {
          throw Object.assign(
            new ApiError(500, "upstream_error", "The asset could not be stored; retry later."),
            { cause },
          );
        }
        created = put.created;
        const ttl = form.fields.expires_in ?? ASSET_RETENTION_SECONDS;
        const now = Date.now();
        record = {
          id: randomUUID(),
          owner: caller.keyId,
          input: put.input,
          contentType: form.fields.content_type,
          filePath: form.fields.file_path,
          tags: form.fields.tags ?? [],
          createdAt: new Date(now).toISOString(),
          expiresAt: new Date(now + ttl * 1000).toISOString(),
        };
        await store.save(record, ttl);
      } catch (e) {
        // Definitively no asset: the key may be used again.
        if (key) await ctx.idempotency.release(scope, key);
        throw e;
      }
      request.log.info(
        { asset: record.id, key: caller.name, size: record.input.size, created },
        "asset stored",
      );
      reply.code(created ? 201 : 200);
      return assetView(record, originOf(request), created);
    },
  );

  typed.get(
    "/api/v2/assets/:id",
    {
      schema: {
        summary: "Comfy API v2: an uploaded asset's record, with a fresh content URL",
        tags: ["comfy api v2"],
        operationId: "getAsset",
        params: IdParams,
        response: {
          200: V2AssetSchema,
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`: no such asset for this key"),
        },
      },
    },
    async (request) => assetView(await owned(request, request.params.id), originOf(request)),
  );

  typed.delete(
    "/api/v2/assets/:id",
    {
      schema: {
        summary: "Comfy API v2: delete an uploaded asset's record",
        description:
          "The bytes stay in storage: other assets with the same content, and queued jobs that reference it, still use them.",
        tags: ["comfy api v2"],
        operationId: "deleteAsset",
        params: IdParams,
        response: {
          204: z.null().describe("Deleted"),
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`: no such asset for this key"),
        },
      },
    },
    async (request, reply) => {
      await owned(request, request.params.id);
      await store.delete(request.params.id);
      return reply.code(204).send(null);
    },
  );

  typed.get(
    "/api/v2/assets/:id/content",
    {
      schema: {
        summary: "Comfy API v2: an uploaded asset's bytes",
        tags: ["comfy api v2"],
        operationId: "getAssetContent",
        params: IdParams,
        response: {
          200: {
            description: "The full content (`Range` is not served)",
            content: {
              "application/octet-stream": { schema: z.string().meta({ format: "binary" }) },
            },
          },
          401: envelope("`unauthorized`"),
          404: envelope("`not_found`"),
        },
      },
    },
    async (request, reply) => {
      const record = await owned(request, request.params.id);
      let body;
      try {
        body = await ctx.storage.get(record.input.key);
      } catch (e) {
        if (isComfycError(e, "NOT_FOUND"))
          throw new ApiError(404, "not_found", "The asset's bytes are no longer stored");
        throw e;
      }
      const name =
        record.filePath
          .split("/")
          .pop()!
          .replace(/[^\w.-]/g, "_") || "asset";
      // Served as bytes, never as the client-declared type: an uploaded text/html stays inert.
      reply
        .header("content-type", "application/octet-stream")
        .header("content-length", String(record.input.size))
        .header("content-disposition", `attachment; filename="${name}"`)
        .header("x-content-type-options", "nosniff");
      return reply.send(body as never);
    },
  );
}
