// What each cache layer costs or saves on an authenticated note read (`GET /v1/notes/{id}`):
// p50/p99 of sequential requests against four Workers that differ only in their cache
// settings, interleaved in rounds so drift cancels out. L2 is a real Redis behind the
// Upstash-compatible REST front (tests/support/), on loopback.
//
// Only requests served with the layer's expected outcome are timed; the others (an L1 entry
// expiring, L1 alone keeps entries 5 s) are counted.
//
// Locally, D1 is SQLite inside workerd and the front is a Node process, so "no cache" here is
// a best case for the database and a worst case for L2; the figures show each layer's own
// overhead, not the saving against a remote database.
//
// Usage: node bench/cache.mjs [requests-per-round] [rounds]

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { mkdirSync, writeFileSync } from "node:fs";
import { startRedis } from "../tests/support/redis.mjs";
import { startUpstashRest } from "../tests/support/upstash-rest.mjs";

const N = Number(process.argv[2] ?? 400);
const ROUNDS = Number(process.argv[3] ?? 5);
const ORIGIN = "https://app.example.test";

const redis = await startRedis();
const token = randomBytes(24).toString("base64url");
const front = await startUpstashRest({ redisPort: redis.port, token });
const l2 = { UPSTASH_REDIS_REST_URL: front.url, UPSTASH_REDIS_REST_TOKEN: token, CACHE_TIMEOUT_MS: "1000" };

const setups = [
  { name: "no cache (D1 every time)", expect: "", vars: { CACHE_L1_MAX_ENTRIES: "0" } },
  { name: "L1 hit (no L2)", expect: "l1-hit", vars: {} },
  { name: "L2 hit (L1 off)", expect: "l2-hit", vars: { ...l2, CACHE_L1_MAX_ENTRIES: "0" } },
  { name: "L1 hit, version checked in L2", expect: "l1-hit", vars: l2 },
];

async function serve(vars) {
  const child = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet", "--no-assets", "--vars", JSON.stringify(vars)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
  return { child, url: JSON.parse(line).url };
}

async function prepare(setup) {
  const { child, url } = await serve(setup.vars);
  const email = `bench-${randomBytes(6).toString("hex")}@example.test`;
  const creds = JSON.stringify({ email, password: "correct horse battery staple" });
  const json = { "content-type": "application/json" };
  await fetch(`${url}/v1/auth/signup`, { method: "POST", headers: json, body: creds });
  const login = await fetch(`${url}/v1/auth/login`, { method: "POST", headers: json, body: creds });
  const cookie = login.headers.getSetCookie()[0].split(";")[0];
  const headers = { cookie, origin: ORIGIN };
  const note = await fetch(`${url}/v1/notes`, {
    method: "POST",
    headers: { ...headers, ...json },
    body: JSON.stringify({ title: "Bench", body: "x".repeat(512), tags: ["a", "b"] }),
  }).then((r) => r.json());
  return { ...setup, child, path: `${url}/v1/notes/${note.id}`, headers, samples: [], other: 0 };
}

async function sample(target, n, into) {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const resp = await fetch(target.path, { headers: target.headers });
    await resp.arrayBuffer();
    const outcome = resp.headers.get("server-timing")?.match(/desc=([a-z0-9-]+)/)?.[1] ?? "";
    if (resp.status !== 200) throw new Error(`${target.name}: ${resp.status}`);
    if (!into) continue;
    if (outcome === target.expect) into.push(performance.now() - t0);
    else target.other++;
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x) => Number(x.toFixed(3));

const targets = [];
try {
  for (const setup of setups) targets.push(await prepare(setup));
  for (const t of targets) await sample(t, 200);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) await sample(t, N, t.samples);
  }
} finally {
  for (const t of targets) t.child.stdin.end();
  front.close();
  redis.stop();
}

const result = {
  date: new Date().toISOString(),
  requests: { per_setup: N * ROUNDS, rounds: ROUNDS },
  setups: targets.map((t) => ({
    name: t.name,
    outcome: t.expect || "none",
    p50_ms: round(pct(t.samples, 50)),
    p99_ms: round(pct(t.samples, 99)),
    timed: t.samples.length,
    other_outcomes: t.other,
  })),
};
console.log("| note read | outcome | p50 ms | p99 ms | timed / other |");
console.log("| --- | --- | --- | --- | --- |");
for (const s of result.setups) {
  console.log(`| ${s.name} | ${s.outcome} | ${s.p50_ms} | ${s.p99_ms} | ${s.timed} / ${s.other_outcomes} |`);
}
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/cache.json", JSON.stringify(result, null, 2) + "\n");
