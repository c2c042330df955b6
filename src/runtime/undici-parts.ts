import { createRequire } from "node:module";
import type * as Undici from "undici";

/**
 * The parts of undici the transport uses ({@link Agent}, {@link buildConnector},
 * {@link request}), loaded from undici's own files rather than its index. The index loads all
 * of undici (fetch, WebSocket, caches, mocks, and through its cookie helpers Node's own bundled
 * undici too), about three times what these parts cost to load: most of an unchanged
 * `comfyc codegen --url` re-run, which makes one request. Modules that need more of undici
 * import it as usual; the classes are the same either way (one module cache). Should a later
 * undici move these files, the index is loaded instead.
 */
interface Parts {
  readonly Agent: typeof Undici.Agent;
  readonly buildConnector: typeof Undici.buildConnector;
  readonly request: typeof Undici.request;
}

function load(): Parts {
  const require = createRequire(import.meta.url);
  try {
    const apiRequest = require("undici/lib/api/api-request.js") as (
      this: Undici.Dispatcher,
      options: Undici.Dispatcher.RequestOptions,
    ) => Promise<Undici.Dispatcher.ResponseData>;
    const { parseURL } = require("undici/lib/core/util.js") as { parseURL: (url: URL) => URL };
    const { getGlobalDispatcher } = require("undici/lib/global.js") as {
      getGlobalDispatcher: () => Undici.Dispatcher;
    };
    const Agent = require("undici/lib/dispatcher/agent.js") as typeof Undici.Agent;
    const buildConnector = require("undici/lib/core/connect.js") as typeof Undici.buildConnector;
    if (
      typeof apiRequest !== "function" ||
      typeof parseURL !== "function" ||
      typeof getGlobalDispatcher !== "function" ||
      typeof Agent !== "function" ||
      typeof buildConnector !== "function"
    ) {
      throw new TypeError("undici's layout changed");
    }
    // What undici's index makes of `api.request` for `request(url, options)` with a URL.
    const request = (async (
      url: URL,
      options: Omit<Undici.Dispatcher.RequestOptions, "origin" | "path"> & {
        dispatcher?: Undici.Dispatcher;
      },
    ) => {
      const parsed = parseURL(url);
      const { dispatcher = getGlobalDispatcher() } = options;
      return apiRequest.call(dispatcher, {
        ...options,
        origin: parsed.origin,
        path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
        method: options.method || (options.body ? "PUT" : "GET"),
      } as Undici.Dispatcher.RequestOptions);
    }) as unknown as typeof Undici.request;
    return { Agent, buildConnector, request };
  } catch {
    return require("undici") as typeof Undici;
  }
}

const parts = load();

/** undici's `Agent`. */
export const Agent = parts.Agent;
/** undici's `buildConnector`. */
export const buildConnector = parts.buildConnector;
/** undici's `request`, for a URL object and options naming the dispatcher. */
export const request = parts.request;
