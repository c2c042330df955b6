import type { Command } from "commander";
import { ComfycError, type ErrorCode } from "../errors.js";
import type { JobRecord } from "../scale/record.js";
import { EXIT_CODES } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { replyLimitsFromEnv } from "./options.js";

// BullMQ, ioredis, pino, prom-client and the AWS SDK are imported inside the actions, so no
// other command pays for them at start-up.

const collect = (value: string, previous: string[]) => [...previous, value];

const DEFAULT_REDIS = process.env["COMFYC_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A non-negative integer flag, or a USAGE error naming the flag. */
function intFlag(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new ComfycError(
      "USAGE",
      `${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`,
      `Pass a whole number, e.g. ${name} ${Math.max(min, 1)}.`,
    );
  return n;
}

interface WorkerFlags {
  redis: string;
  server: string;
  header: string[];
  queue: string;
  concurrency: string;
  metricsPort?: string;
  storage: string;
  lockDuration?: string;
  grace: string;
}

/** `comfyc worker`: one worker for one ComfyUI instance, until SIGTERM. */
export function registerWorker(program: Command, io: CliIo): void {
  program
    .command("worker")
    .description("Run jobs from the Redis queue on one ComfyUI instance until SIGTERM")
    .option("--redis <url>", "Redis URL (default $COMFYC_REDIS_URL)", DEFAULT_REDIS)
    .option(
      "--server <url>",
      "the ComfyUI instance this worker feeds (default $COMFYUI_URL)",
      process.env["COMFYUI_URL"] ?? "http://127.0.0.1:8188",
    )
    .option("--header <header>", 'extra HTTP header "Name: value" (repeatable)', collect, [])
    .option("--queue <name>", "queue name", "comfyc")
    .option("--concurrency <n>", "jobs at once on the instance", "1")
    .option("--metrics-port <n>", "serve Prometheus metrics on this port (/metrics)")
    .option(
      "--storage <url>",
      "where outputs go: a folder, file:// or s3://bucket/prefix?…",
      "comfyc-outputs",
    )
    .option("--lock-duration <ms>", "how long a job's lock lasts if this worker dies", "30000")
    .option(
      "--grace <ms>",
      "on SIGTERM, how long to let a running job finish before handing it back",
      "30000",
    )
    .action(async (flags: WorkerFlags) => {
      const concurrency = intFlag("--concurrency", flags.concurrency, 1)!;
      const metricsPort = intFlag("--metrics-port", flags.metricsPort);
      const lockDurationMs = intFlag("--lock-duration", flags.lockDuration, 1000)!;
      const graceMs = intFlag("--grace", flags.grace)!;
      const [{ ComfyWorker }, { openStorage }, { parseHeaders }] = await Promise.all([
        import("../scale/worker.js"),
        import("../scale/storage.js"),
        import("../codegen/source.js"),
      ]);
      const storage = await openStorage(flags.storage);
      const worker = new ComfyWorker({
        redis: flags.redis,
        server: {
          url: flags.server,
          headers: parseHeaders(flags.header),
          limits: replyLimitsFromEnv(),
        },
        queue: flags.queue,
        concurrency,
        storage,
        lockDurationMs,
      });
      let stopping: Promise<void> | undefined;
      const stopped = new Promise<void>((resolve) => {
        const onSignal = () => {
          if (stopping) process.exit(130);
          io.info(
            "Stopping: no new jobs; letting the running one finish (signal again to quit at once)…",
          );
          stopping = worker.close({ graceMs }).then(resolve);
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
      const metrics =
        metricsPort !== undefined ? await worker.metrics.serve(metricsPort) : undefined;
      io.info(`comfyc worker ${worker.id}: waiting for ${worker.server}…`);
      await Promise.race([worker.start(), stopped]);
      if (!stopping) {
        io.info(
          `comfyc worker ${worker.id}: serving ${worker.server} on queue "${flags.queue}" lane ${worker.lane}; outputs to ${storage.location}${metrics ? `; metrics on ${metrics.url}` : ""}`,
        );
        await stopped;
      }
      metrics?.server.close();
      io.info(`comfyc worker ${worker.id}: stopped`);
    });
}

interface EnqueueFlags {
  redis: string;
  queue: string;
  param: string[];
  priority?: string;
  attempts?: string;
  json?: boolean;
  wait?: boolean;
  validate: boolean;
  schema?: string;
  url?: string;
  header: string[];
  storage?: string;
}

/** `comfyc enqueue`: put a workflow or prompt on the queue; prints the job id. */
export function registerEnqueue(program: Command, io: CliIo): void {
  program
    .command("enqueue")
    .description("Add a workflow file or API-format prompt to the Redis queue; prints the job id")
    .argument(
      "<file>",
      "a workflow .ts/.js (default export), an API-format prompt .json, an editor workflow or an image ComfyUI saved",
    )
    .option("--redis <url>", "Redis URL (default $COMFYC_REDIS_URL)", DEFAULT_REDIS)
    .option("--queue <name>", "queue name", "comfyc")
    .option("--param <name=value>", "a workflow parameter (repeatable)", collect, [])
    .option("--priority <n>", "1 is the highest; larger numbers run later")
    .option("--attempts <n>", "attempts in all, retries of transient failures included", "5")
    .option(
      "--storage <url>",
      "where local input files (LoadImage uploads) wait for a worker: the workers' --storage",
    )
    .option("--wait", "wait until the job ends and print its record")
    .option("--json", "print the job record as JSON")
    .option("--no-validate", "skip offline validation of a workflow file")
    .option(
      "--schema <object_info.json>",
      "convert an editor workflow with this saved /object_info",
    )
    .option("--url <server>", "convert an editor workflow with this server's /object_info")
    .option(
      "--header <header>",
      'extra HTTP header "Name: value" for --url (repeatable)',
      collect,
      [],
    )
    .action(async (file: string, flags: EnqueueFlags) => {
      const priority = intFlag("--priority", flags.priority);
      const attempts = intFlag("--attempts", flags.attempts, 1);
      const [{ ComfyQueue }, load, { isPlainWorkflow }, input, { schemaFromFlags }] =
        await Promise.all([
          import("../scale/queue.js"),
          import("./load.js"),
          import("../builder/define-workflow.js"),
          import("./workflow-input.js"),
          import("./schema-source.js"),
        ]);
      // Anything that is not a module is data: an API prompt as it is, an editor workflow or an
      // image converted with the node definitions --schema or --url name.
      const isModule = /\.[cm]?[jt]sx?$/.test(file);
      // Any JSON object of objects is a prompt, as for `validate` and `run`: the instance judges
      // it as POST /prompt does. Only {} is judged here, since it can run nowhere and every
      // release answers it the same way (prompt_no_outputs, exit 1), so nothing doomed is queued.
      const data = isModule
        ? undefined
        : await input.promptAndBodyFromWorkflowFile(
            file,
            () => schemaFromFlags("enqueue", flags),
            io,
            { apiPrompt: "server" },
          );
      const source = data ? data.prompt : await load.loadWorkflowModule(file);
      if (data && Object.keys(source).length === 0) await refuseEmptyPrompt(file);
      // A saved POST /prompt body runs the outputs its partial_execution_targets names, as
      // `comfyc run` sends it; a value the server cannot iterate is refused (exit 3), nothing queued.
      const targets = data && input.partialTargets(data.body, data.prompt, file);
      const params =
        isModule && !isPlainWorkflow(source as never)
          ? load.parseParams(
              flags.param,
              (source as { paramsJsonSchema(): Record<string, unknown> }).paramsJsonSchema(),
            )
          : {};
      const storage = flags.storage
        ? await (await import("../scale/storage.js")).openStorage(flags.storage)
        : undefined;
      const queue = new ComfyQueue({
        redis: flags.redis,
        name: flags.queue,
        connect: ONE_SHOT_REDIS,
        ...(storage ? { storage } : {}),
      });
      try {
        const { id } = await queue.enqueue(source, {
          params,
          compile: { validate: flags.validate !== false },
          ...(targets ? { partialExecutionTargets: targets } : {}),
          ...(priority ? { priority } : {}),
          ...(attempts !== undefined ? { attempts } : {}),
        });
        if (!flags.wait) {
          if (flags.json) io.out(JSON.stringify(await queue.getJob(id)));
          else io.out(id);
          return;
        }
        io.info(`queued ${id}; waiting…`);
        const record = await queue.waitFor(id);
        io.out(flags.json ? JSON.stringify(record) : formatRecord(record));
        if (record.state !== "succeeded" && record.error)
          throw new ComfycError(
            (record.error.code in EXIT_CODES ? record.error.code : "SERVER_ERROR") as ErrorCode,
            `Job ${id} ${record.state}: ${record.error.message}`,
            record.error.hint ?? `See the full record with \`comfyc jobs ${id} --json\`.`,
          );
      } catch (e) {
        throw redisError(e, flags.redis);
      } finally {
        await queue.close();
        await storage?.close?.();
      }
    });
}

/**
 * `{}` as `comfyc validate` judges it: ComfyUI's `validate_prompt` finds no output node in an
 * empty prompt on every release (`prompt_no_outputs`), so the same error (PROMPT_INVALID, exit 1)
 * without a schema.
 */
async function refuseEmptyPrompt(file: string): Promise<never> {
  const [{ validatePrompt }, { PromptInvalidError }] = await Promise.all([
    import("../schema/validate.js"),
    import("../builder/errors.js"),
  ]);
  // No node to look up: the schema is never read.
  const result = validatePrompt({}, { classes: new Map(), warnings: [], hash: "" });
  throw new PromptInvalidError(result.error, result.nodeErrors, undefined, `validation (${file})`);
}

interface JobsFlags {
  redis: string;
  queue: string;
  json?: boolean;
  state: string[];
  limit: string;
}

/** `comfyc jobs [id]` and `comfyc jobs cancel <id>`. */
export function registerJobs(program: Command, io: CliIo): void {
  const jobs = program
    .command("jobs")
    .description("List jobs of the Redis queue, show one, or cancel one")
    .argument("[id]", "show this job's full record")
    .option("--redis <url>", "Redis URL (default $COMFYC_REDIS_URL)", DEFAULT_REDIS)
    .option("--queue <name>", "queue name", "comfyc")
    .option("--json", "JSON: one record per line (or the one record)")
    .option(
      "--state <state>",
      "only jobs in this state: queued, running, succeeded, failed, cancelled (repeatable)",
      collect,
      [],
    )
    .option("--limit <n>", "at most this many, newest first", "50")
    .action(async (id: string | undefined, flags: JobsFlags) => {
      const limit = intFlag("--limit", flags.limit, 1)!;
      const [{ ComfyQueue }, { QUEUE_JOB_STATES }] = await Promise.all([
        import("../scale/queue.js"),
        import("../scale/record.js"),
      ]);
      for (const s of flags.state)
        if (!(QUEUE_JOB_STATES as readonly string[]).includes(s))
          throw new ComfycError(
            "USAGE",
            `Unknown state ${JSON.stringify(s)}`,
            `Use one of: ${QUEUE_JOB_STATES.join(", ")}.`,
          );
      const queue = new ComfyQueue({
        redis: flags.redis,
        name: flags.queue,
        connect: ONE_SHOT_REDIS,
      });
      try {
        if (id) {
          const record = await queue.getJob(id);
          if (!record)
            throw new ComfycError(
              "NOT_FOUND",
              `No job ${JSON.stringify(id)} in queue "${flags.queue}"`,
              "List jobs with `comfyc jobs`.",
            );
          io.out(flags.json ? JSON.stringify(record) : formatRecord(record));
          return;
        }
        const records = await queue.listJobs({
          ...(flags.state.length ? { states: flags.state as never } : {}),
          limit,
        });
        if (flags.json) for (const r of records) io.out(JSON.stringify(r));
        else {
          const counts = await queue.counts();
          const sum = (k: "waiting" | "prioritized" | "active" | "delayed" | "failed") =>
            counts.reduce((n, c) => n + c[k], 0);
          io.info(
            `queue "${flags.queue}": ${sum("waiting") + sum("prioritized")} waiting, ${sum("active")} active, ${sum("delayed")} delayed, ${sum("failed")} failed; ${counts.length} lane(s)`,
          );
          for (const r of records) io.out(formatRow(r));
        }
      } catch (e) {
        throw redisError(e, flags.redis);
      } finally {
        await queue.close();
      }
    });
  registerJobsClean(jobs, io);
  jobs
    .command("cancel")
    .description("Cancel a queued or running job (--redis, --queue and --json as for `jobs`)")
    .argument("<id>", "the job id")
    .action(async (id: string) => {
      // `jobs` owns --redis, --queue and --json: commander gives them to the parent command
      // wherever they stand, so `jobs cancel <id> --redis <url>` reads them from there.
      const flags = jobs.opts<{ redis: string; queue: string; json?: boolean }>();
      const { ComfyQueue } = await import("../scale/queue.js");
      const queue = new ComfyQueue({
        redis: flags.redis,
        name: flags.queue,
        connect: ONE_SHOT_REDIS,
      });
      try {
        const record = await queue.cancel(id);
        io.out(
          flags.json
            ? JSON.stringify(record)
            : `${id}: ${record.state === "running" ? "cancelling (the worker interrupts it)" : record.state}`,
        );
      } catch (e) {
        throw redisError(e, flags.redis);
      } finally {
        await queue.close();
      }
    });
}

/** `comfyc jobs clean`: the stored inputs' lifecycle repaired after crashes. */
export function registerJobsClean(jobs: Command, io: CliIo): void {
  jobs
    .command("clean")
    .description(
      "Delete stored input files no unfinished job needs (finished jobs release theirs at once; this repairs what a crash left)",
    )
    .requiredOption("--storage <url>", "the storage input files are in: the workers' --storage")
    .option(
      "--grace <minutes>",
      "keep references of jobs Redis does not know this long (an enqueue may be under way)",
      "10",
    )
    .action(async (flags: { storage: string; grace: string }) => {
      const parent = jobs.opts<{ redis: string; queue: string; json?: boolean }>();
      const grace = intFlag("--grace", flags.grace, 0)!;
      const [{ ComfyQueue }, { openStorage }] = await Promise.all([
        import("../scale/queue.js"),
        import("../scale/storage.js"),
      ]);
      const storage = await openStorage(flags.storage);
      const queue = new ComfyQueue({
        redis: parent.redis,
        name: parent.queue,
        connect: ONE_SHOT_REDIS,
      });
      try {
        const report = await queue.cleanInputs({ storage, unknownGraceMs: grace * 60_000 });
        io.out(
          parent.json
            ? JSON.stringify(report)
            : `queue "${parent.queue}": ${report.deleted.length} input file(s) deleted from ${storage.location}, ${report.released} stale reference(s) dropped, ${report.kept} file(s) still needed`,
        );
      } catch (e) {
        throw redisError(e, parent.redis);
      } finally {
        await queue.close();
        await storage.close?.();
      }
    });
}

/**
 * How one-shot commands (`enqueue`, `jobs`) reach Redis: two quick reconnects (about 0.6 s) and
 * 3 s per connection attempt before the first connection, then ioredis's usual reconnects (an
 * `enqueue --wait` rides out a Redis restart). `comfyc worker` and `comfyc gateway` keep
 * ioredis's default: they wait for a Redis that starts after them.
 */
const ONE_SHOT_REDIS = { startRetries: 2, startConnectTimeoutMs: 3000 } as const;

/**
 * A Redis that cannot be reached, as a typed error naming the URL (its password left out):
 * ioredis gives up on a command after its retries with `MaxRetriesPerRequestError`, and on a
 * connection that never came up (`startRetries`) with "Connection is closed.".
 */
function redisError(e: unknown, url: string): unknown {
  const name = (e as Error | undefined)?.name;
  const code = (e as { code?: string } | undefined)?.code;
  const message = (e as Error | undefined)?.message;
  if (
    name === "MaxRetriesPerRequestError" ||
    code === "ECONNREFUSED" ||
    code === "ENOTFOUND" ||
    message === "Connection is closed."
  )
    return new ComfycError(
      "SERVER_UNREACHABLE",
      `Redis at ${redactRedisUrl(url)} is not answering`,
      "Start Redis (redis-server) or pass the right --redis URL ($COMFYC_REDIS_URL).",
      { cause: e },
    );
  return e;
}

/** `url` with its password (and user name) left out, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password && !u.username) return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

function formatRow(r: JobRecord): string {
  const detail =
    r.state === "succeeded"
      ? `${r.outputs?.length ?? 0} output(s)`
      : r.error
        ? r.error.code
        : r.progress
          ? `${r.progress.nodesDone}/${r.progress.nodesTotal} nodes`
          : "";
  return [
    r.id,
    r.state.padEnd(9),
    (r.workflow ?? "-").padEnd(12),
    r.instance ?? "-",
    `attempts ${r.attempts}`,
    r.runMs !== undefined ? `${r.runMs} ms` : "",
    detail,
  ]
    .filter(Boolean)
    .join("  ");
}

function formatRecord(r: JobRecord): string {
  const lines = [
    formatRow(r),
    `  created ${r.createdAt}${r.waitMs !== undefined ? `, waited ${r.waitMs} ms` : ""}`,
  ];
  if (r.error) lines.push(`  error [${r.error.code}]: ${r.error.message}`);
  for (const o of r.outputs ?? []) lines.push(`  output ${o.key}`);
  return lines.join("\n");
}
