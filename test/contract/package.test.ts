import { execFile } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { ROOT, tempDir } from "../helpers.js";

const run = promisify(execFile);

/** The export names of a package entry as an installed user sees it: the built dist/. */
async function exportsOf(entry: string): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(m).sort()));`,
    ],
    { cwd: ROOT },
  );
  return JSON.parse(stdout) as string[];
}

// `npm test` builds dist/ before running the tests; these check what users get.
describe("the built package", () => {
  test.each([
    [
      "comfyc",
      [
        "$unsafeLink",
        "appliedComfyuiRelease",
        "COMFYUI_BEHAVIOURS",
        "ComfycError",
        "ComfyuiVersionError",
        "NEWEST_COMFYUI_VERSION",
        "OLDEST_COMFYUI_VERSION",
        "GraphError",
        "ParameterizedWorkflow",
        "ParamsInvalidError",
        "PromptInvalidError",
        "Workflow",
        "comboOptions",
        "comfyuiText",
        "comfyuiRules",
        "comfyuiVersionNote",
        "compareComfyuiVersions",
        "defineNode",
        "defineWorkflow",
        "describeError",
        "describeNodeErrors",
        "exactLimit",
        "fileBytes",
        "formatLimit",
        "formatLocation",
        "formatRejection",
        "imageParam",
        "isComfycError",
        "isOutput",
        "isWorkflow",
        "localFile",
        "nodeClassFromSpec",
        "nodeErrorsHint",
        "normalizeObjectInfo",
        "parseComfyuiVersion",
        "parseJsonLossless",
        "promptLinks",
        "serializePrompt",
        "tryParseComfyuiVersion",
        "UINT64_MAX",
        "validatePrompt",
        "workflow",
        "writtenAsFloat",
      ],
    ],
    [
      "comfyc/runtime",
      [
        "CancelledError",
        "CancelUndeliveredError",
        "ClientClosedError",
        "ComfyClient",
        "DEFAULT_CANCEL_TIMEOUT_MS",
        "DEFAULT_REPLY_LIMITS",
        "DEFAULT_UNREACHABLE_TIMEOUT_MS",
        "ExecutionFailedError",
        "Http",
        "HttpError",
        "InterruptedError",
        "JobLostError",
        "JobTimeoutError",
        "JobsCancelReplySchema",
        "PromptRejectedError",
        "ReplyTooLargeError",
        "Routes",
        "ServerGoneError",
        "ServerJobDetailSchema",
        "ServerJobSchema",
        "ServerJobsPageSchema",
        "ServerStatusError",
        "filesOf",
        "isTransient",
        "parseObjectInfoReply",
        "safeOutputPath",
      ],
    ],
    [
      "comfyc/testing",
      [
        "BUNDLED_OBJECT_INFO",
        "DEFAULT_COMFYUI_VERSION",
        "MODEL_FOLDERS",
        "freePort",
        "startRedisServer",
        "startTestServer",
      ],
    ],
    [
      "comfyc/import",
      [
        "MAX_WORKFLOW_JSON_BYTES",
        "WorkflowImportError",
        "convertWorkflow",
        "formatProblem",
        "importWorkflow",
        "isValidConnection",
        "readWorkflowSource",
        "seededRandom",
      ],
    ],
    [
      "comfyc/scale",
      [
        "ComfyPool",
        "ComfyQueue",
        "ComfyWorker",
        "LocalStorage",
        "NoCapableServerError",
        "PoolJob",
        "QUEUE_JOB_STATES",
        "ScaleMetrics",
        "WORKER_STALE_MS",
        "capabilitiesOf",
        "capabilityId",
        "checkKey",
        "connectRedis",
        "describeMissing",
        "missingFrom",
        "openStorage",
        "outputKey",
        "requirementsOf",
        "safeSegment",
        "storeInput",
      ],
    ],
    ["comfyc/scale/s3", ["S3Storage"]],
    [
      "comfyc/gateway",
      [
        "ApiError",
        "ErrorEnvelopeSchema",
        "WebhookPolicy",
        "addKey",
        "createGateway",
        "formatRate",
        "hashKey",
        "listKeys",
        "newWebhookSecret",
        "parseRate",
        "postWebhook",
        "revokeKey",
      ],
    ],
    [
      "comfyc/codegen",
      [
        "checkGenerated",
        "formatDriftReport",
        "generate",
        "isUpToDate",
        "loadObjectInfo",
        "selectClasses",
        "writeGenerated",
      ],
    ],
  ])("%s exports exactly its public API", async (entry, names) => {
    expect(await exportsOf(entry)).toEqual([...names].sort());
  });

  test("every entry has type declarations where package.json says", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      exports: Record<string, { types?: string } | string>;
    };
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue;
      expect(readFileSync(join(ROOT, target.types!), "utf8"), entry).toMatch(/export/);
    }
  });

  test("the bin, started through a symlink as npm's .bin does, compiles and checks code", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    const bin = join(tempDir(), "comfyc");
    symlinkSync(join(ROOT, pkg.bin["comfyc"]!), bin);
    const { stdout } = await run(
      process.execPath,
      [bin, "compile", join(ROOT, "examples", "hires-fix.ts")],
      {
        cwd: ROOT,
      },
    );
    expect(`${stdout}`).toBe(
      readFileSync(join(ROOT, "examples", "golden", "hires-fix.json"), "utf8"),
    );
    const out = tempDir();
    const codegen = [bin, "codegen", "--file", join(ROOT, "data", "object_info.json")];
    await run(process.execPath, [...codegen, "--out", out, "--include", "core"]);
    const check = await run(process.execPath, [
      ...codegen,
      "--out",
      out,
      "--include",
      "core",
      "--check",
    ]);
    expect(check.stderr + check.stdout).toMatch(/up to date/);
    // Spawns the CLI several times; slow on a loaded machine.
  }, 600_000);
});
