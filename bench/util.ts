import { existsSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
/** `../shared/data`, the whole real corpus; a bare clone does not have it. */
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

/**
 * The real object_info dump whose file name contains `name`: from `../shared/data` when it is
 * there, else from `test/fixtures/object_info/`, else the bundled `data/object_info.json` (496
 * classes), saying so on stdout so a figure is never read against the wrong input.
 */
export function dump(name: string): string {
  for (const dir of [join(SHARED, "object_info"), join(ROOT, "test", "fixtures", "object_info")]) {
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.includes(name)) : undefined;
    if (file) return join(dir, file);
  }
  const bundled = join(ROOT, "data", "object_info.json");
  console.log(
    `  (no dump matching "${name}": ${SHARED} is absent; using ${basename(bundled)} (496 classes) instead)`,
  );
  return bundled;
}
