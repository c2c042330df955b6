import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
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
   * A crash and restart: `kill -9`, then a new process on the same port and workdir (its queue
   * and history are gone, its output folder stays); resolves once it answers. `whileDown` runs
   * between the two.
   */
  restart(whileDown?: () => void): Promise<void>;
  /**
   * Stops it (SIGCONT first, in case it is frozen; then `stop.sh`) and removes its workdir.
   * Safe to call twice, and after a `kill -9`.
   */
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

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
    /** `start.sh` on this port and workdir: the URL and the process id it printed. */
    const start = async (): Promise<{ url: string; pid: number }> => {
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
      return { url: m[1]!, pid: Number(m[2]) };
    };
    try {
      const started = await start();
      let pid = started.pid;
      let stopped = false;
      return {
        url: started.url,
        port,
        get pid() {
          return pid;
        },
        version,
        workdir,
        signal: (signal) => {
          try {
            process.kill(pid, signal);
          } catch {
            // Already gone.
          }
        },
        restart: async (whileDown) => {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
          // The kernel closes its sockets as the process dies; start.sh refuses a port in use.
          while (await listening(port)) await new Promise((r) => setTimeout(r, 20));
          whileDown?.();
          pid = (await start()).pid;
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

let chains = 0;

/**
 * A chain of blurs: model-free, slow on a CPU (a 128 px blur takes about a second, more on a
 * loaded machine) and interruptible between nodes, as ComfyUI checks for an interrupt before
 * each node. Each chain starts from another colour, so the server's cache never serves it.
 */
export function blurChain(size: number, blurs: number, prefix: string): Record<string, unknown> {
  const prompt: Record<string, unknown> = {
    "1": {
      class_type: "EmptyImage",
      inputs: { width: size, height: size, batch_size: 1, color: ++chains },
    },
  };
  let last = "1";
  for (let i = 0; i < blurs; i++) {
    const id = String(10 + i);
    prompt[id] = {
      class_type: "ImageBlur",
      inputs: { image: [last, 0], blur_radius: 31, sigma: 10 },
    };
    last = id;
  }
  prompt["99"] = {
    class_type: "SaveImage",
    inputs: { images: [last, 0], filename_prefix: prefix },
  };
  return prompt;
}
