import { createRequire } from "node:module";
import type * as Undici from "undici";

/**
 * The parts of undici the transport uses ({@link Agent}, {@link buildConnector},
 * {@link request}), loaded from undici's own files rather than its index. The index loads all
 * of undici (fetch, WebSocket, caches, mocks, and through its cookie helpers Node's own bundled
 * undici too), about three times what these parts cost to load: most of an unchanged
 * `comfyc codegen --url` re-run, which makes one request. Modules that need more of undici
 * import it as usual; the classes are the same either way (one module cache). Should a later
 * undici move these files, the index is loaded instead ({@link undiciSource} says which).
 *
 * No public API of undici 7.30.2 gives these parts without the index: it is the package's only
 * public entry (no `exports` map), and it is also what installs the request methods on
 * dispatchers (`Object.assign(Dispatcher.prototype, api)`), so even `agent.request()` needs it.
 * Loading the index took about 245 ms against about 110 ms for these files
 * (`node -e 'require(…)'`, three runs each on the 2-core VM at load 7, 30 Nov 2026).
 */
export interface Parts {
  readonly Agent: typeof Undici.Agent;
  readonly buildConnector: typeof Undici.buildConnector;
  readonly request: typeof Undici.request;
  readonly source: "files" | "index";
}

function load(): Parts {
  const require = createRequire(import.meta.url);
  try {
    const apiRequest = require("undici/lib/api/api-request.js") as (
      this: Undici.Dispatcher,
      options: Undici.Dispatcher.RequestOptions,
    ) => Promise<Undici.Dispatcher.ResponseData>;
    const Agent = require("undici/lib/dispatcher/agent.js") as typeof Undici.Agent;
    const buildConnector = require("undici/lib/core/connect.js") as typeof Undici.buildConnector;
    if (
      typeof apiRequest !== "function" ||
      typeof Agent !== "function" ||
      typeof buildConnector !== "function"
    ) {
      throw new TypeError("undici's layout changed");
    }
    // What undici's index makes of `api.request` for `request(url, options)` with a URL. The
    // transport always names its dispatcher and passes a parsed http(s) URL, so neither the
    // global dispatcher nor undici's URL parsing is needed.
    const request = (async (
      url: URL,
      options: Omit<Undici.Dispatcher.RequestOptions, "origin" | "path"> & {
        dispatcher: Undici.Dispatcher;
      },
    ) => {
      const { dispatcher, ...rest } = options;
      return apiRequest.call(dispatcher, {
        ...rest,
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: options.method || (options.body ? "PUT" : "GET"),
      } as Undici.Dispatcher.RequestOptions);
    }) as unknown as typeof Undici.request;
    return { Agent, buildConnector, request, source: "files" };
  } catch {
    return { ...(require("undici") as typeof Undici), source: "index" };
  }
}

let parts: Parts | undefined;

/**
 * undici's `Agent`, `buildConnector` and `request` (for a URL object and options naming the
 * dispatcher), loaded on the first call: a transport that sends through Node's own client
 * (`NodeHttpEngine`) never loads undici. `source` says where the parts came from:
 * `"files"` (undici's own files, the fast way), or `"index"` when this undici lays them out
 * differently (everything works, start-up is slower).
 */
export function undici(): Parts {
  return (parts ??= load());
}
