import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { hashKey } from "../../src/gateway/keys.js";
import { cli } from "../helpers-cli.js";
import { ROOT, tempDir } from "../helpers.js";

/** `comfyc gateway` on the examples with an unreachable Redis and no auth, plus `extra` flags. */
const served = (...extra: string[]) => [
  "gateway",
  "--redis",
  "redis://127.0.0.1:1",
  "--workflows",
  "examples",
  "--no-auth",
  ...extra,
];

describe("comfyc gateway keys", () => {
  test("add prints the key once as its last line and stores only its hash, mode 0600", async () => {
    const file = join(tempDir(), "keys.json");
    const added = await cli(
      "gateway",
      "keys",
      "add",
      "ci",
      "--keys",
      file,
      "--workflows",
      "a,b",
      "--rate",
      "60/min",
    );
    expect(added.code).toBe(0);
    const key = added.stdout.trim().split("\n").at(-1)!;
    expect(key).toMatch(/^cfk_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(key);
    expect(text).toContain(hashKey(key));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = await cli("gateway", "keys", "list", "--keys", file, "--json");
    const [record] = list.stdout.split("\n").map((l) => JSON.parse(l));
    expect(record).toMatchObject({
      name: "ci",
      workflows: ["a", "b"],
      rate: { points: 60, durationSec: 60 },
      revoked_at: null,
    });
    expect(list.stdout).not.toContain("sha256:");
    expect((await cli("gateway", "keys", "add", "ci", "--keys", file)).code).toBe(2);
    expect((await cli("gateway", "keys", "revoke", "ci", "--keys", file)).code).toBe(0);
    expect((await cli("gateway", "keys", "revoke", "ci", "--keys", file)).code).toBe(3);
  });

  test.each([
    [
      "a rate it cannot read",
      ["gateway", "keys", "add", "x", "--keys", "k.json", "--rate", "5/fortnight"],
      2,
    ],
    ["no keys file", ["gateway", "keys", "list"], 2],
    // Not a key that may use nothing: every request with it would be 403.
    ...["", " , "].map((names) => [
      `--workflows ${JSON.stringify(names)}`,
      ["gateway", "keys", "add", "x", "--keys", join(tempDir(), "k.json"), "--workflows", names],
      2,
    ]),
    ["no --redis", ["gateway", "--workflows", "examples", "--no-auth"], 2],
    [
      "neither --keys nor --no-auth",
      ["gateway", "--redis", "redis://127.0.0.1:1", "--workflows", "examples"],
      2,
    ],
    ["a port that is not a number", served("--port", "abc"), 2],
    [
      "an --allow-url-prefix that is not an http(s) URL",
      served("--allow-url-prefix", "ftp://files.example.com/"),
      2,
    ],
    ["an --upload-limit of 0", served("--upload-limit", "0"), 2],
    [
      "a folder without workflows",
      [
        "gateway",
        "--redis",
        "redis://127.0.0.1:1",
        "--workflows",
        join(ROOT, "test", "fixtures", "comfy-api-v2"),
        "--no-auth",
      ],
      2,
    ],
  ])("exits with a usage error for %s", async (_, argv, code) => {
    const res = await cli(...(argv as string[]));
    expect(res.code).toBe(code);
    expect(res.stderr).toMatch(/error \[USAGE\]/);
  });

  test("webhook-secret prints a Standard Webhooks secret", async () => {
    const res = await cli("gateway", "webhook-secret");
    expect(res.stdout).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });
});
