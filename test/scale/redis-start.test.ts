/**
 * One-shot commands (`comfyc enqueue`, `comfyc jobs`) against a Redis that is not there fail
 * fast with exit 8 naming the URL; a connection that did come up still rides out a restart.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { ComfyQueue } from "../../src/scale/queue.js";
import { startRedisServer } from "../../src/testing/redis.js";
import { cliProcess } from "../helpers-cli.js";
import { ROOT } from "../helpers.js";
import { freePort } from "../waits.js";

/** A TCP server that takes every connection and closes it at once, counting them. */
async function droppingServer(): Promise<{
  url: string;
  connections: () => number;
  close: () => Promise<void>;
}> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("a Redis that is not there", { timeout: 120_000 }, () => {
  // The guard: ioredis's default (20 retries per command) took 14-17 s to give up here.
  const GUARD_MS = 10_000;

  test("comfyc jobs, jobs cancel and enqueue against a closed port: exit 8 naming the URL (password left out), well before the guard", async () => {
    const url = `redis://someone:s3cret@127.0.0.1:${await freePort()}`;
    const shown = url.replace("someone:s3cret@", "");
    // One after another: three tsx start-ups at once on a loaded 2-core machine would eat the guard.
    const runs = [];
    for (const args of [
      ["jobs"],
      ["jobs", "cancel", "abc"],
      ["enqueue", join(ROOT, "examples", "sd15-txt2img.ts")],
    ])
      runs.push(await cliProcess([...args, "--redis", url], { timeoutMs: GUARD_MS }));
    for (const run of runs) {
      // null: the guard killed it.
      expect(run.code, run.stderr).toBe(EXIT_CODES.SERVER_UNREACHABLE);
      expect(run.stderr).toContain(
        `error [SERVER_UNREACHABLE]: Redis at ${shown} is not answering`,
      );
      expect(run.stderr).toContain("Start Redis (redis-server) or pass the right --redis URL");
      expect(run.stderr).not.toContain("s3cret");
    }
  });

  test("a Redis that drops every connection: the first connection is tried 3 times (startRetries 2), then the command fails", async () => {
    const server = await droppingServer();
    try {
      const queue = new ComfyQueue({ redis: server.url, connect: { startRetries: 2 } });
      try {
        await expect(queue.listJobs({ limit: 1 })).rejects.toThrow("Connection is closed.");
      } finally {
        await queue.close();
      }
      expect(server.connections()).toBe(3);
      const before = server.connections();
      const run = await cliProcess(["jobs", "--redis", server.url], { timeoutMs: 60_000 });
      expect(run.code, run.stderr).toBe(EXIT_CODES.SERVER_UNREACHABLE);
      expect(server.connections() - before).toBe(3);
    } finally {
      await server.close();
    }
  });
});

describe("a Redis that restarts after the first connection", { timeout: 60_000 }, () => {
  let stop: (() => Promise<void>) | undefined;
  afterAll(() => stop?.());

  test("a queue with startRetries keeps reconnecting once connected: commands wait through a kill and restart", async () => {
    const redis = await startRedisServer();
    stop = () => redis.stop();
    const queue = new ComfyQueue({ redis: redis.url, connect: { startRetries: 0 } });
    try {
      expect(await queue.listJobs({ limit: 1 })).toEqual([]);
      const reconnecting = new Promise<void>((r) => queue.redis.once("reconnecting", () => r()));
      await redis.restart({ kill: true });
      await reconnecting;
      expect(await queue.listJobs({ limit: 1 })).toEqual([]);
      expect(queue.redis.status).toBe("ready");
    } finally {
      await queue.close();
    }
  });
});
