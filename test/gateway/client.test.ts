/**
 * `comfyc gateway client`: types generated from a running gateway's /openapi.json with
 * openapi-typescript compile under `tsc --strict`, catch a wrongly typed parameter, and an
 * openapi-fetch client typed by them submits and reads a job on that gateway (real Redis,
 * worker and test server).
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Cluster } from "../scale/cluster.js";
import { cli } from "../helpers-cli.js";
import { ROOT, typecheckDirs } from "../helpers.js";
import { startGatewayCluster, type GatewayCluster } from "./helpers.js";

let cluster: Cluster;
let base: string;
let key: string;
// Under the repository's node_modules, so the client code resolves openapi-fetch as a user's would.
const dir = join(ROOT, "node_modules", ".cache", `comfyc-gateway-client-${process.pid}`);

let started: GatewayCluster | undefined;

beforeAll(async () => {
  started = await startGatewayCluster({ keys: [{ name: "typed" }] });
  ({ cluster, base } = started);
  [key] = started.keys as [string];
  mkdirSync(dir, { recursive: true });
}, 60_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await started?.close();
});

/** A program using the generated types: a typed submission and read, and one wrong call. */
const program = `import createClient from "openapi-fetch";
import type { paths } from "./gateway.js";

const api = createClient<paths>({
  baseUrl: process.env["GATEWAY"]!,
  headers: { authorization: \`Bearer \${process.env["KEY"]}\` },
});
const { data, error } = await api.POST("/v1/workflows/invert/jobs", {
  body: { params: { width: 16, prefix: "gw/typed" } },
});
if (error) throw new Error(error.error.message);
const { data: job } = await api.GET("/v1/jobs/{id}", { params: { path: { id: data.id } } });
const status: "queued" | "running" | "succeeded" | "failed" | "cancelled" | undefined = job?.status;
if (process.env["NEVER"])
  // @ts-expect-error width is a number in the workflow's zod schema
  await api.POST("/v1/workflows/invert/jobs", { body: { params: { width: "16" } } });
console.log(JSON.stringify({ id: data.id, status }));
`;

test("generated types compile, reject a wrongly typed parameter, and type a working client", async () => {
  const out = join(dir, "gateway.d.ts");
  const made = await cli("gateway", "client", "--url", base, "--out", out);
  expect(made.code, made.stderr).toBe(0);
  const types = readFileSync(out, "utf8");
  expect(types).toContain('"/v1/workflows/invert/jobs"');
  expect(types).toContain('"/api/v2/jobs"');
  writeFileSync(join(dir, "call.ts"), program);
  // A user's ESM project (Node stops looking for package.json at node_modules).
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  // Compiles under --strict; the @ts-expect-error line would fail the check if width were untyped.
  expect(await typecheckDirs([dir])).toBe("");

  const output = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ["--import", "tsx", join(dir, "call.ts")],
      { cwd: ROOT, env: { ...process.env, GATEWAY: base, KEY: key } },
      (error, stdout, stderr) =>
        error ? reject(new Error(stderr || String(error))) : resolve(stdout),
    ),
  );
  const { id, status } = JSON.parse(output.trim().split("\n").at(-1)!) as {
    id: string;
    status: string;
  };
  expect(["queued", "running", "succeeded"]).toContain(status);
  const record = await cluster.queue.waitFor(id, { timeoutMs: 30_000 });
  expect(record.state).toBe("succeeded");
}, 120_000);

test("a gateway that cannot be reached, and a bad --url, are typed errors", async () => {
  const unreachable = await cli(
    "gateway",
    "client",
    "--url",
    "http://127.0.0.1:1",
    "--out",
    join(dir, "x.d.ts"),
  );
  expect(unreachable.code).toBe(8);
  expect(unreachable.stderr).toContain("http://127.0.0.1:1/openapi.json");
  const bad = await cli("gateway", "client", "--url", "ftp://x", "--out", join(dir, "x.d.ts"));
  expect(bad.code).toBe(2);
  const notGateway = await cli(
    "gateway",
    "client",
    "--url",
    `${base}/v1/jobs/`,
    "--out",
    join(dir, "x.d.ts"),
  );
  expect(notGateway.code).not.toBe(0);
  expect(notGateway.stderr).toContain("HTTP 401");
});
