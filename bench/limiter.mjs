// The added latency of one rate-limiter check: p50/p99 of sequential requests to a route
// with the per-IP policy (`GET /v1/health`) against the same trivial work with no policy
// (`GET /v1/_test/unlimited`), interleaved in rounds so drift cancels out. Served by workerd
// through Miniflare (no wrangler proxy) from the release build.
//
// Usage: node bench/limiter.mjs [requests-per-round] [rounds]

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdirSync, writeFileSync } from "node:fs";

const N = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 6);

const vars = JSON.stringify({ RATE_LIMITS: "ip=1000000000/60" });
const server = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet", "--no-assets", "--vars", vars], {
  stdio: ["pipe", "pipe", "inherit"],
});
const { url } = JSON.parse(
  await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve)),
);

async function sample(path, n, into) {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const resp = await fetch(url + path, { headers: { "cf-connecting-ip": "192.0.2.77" } });
    await resp.arrayBuffer();
    if (resp.status !== 200) throw new Error(`${path}: ${resp.status}`);
    into?.push(performance.now() - t0);
  }
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

await sample("/v1/health", 300);
await sample("/v1/_test/unlimited", 300);
const limited = [];
const baseline = [];
for (let r = 0; r < ROUNDS; r++) {
  await sample("/v1/_test/unlimited", N, baseline);
  await sample("/v1/health", N, limited);
}
server.stdin.end();

const round = (x) => Number(x.toFixed(3));
const result = {
  date: new Date().toISOString(),
  requests: { per_endpoint: N * ROUNDS, rounds: ROUNDS },
  no_limiter_ms: { p50: round(pct(baseline, 50)), p99: round(pct(baseline, 99)) },
  one_limiter_check_ms: { p50: round(pct(limited, 50)), p99: round(pct(limited, 99)) },
};
result.added_p50_ms = round(result.one_limiter_check_ms.p50 - result.no_limiter_ms.p50);
result.added_p99_ms = round(result.one_limiter_check_ms.p99 - result.no_limiter_ms.p99);
result.target_p50_ms = 1;
result.within_target = result.added_p50_ms < 1;

console.log("| route | p50 ms | p99 ms |");
console.log("| --- | --- | --- |");
console.log(`| no limiter | ${result.no_limiter_ms.p50} | ${result.no_limiter_ms.p99} |`);
console.log(`| one limiter check | ${result.one_limiter_check_ms.p50} | ${result.one_limiter_check_ms.p99} |`);
console.log(`| **added by the limiter** | **${result.added_p50_ms}** | ${result.added_p99_ms} |`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/limiter.json", JSON.stringify(result, null, 2) + "\n");
if (!result.within_target) {
  console.error(`limiter adds ${result.added_p50_ms} ms p50, over the 1 ms target`);
  process.exitCode = 1;
}
