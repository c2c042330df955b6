import { Agent, request, type IncomingMessage } from "node:http";

const MiB = 1 << 20;

/** An HTTP answer as a test compares it: status line, content type, `Connection: close`, text. */
export interface StreamedAnswer {
  readonly status: number;
  readonly reason: string;
  readonly content_type: string;
  readonly closes: boolean;
  readonly text: string;
}

/**
 * POSTs `head`, then `size` spaces (written from one reused 1 MiB buffer, so a 101 MiB body costs
 * no memory here), then `tail`, from a keep-alive client; `chunked` sends no Content-Length.
 */
export function postStreamed(
  url: string,
  path: string,
  options: {
    readonly head?: Buffer;
    readonly size?: number;
    readonly tail?: Buffer;
    readonly headers?: Record<string, string>;
    readonly chunked?: boolean;
  },
): Promise<StreamedAnswer> {
  const { head = Buffer.alloc(0), size = 0, tail = Buffer.alloc(0) } = options;
  // A keep-alive client, as most are: a `Connection: close` in the answer is the server's own.
  const agent = new Agent({ keepAlive: true });
  return new Promise<StreamedAnswer>((resolveAnswer, reject) => {
    const req = request(`${url}${path}`, {
      method: "POST",
      agent,
      headers: {
        ...options.headers,
        ...(options.chunked ? {} : { "Content-Length": head.length + size + tail.length }),
      },
    });
    const answer = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolveAnswer({
          status: res.statusCode!,
          reason: res.statusMessage!,
          content_type: String(res.headers["content-type"]),
          closes: res.headers.connection === "close",
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    };
    req.on("response", answer);
    req.on("error", reject);
    const spaces = Buffer.alloc(MiB, 0x20);
    let left = size;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, spaces.length);
        left -= n;
        if (!req.write(n === spaces.length ? spaces : spaces.subarray(0, n))) {
          req.once("drain", pump);
          return;
        }
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  }).finally(() => agent.destroy());
}
