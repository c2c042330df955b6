import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  V2ErrorEnvelopeSchema,
  V2JobSchema,
  V2OutputSchema,
  V2ProgressSchema,
  V2SubmitJobSchema,
} from "../../src/protocol/comfy-api-v2.js";
import { ROOT } from "../helpers.js";

// test/fixtures/comfy-api-v2/openapi.yaml is a copy of ../shared/comfy-api-v2-openapi.yaml (v2.0.0).
const spec = readFileSync(join(ROOT, "test", "fixtures", "comfy-api-v2", "openapi.yaml"), "utf8");

const job = {
  id: "7f3d2c1b-9a8e-4d6f-b012-3c4d5e6f7a8b",
  status: "running",
  created_at: "2026-01-01T00:00:00Z",
  started_at: "2026-01-01T00:00:01Z",
  completed_at: null,
  expires_at: "2026-01-08T00:00:00Z",
  queue_position: null,
  progress: {
    value: 0.42,
    nodes_done: 11,
    nodes_total: 31,
    current_node: "12",
    step: 21,
    steps: 50,
  },
  outputs: [],
  error: null,
  metrics: { queue_ms: 9000, execution_ms: null },
  urls: {
    self: "/api/v2/jobs/7f3d",
    events: "/api/v2/jobs/7f3d/events",
    cancel: "/api/v2/jobs/7f3d/cancel",
  },
};

describe("Comfy API v2 schemas", () => {
  test("every status and output type of the document is in the schemas", () => {
    for (const s of [
      "queued",
      "running",
      "succeeded",
      "canceling",
      "canceled",
      "failed",
      "expired",
    ]) {
      expect(spec).toContain(`- ${s}`);
      expect(V2JobSchema.safeParse({ ...job, status: s }).success, s).toBe(true);
    }
    for (const t of ["image", "video", "audio", "text", "file", "latent"])
      expect(V2OutputSchema.shape.type.safeParse(t).success, t).toBe(true);
  });

  test("a job parses; a missing required field or a progress above 1 does not", () => {
    expect(V2JobSchema.parse(job).progress?.value).toBe(0.42);
    const { urls: _urls, ...noUrls } = job;
    expect(V2JobSchema.safeParse(noUrls).success).toBe(false);
    expect(V2ProgressSchema.safeParse({ value: 1.5, nodes_done: 1, nodes_total: 1 }).success).toBe(
      false,
    );
  });

  test("submission bodies: extra_data is closed, errors keep unknown fields", () => {
    expect(
      V2SubmitJobSchema.safeParse({ workflow: {}, extra_data: { api_key_comfy_org: "k" } }).success,
    ).toBe(true);
    expect(V2SubmitJobSchema.safeParse({ workflow: {}, extra_data: { other: 1 } }).success).toBe(
      false,
    );
    const e = V2ErrorEnvelopeSchema.parse({
      error: { code: "queue_full", message: "m", extra: 1 },
    });
    expect((e.error as Record<string, unknown>)["extra"]).toBe(1);
  });
});
