/**
 * A ComfyWorker in a process of its own, so a test can kill it with SIGKILL mid-job:
 * `tsx worker-process.ts <redis url> <server url> <storage dir>`. Prints "ready" once it serves.
 */
import { LocalStorage } from "../../src/scale/local-storage.js";
import { ComfyWorker } from "../../src/scale/worker.js";

const [redis, server, storage] = process.argv.slice(2) as [string, string, string];
const worker = new ComfyWorker({
  redis,
  server,
  storage: new LocalStorage(storage),
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
  healthIntervalMs: 200,
  logger: false,
});
await worker.start();
process.stdout.write("ready\n");
