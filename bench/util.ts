import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const SHARED = resolve(ROOT, "..", "shared", "data");

/** Median wall time in ms of `runs` runs of `fn` (after one warm-up run). */
export async function median(runs: number, fn: () => unknown): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

export function dump(name: string): string {
  const file = readdirSync(join(SHARED, "object_info")).find((f) => f.includes(name));
  if (!file) throw new Error(`no dump matching ${name}`);
  return join(SHARED, "object_info", file);
}
