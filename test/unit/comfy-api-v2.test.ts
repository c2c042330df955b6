import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { z } from "zod";
import {
  V2_ERROR_CODES,
  V2_RESERVED_SUBMIT_FIELDS,
  V2_SPEC_VERSION,
  V2_TERMINAL,
  V2AssetFromHashSchema,
  V2AssetReferenceSchema,
  V2AssetSchema,
  V2AssetUploadFieldsSchema,
  V2ErrorEnvelopeSchema,
  V2JobErrorSchema,
  V2JobSchema,
  V2JobStatusSchema,
  V2JobUrlsSchema,
  V2JobWorkflowResponseSchema,
  V2LogEventSchema,
  V2OutputSchema,
  V2OutputTypeSchema,
  V2PreviewEventSchema,
  V2ProgressSchema,
  V2SseEventSchemas,
  V2StatusEventSchema,
  V2SubmitJobSchema,
  v2AssetReference,
} from "../../src/protocol/comfy-api-v2.js";
import {
  HAS_SHARED_V2_OPENAPI,
  V2_OPENAPI_FIXTURE,
  V2_OPENAPI_SHARED,
  v2ComponentValidator,
  v2Document,
  v2SseEventComponent,
} from "../comfy-api-v2-openapi.js";

const components = v2Document["components"].schemas as Record<string, any>;
const paths = v2Document["paths"] as Record<string, any>;

/** Each schema of the document and its zod counterpart in src/protocol/comfy-api-v2.ts. */
const COMPONENTS: Record<string, z.ZodType> = {
  Asset: V2AssetSchema,
  Job: V2JobSchema,
  JobWorkflowResponse: V2JobWorkflowResponseSchema,
  JobStatus: V2JobStatusSchema,
  JobUrls: V2JobUrlsSchema,
  Progress: V2ProgressSchema,
  Output: V2OutputSchema,
  OutputType: V2OutputTypeSchema,
  JobError: V2JobErrorSchema,
  ErrorEnvelope: V2ErrorEnvelopeSchema,
  StatusEvent: V2StatusEventSchema,
  PreviewEvent: V2PreviewEventSchema,
  LogEvent: V2LogEventSchema,
  AssetReference: V2AssetReferenceSchema,
};

/** Request bodies and their zod counterparts. */
const BODIES: [string, any, z.ZodType][] = [
  [
    "POST /api/v2/jobs",
    paths["/api/v2/jobs"].post.requestBody.content["application/json"].schema,
    V2SubmitJobSchema,
  ],
  [
    "POST /api/v2/assets/from-hash",
    paths["/api/v2/assets/from-hash"].post.requestBody.content["application/json"].schema,
    V2AssetFromHashSchema,
  ],
];

const accepts = (schema: z.ZodType, value: unknown) => schema.safeParse(value).success;
const shapeOf = (schema: z.ZodType): Record<string, z.ZodType> =>
  (schema as unknown as { shape: Record<string, z.ZodType> }).shape;
const docNullable = (prop: any) =>
  prop.nullable === true ||
  (Array.isArray(prop.anyOf) && prop.anyOf.some((s: any) => s.enum?.includes(null)));

/** Each property of an object schema: documented, required and nullable as the document says. */
function compareObject(where: string, doc: any, zod: z.ZodType, extra: readonly string[] = []) {
  const shape = shapeOf(zod);
  const documented = Object.keys(doc.properties ?? {});
  expect(Object.keys(shape).sort(), `${where}: properties`).toEqual(
    [...documented, ...extra].sort(),
  );
  const required = new Set<string>(doc.required ?? []);
  for (const name of documented) {
    const prop = doc.properties[name];
    expect(!accepts(shape[name]!, undefined), `${where}.${name} required`).toBe(required.has(name));
    if (prop.type || prop.anyOf || prop.allOf)
      expect(accepts(shape[name]!, null), `${where}.${name} nullable`).toBe(docNullable(prop));
    if (prop.enum) expect(accepts(shape[name]!, prop.enum[0]), `${where}.${name} enum`).toBe(true);
  }
}

describe("Comfy API v2 schemas against the OpenAPI document", () => {
  // Without ../shared the vendored copy is all there is (one skip line: test/shared.setup.ts).
  test.runIf(HAS_SHARED_V2_OPENAPI)("the vendored document is the shared one", () => {
    expect(readFileSync(V2_OPENAPI_FIXTURE, "utf8")).toBe(readFileSync(V2_OPENAPI_SHARED, "utf8"));
  });

  test("the spec version and every component schema have a zod counterpart", () => {
    expect(v2Document["info"].version).toBe(V2_SPEC_VERSION);
    expect(Object.keys(components).sort()).toEqual(Object.keys(COMPONENTS).sort());
  });

  test.each(Object.entries(COMPONENTS))("%s: fields, required, nullable, enums", (name, zod) => {
    const doc = components[name];
    if (doc.enum) {
      expect((zod as unknown as { options: string[] }).options).toEqual(doc.enum);
      return;
    }
    compareObject(name, doc, zod);
  });

  test("nested objects: the error envelope's error, an asset reference's info", () => {
    compareObject(
      "ErrorEnvelope.error",
      components["ErrorEnvelope"].properties.error,
      shapeOf(V2ErrorEnvelopeSchema)["error"]!,
    );
    compareObject(
      "AssetReference.info",
      components["AssetReference"].properties.info,
      shapeOf(V2AssetReferenceSchema)["info"]!,
    );
  });

  test.each(BODIES)("%s body: fields, required", (name, doc, zod) => {
    compareObject(name, doc, zod, name === "POST /api/v2/jobs" ? V2_RESERVED_SUBMIT_FIELDS : []);
  });

  test("the asset upload form: every text field, required as documented", () => {
    const doc = paths["/api/v2/assets"].post.requestBody.content["multipart/form-data"].schema;
    const { file: _file, ...fields } = doc.properties;
    compareObject(
      "POST /api/v2/assets form",
      { ...doc, properties: fields, required: doc.required.filter((r: string) => r !== "file") },
      V2AssetUploadFieldsSchema,
    );
    // Multipart fields are text: a retention override arrives as a decimal string.
    expect(
      V2AssetUploadFieldsSchema.parse({
        content_type: "image/png",
        file_path: "a.png",
        expires_in: "86400",
      }).expires_in,
    ).toBe(86400);
    expect(
      accepts(V2AssetUploadFieldsSchema, { content_type: "x", file_path: "a", expires_in: "59" }),
    ).toBe(false);
  });

  test("every SSE event of the document has its payload schema", () => {
    const events = paths["/api/v2/jobs/{id}/events"].get["x-sse-events"];
    expect(Object.keys(V2SseEventSchemas).sort()).toEqual(Object.keys(events).sort());
    for (const [event, zod] of Object.entries(V2SseEventSchemas))
      expect(COMPONENTS[v2SseEventComponent(event)!], event).toBe(zod);
  });

  test("terminal statuses are the lifecycle's; error codes are the documented ones", () => {
    expect([...V2_TERMINAL].sort()).toEqual(["canceled", "expired", "failed", "succeeded"]);
    const text = readFileSync(V2_OPENAPI_FIXTURE, "utf8");
    for (const [code, status] of Object.entries(V2_ERROR_CODES)) {
      expect(text, code).toContain(`\`${code}\``);
      expect(status).toBeGreaterThanOrEqual(400);
    }
  });
});

const job = {
  id: "7f3d2c1b-9a8e-4d6f-b012-3c4d5e6f7a8b",
  status: "running",
  created_at: "2026-01-01T00:00:00Z",
  started_at: "2026-01-01T00:00:01Z",
  completed_at: null,
  expires_at: "2026-01-08T00:00:00Z",
  queue_position: null,
  progress: { value: 0.42, nodes_done: 11, nodes_total: 31, current_node: "12", step: 21 },
  outputs: [
    {
      node_id: "9",
      name: "ComfyUI_00001_.png",
      type: "image",
      content_type: "image/png",
      size_bytes: 1848320,
      id: "9f8a1c0d-2b3e-4f56-8a7b-1c2d3e4f5a6b",
      hash: null,
      url: "http://127.0.0.1:8189/api/v2/assets/9f8a1c0d-2b3e-4f56-8a7b-1c2d3e4f5a6b/content",
      url_expires_at: "2026-01-01T01:00:00Z",
      job_id: "7f3d2c1b-9a8e-4d6f-b012-3c4d5e6f7a8b",
    },
  ],
  error: null,
  metrics: { queue_ms: 9000, execution_ms: null },
  urls: {
    self: "/api/v2/jobs/7f3d",
    events: "/api/v2/jobs/7f3d/events",
    cancel: "/api/v2/jobs/7f3d/cancel",
  },
};
const asset = {
  id: "9f8a1c0d-2b3e-4f56-8a7b-1c2d3e4f5a6b",
  hash: "blake3:9f8a",
  size_bytes: 4816293,
  content_type: "image/png",
  file_path: "photo.png",
  created_new: true,
  created_at: "2026-01-01T00:00:00Z",
  url: "http://127.0.0.1:8189/api/v2/assets/9f8a1c0d-2b3e-4f56-8a7b-1c2d3e4f5a6b/content",
  url_expires_at: "2026-01-01T01:00:00Z",
  expires_at: null,
};
const SAMPLES: Record<string, unknown> = {
  Job: job,
  Output: job.outputs[0],
  Progress: job.progress,
  JobUrls: job.urls,
  JobError: { code: "node_execution_error", message: "boom", node_id: "3", traceback: null },
  ErrorEnvelope: {
    error: { code: "invalid_workflow", message: "m", details: { node_errors: {} } },
  },
  StatusEvent: { status: "queued", queue_position: 2 },
  PreviewEvent: { node_id: "3", content_type: "image/jpeg", data_base64: "AAAA" },
  LogEvent: { level: "info", message: "x" },
  Asset: asset,
  AssetReference: { __type: "core/ASSET", info: { id: asset.id, file_path: "photo.png" } },
  JobWorkflowResponse: { format: "api", workflow: { "1": { class_type: "X", inputs: {} } } },
};

/** A valid sample, with each field dropped, nulled and given a wrong type in turn. */
function variants(sample: Record<string, unknown>): [string, unknown][] {
  const out: [string, unknown][] = [["as is", sample]];
  for (const key of Object.keys(sample)) {
    const { [key]: _dropped, ...rest } = sample;
    out.push([`without ${key}`, rest]);
    out.push([`${key}: null`, { ...sample, [key]: null }]);
    out.push([
      `${key}: wrong type`,
      { ...sample, [key]: typeof sample[key] === "number" ? "x" : 7 },
    ]);
    if (typeof sample[key] === "number")
      out.push([`${key}: fraction`, { ...sample, [key]: (sample[key] as number) + 0.5 }]);
  }
  out.push(["an unknown field", { ...sample, added_in_2_1: true }]);
  return out;
}

describe("Comfy API v2 schemas accept what the document accepts", () => {
  test.each(Object.entries(SAMPLES))(
    "%s: zod and the document agree on every variant",
    (name, sample) => {
      const validate = v2ComponentValidator(name);
      expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);
      for (const [what, value] of variants(sample as Record<string, unknown>))
        expect(accepts(COMPONENTS[name]!, value), `${name} ${what}`).toBe(validate(value));
    },
  );

  test("a progress value above 1 and a job status not in the lifecycle are rejected", () => {
    expect(accepts(V2ProgressSchema, { value: 1.5, nodes_done: 1, nodes_total: 1 })).toBe(false);
    expect(accepts(V2JobSchema, { ...job, status: "done" })).toBe(false);
  });

  test("submission: extra_data is closed; webhook_url and inputs are reserved; unknown keys dropped", () => {
    const body = { workflow: { "1": { class_type: "X", inputs: {} } } };
    expect(accepts(V2SubmitJobSchema, { ...body, extra_data: { api_key_comfy_org: "k" } })).toBe(
      true,
    );
    expect(accepts(V2SubmitJobSchema, { ...body, extra_data: { other: 1 } })).toBe(false);
    for (const field of V2_RESERVED_SUBMIT_FIELDS) {
      const parsed = V2SubmitJobSchema.safeParse({ ...body, [field]: "http://hook" });
      expect(parsed.success, field).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(/reserved/);
    }
    expect(V2SubmitJobSchema.parse({ ...body, note: 1 })).toEqual(body);
  });

  test("an error envelope keeps unknown fields", () => {
    const e = V2ErrorEnvelopeSchema.parse({
      error: { code: "queue_full", message: "m", extra: 1 },
    });
    expect((e.error as Record<string, unknown>)["extra"]).toBe(1);
  });

  test("v2AssetReference builds the document's core/ASSET reference", () => {
    const ref = v2AssetReference(asset);
    expect(ref).toEqual({
      __type: "core/ASSET",
      info: { id: asset.id, hash: asset.hash, file_path: "photo.png" },
    });
    expect(v2ComponentValidator("AssetReference")(ref)).toBe(true);
    expect(v2AssetReference({ id: "a" })).toEqual({ __type: "core/ASSET", info: { id: "a" } });
  });
});
