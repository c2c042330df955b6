import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./helpers.js";
import { freePort } from "./waits.js";

/**
 * A real ComfyUI for contract tests, from `../shared/comfyui-real` (unmodified releases that
 * run on CPU with Debian's packages; see its README). CI has the folder beside the repository;
 * a bare clone does not, and the tests that need it are skipped with one line saying so
 * (`test/shared.setup.ts`).
 *
 * @example
 * describe.runIf(HAS_REAL_COMFYUI)("against ComfyUI 0.3.64", () => {
 *   let comfy: RealComfyui;
 *   beforeAll(async () => (comfy = await startRealComfyui("0.3.64")), 180_000);
 *   afterAll(() => comfy?.stop());
 *   test("…", async () => { const client = new ComfyClient({ url: comfy.url }); … });
 * });
 */

/** `../shared/comfyui-real`: `start.sh`, `stop.sh` and one tarball per release. */
export const COMFYUI_REAL = join(ROOT, "..", "shared", "comfyui-real");

/** Whether a real ComfyUI can be started here. */
export const HAS_REAL_COMFYUI = existsSync(join(COMFYUI_REAL, "start.sh"));

/** Releases `../shared/comfyui-real` has tarballs of. */
export type RealComfyuiVersion = "0.3.64" | "0.33.0";

/** A running real ComfyUI. */
export interface RealComfyui {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The Python process (`kill -9`, `kill -STOP` it to simulate a crash or a freeze). */
  readonly pid: number;
  readonly version: RealComfyuiVersion;
  /** Where it was unpacked, with its `input/`, `output/` and log. */
  readonly workdir: string;
  /** Sends a signal to the server process (SIGKILL, SIGSTOP, SIGCONT, …). */
  signal(signal: NodeJS.Signals): void;
  /**
   * Stops it (SIGCONT first, in case it is frozen; then `stop.sh`) and removes its workdir.
   * Safe to call twice, and after a `kill -9`.
   */
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * Starts a real ComfyUI of `version` on a free port in a fresh workdir and waits until it
 * answers (`start.sh`: about 3 s with the packages installed; the first run on a fresh Debian
 * installs them, about a minute). Throws when `../shared/comfyui-real` is absent: guard the
 * calling suite with {@link HAS_REAL_COMFYUI}.
 */
export async function startRealComfyui(
  version: RealComfyuiVersion = "0.3.64",
  options: { readonly args?: string; readonly timeoutS?: number } = {},
): Promise<RealComfyui> {
  if (!HAS_REAL_COMFYUI)
    throw new Error(`${COMFYUI_REAL} is not here: guard with HAS_REAL_COMFYUI`);
  const workdir = mkdtempSync(join(tmpdir(), "comfyc-real-"));
  // Another process may take the port between the probe and the bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const { stdout } = await run(
        join(COMFYUI_REAL, "start.sh"),
        [version, String(port), workdir],
        {
          env: {
            ...process.env,
            COMFYUI_START_TIMEOUT: String(options.timeoutS ?? 180),
            ...(options.args ? { COMFYUI_ARGS: options.args } : {}),
          },
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      const m = /^(http:\/\/\S+) pid (\d+)$/m.exec(stdout);
      if (!m) throw new Error(`start.sh printed no URL: ${stdout}`);
      const pid = Number(m[2]);
      let stopped = false;
      return {
        url: m[1]!,
        port,
        pid,
        version,
        workdir,
        signal: (signal) => {
          try {
            process.kill(pid, signal);
          } catch {
            // Already gone.
          }
        },
        stop: async () => {
          if (stopped) return;
          stopped = true;
          try {
            process.kill(pid, "SIGCONT");
          } catch {
            // Already gone (killed by the test).
          }
          await run(join(COMFYUI_REAL, "stop.sh"), [String(pid)]).catch(() => undefined);
          rmSync(workdir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      lastError = e;
    }
  }
  rmSync(workdir, { recursive: true, force: true });
  throw lastError;
}
