import { ComfycError } from "../errors.js";

/**
 * The longest delay a Node timer takes: 2^31 - 1 ms (about 24.8 days). Node runs a longer one
 * after 1 ms (with a `TimeoutOverflowWarning`), so a timeout above it would fire at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks the millisecond settings `names` of `values` (a client's options, a job's `timeouts`):
 * each unset, or a number from 0 to {@link MAX_TIMER_MS}. Throws `USAGE` naming the first bad
 * one (`where` prefixes its name: `"timeouts."`), instead of a timer that fires at once (a
 * negative value, or one too big for Node) or never (`NaN`, a string).
 */
export function checkDurations(
  values: object | undefined,
  names: readonly string[],
  where = "",
): void {
  if (values === undefined) return;
  for (const name of names) {
    const v = (values as Record<string, unknown>)[name];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > MAX_TIMER_MS)
      throw new ComfycError(
        "USAGE",
        `${where}${name} must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${describe(v)}`,
        `Node's timers wait at most ${MAX_TIMER_MS} ms (about 24.8 days); leave it unset for the default` +
          " (no limit, for a job's timeouts).",
      );
  }
}

function describe(v: unknown): string {
  return typeof v === "number" ? String(v) : `${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}
