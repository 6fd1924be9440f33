// The isolate's own work per request inside workerd: each bundle is wrapped in a Worker whose
// one request calls the bundle's `fetch` many times in a loop (a fresh `Request` each time, the
// answer's status checked), and the workerd process's CPU time over that request is divided by
// the calls. No HTTP, no load generator, no per-request runtime overhead: what is left is the
// Worker's JavaScript, its Wasm and the runtime APIs it calls (workerd's own `Request`,
// `Headers`, `Response`, `console.log`, written in C++), which is what differs between two
// Workers serving the same route.
//
// Usage: node bench/isolate-workerd.mjs [--rounds 10] [--calls 5000] [--path P] [--vars JSON]
//          BUNDLE [BUNDLE…]
//   e.g. node bench/isolate-workerd.mjs build/index.js build/bench/hono/index.js
// A bundle is a built Worker module (build/index.js beside its index_bg.wasm, or a plain JS
// module such as bench/peers/bare/index.js) exporting `default`, and the `RateLimiter` class
// if it uses the limiter's binding.
//
// Rounds rotate the order of the bundles; each round's figure is divided by the first
// bundle's figure in the same round, and the median of those ratios is printed with its
// quartiles. Each bundle runs in its own workerd process, and two processes serving the same
// build have measured up to 5% apart: give the same bundle twice (an A/A pair) to see the
// spread before reading a difference. CPU time is read from /proc in 10 ms ticks, so a round should take well over a
// second (the default 5,000 calls do). Only routes that answer 200 without bindings' state
// (the pipeline-only route, health) make sense here; the wrapper fails on any other status.

import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { cpuTicks, placement, TICK_MS, workerdBelow } from "./workerd.mjs";

const { values: opts, positionals: bundles } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "10" },
    calls: { type: "string", default: "5000" },
    path: { type: "string", default: "/v1/_test/unlimited" },
    vars: { type: "string", default: "{}" },
  },
});
if (!bundles.length) {
  console.error("usage: node bench/isolate-workerd.mjs [--rounds N] [--calls N] [--path P] BUNDLE [BUNDLE…]");
  process.exit(2);
}
const root = resolve(dirname(new URL(import.meta.url).pathname), "..");

// Quotas out of reach and the isolate cache off, as in `make bench`.
const vars = {
  RATE_LIMITS: "ip=1000000000/60,user=1000000000/60",
  CACHE_L1_MAX_ENTRIES: "0",
  ...JSON.parse(opts.vars),
};

// The loop Worker. The bundle is copied beside it as an `.mjs` file: Miniflare reads
// imported `.js` files as CommonJS.
const loop = `import inner from "./inner.mjs";
export * from "./inner.mjs";
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const calls = Number(url.searchParams.get("calls"));
    const target = "http://127.0.0.1:8787" + url.searchParams.get("path");
    const headers = { host: "127.0.0.1:8787", "user-agent": "bench/isolate-workerd.mjs" };
    for (let i = 0; i < calls; i++) {
      const resp = await inner.fetch(new Request(target, { headers }), env, ctx);
      if (resp.status !== 200) return new Response("answered " + resp.status, { status: 500 });
    }
    return new Response(String(calls));
  },
};
`;

// workerd alone on the last core and Miniflare on the first, as `make bench` places them.
const place = placement();
const targets = [];
for (const bundle of bundles) {
  const dir = mkdtempSync(join(tmpdir(), "isolate-workerd-"));
  const source = readFileSync(bundle, "utf8");
  writeFileSync(join(dir, "inner.mjs"), source);
  const wasm = join(dirname(bundle), "index_bg.wasm");
  if (existsSync(wasm)) copyFileSync(wasm, join(dir, "index_bg.wasm"));
  writeFileSync(join(dir, "loop.js"), loop);
  const args = ["tests/support/serve.mjs", "--quiet",
    "--no-assets", "--script", join(dir, "loop.js"), "--vars", JSON.stringify(vars),
    // A Worker with no limiter object (the bare and runtime-calls peers) runs without its binding.
    ...(source.includes("RateLimiter") ? [] : ["--drop-binding", "RATE_LIMITER"])];
  const child = spawn(...place.wrap(process.execPath, args), { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((ok, fail) => {
    createInterface({ input: child.stdout }).once("line", ok);
    child.once("exit", (code) => fail(new Error(`${bundle}: serve.mjs exited with ${code}`)));
  });
  const { url } = JSON.parse(line);
  const pids = workerdBelow(child.pid);
  place.settle(pids);
  targets.push({ bundle, dir, url, child, pids, times: [], ratios: [] });
}

async function run(target, calls) {
  const query = new URLSearchParams({ calls: String(calls), path: opts.path });
  const before = cpuTicks(target.pids);
  const resp = await fetch(`${target.url}/loop?${query}`);
  const text = await resp.text();
  if (text !== String(calls)) throw new Error(`${target.bundle}: ${opts.path} ${text.slice(0, 200)}`);
  return ((cpuTicks(target.pids) - before) * TICK_MS * 1000) / calls;
}

try {
  for (const t of targets) await run(t, Number(opts.calls)); // warm-up: V8 compiles the hot code
  for (let round = 0; round < Number(opts.rounds); round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const t of order) t.times.push(await run(t, Number(opts.calls)));
    for (const t of targets) t.ratios.push(t.times.at(-1) / targets[0].times.at(-1));
  }
} finally {
  for (const t of targets) {
    t.child.stdin.end();
    rmSync(t.dir, { recursive: true, force: true });
  }
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)];
for (const t of targets) {
  console.log(`${t.bundle.padEnd(36)} ${quantile(t.times, 0.5).toFixed(1).padStart(7)} µs/call   ` +
    `÷ first: ${quantile(t.ratios, 0.5).toFixed(3)} [${quantile(t.ratios, 0.25).toFixed(3)}–${quantile(t.ratios, 0.75).toFixed(3)}]`);
}
process.exit(0);
