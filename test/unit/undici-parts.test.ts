import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { undici } from "../../src/runtime/undici-parts.js";

const { Agent, buildConnector, request, source: undiciSource } = undici();

describe("the transport's parts of undici", () => {
  let url: string;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ method: req.method, url: req.url, body, host: req.headers.host })),
    );
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  test("come from undici's own files on the pinned undici, and are the index's classes", async () => {
    // "index" means an undici upgrade moved the files: it still works, but every command pays
    // for loading all of undici. Update the paths in src/runtime/undici-parts.ts.
    expect(undiciSource).toBe("files");
    const undici = (await import("undici")) as typeof import("undici");
    expect(Agent).toBe(undici.Agent);
    expect(buildConnector).toBe(undici.buildConnector);
  });

  test("request sends the method, path and query, headers and body to the URL's origin through the dispatcher", async () => {
    const agent = new Agent({ connect: buildConnector({}) });
    try {
      const get = await request(new URL(`${url}/api/history?max_items=1&x=%20y`), {
        method: "GET",
        dispatcher: agent,
      });
      expect(get.statusCode).toBe(200);
      expect(await get.body.json()).toEqual({
        method: "GET",
        url: "/api/history?max_items=1&x=%20y",
        body: "",
        host: new URL(url).host,
      });
      const post = await request(new URL(`${url}/prompt`), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"prompt": {}}',
        dispatcher: agent,
      });
      expect(await post.body.json()).toMatchObject({
        method: "POST",
        url: "/prompt",
        body: '{"prompt": {}}',
      });
    } finally {
      await agent.close();
    }
  });
});
