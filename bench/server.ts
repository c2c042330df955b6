/**
 * The test server under load: sustained trivial prompts per second, and WebSocket fan-out of
 * broadcast messages to 100 connected clients.
 */
import { Agent, request, WebSocket } from "undici";
import { startTestServer } from "../src/testing/index.js";
import { ms } from "./util.js";

const PROMPTS = 2000;
const CLIENTS = 100;
const FANOUT_PROMPTS = 200;

/** A zero-work prompt whose cache key changes with `i`, so every prompt really executes. */
const trivial = (i: number) => ({
  "1": { class_type: "PrimitiveInt", inputs: { value: i } },
  "2": { class_type: "PreviewAny", inputs: { source: ["1", 0] } },
});

const server = await startTestServer();
const agent = new Agent({ connections: 8 });
const post = async (body: unknown) => {
  const res = await request(`${server.url}/prompt`, {
    method: "POST",
    body: JSON.stringify(body),
    dispatcher: agent,
  });
  return (await res.body.json()) as { prompt_id: string };
};
const waitUntil = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 1));
};

// 1. Sustained prompts per second: 8 submitters in parallel, until every prompt has executed.
{
  for (let i = 0; i < 100; i++) await post({ prompt: trivial(-1 - i) }); // warm-up
  await waitUntil(() => server.executed.length >= 100);
  const before = server.executed.length;
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < PROMPTS) await post({ prompt: trivial(next++) });
    }),
  );
  const submitted = performance.now() - t;
  await waitUntil(() => server.executed.length - before >= PROMPTS);
  const total = performance.now() - t;
  console.log(`sustained trivial prompts (PrimitiveInt → PreviewAny, each executed, not cached):`);
  console.log(`  ${PROMPTS} prompts submitted in ${ms(submitted)}, all executed in ${ms(total)}`);
  console.log(`  ${Math.round((PROMPTS / total) * 1000)} prompts/s end to end`);
}

// 2. Fan-out: 100 sockets; prompts without client_id broadcast status and progress_state.
{
  const received: number[] = Array.from({ length: CLIENTS }, () => 0);
  // Receipt times of progress_state per client; one socket's messages arrive in send order.
  const arrivals: number[][] = Array.from({ length: CLIENTS }, () => []);
  const sockets = await Promise.all(
    Array.from(
      { length: CLIENTS },
      (_, i) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws?clientId=bench${i}`);
          ws.addEventListener("open", () => resolve(ws));
          ws.addEventListener("error", reject);
          ws.addEventListener("message", (event) => {
            if (typeof event.data !== "string") return;
            received[i]!++;
            if (event.data.includes('"progress_state"')) arrivals[i]!.push(performance.now());
          });
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 100));
  received.fill(0);
  for (const a of arrivals) a.length = 0;
  const logStart = server.wsLog.length;
  const t = performance.now();
  const before = server.executed.length;
  for (let i = 0; i < FANOUT_PROMPTS; i++) await post({ prompt: trivial(100_000 + i) });
  await waitUntil(() => server.executed.length - before >= FANOUT_PROMPTS);
  const broadcasts = server.wsLog.slice(logStart).filter(([to]) => to === "*");
  const expected = broadcasts.length * CLIENTS;
  await waitUntil(() => received.reduce((a, b) => a + b, 0) >= expected);
  const total = performance.now() - t;
  // The k-th progress_state a client receives is the k-th one the server broadcast.
  const sends = broadcasts.filter(([, type]) => type === "progress_state").map(([, , at]) => at);
  const delays = arrivals.flatMap((times) => times.map((at, k) => at - sends[k]!));
  delays.sort((a, b) => a - b);
  console.log(
    `WebSocket fan-out to ${CLIENTS} clients (${FANOUT_PROMPTS} prompts without client_id):`,
  );
  console.log(
    `  ${broadcasts.length} broadcasts → ${expected} messages delivered in ${ms(total)} (${Math.round((expected / total) * 1000)} messages/s)`,
  );
  console.log(
    `  send → receive latency of progress_state: median ${ms(delays[Math.floor(delays.length / 2)]!)}, p99 ${ms(delays[Math.floor(delays.length * 0.99)]!)}`,
  );
  for (const ws of sockets) ws.close();
}

await agent.close();
await server.close();
