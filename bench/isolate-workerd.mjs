// The isolate's own work per request inside workerd: each bundle is wrapped in a Worker whose
// one request calls the bundle's `fetch` many times in a loop (a fresh `Request` each time, the
// answer's status checked), and the workerd process's CPU time over that request is divided by
// the calls. No HTTP, no load generator, no per-request runtime overhead: what is left is the
// Worker's JavaScript, its Wasm and the runtime APIs it calls (workerd's own `Request`,
// `Headers`, `Response`, `console.log`, written in C++), which is what differs between two
// Workers serving the same route.
//
// Usage: node bench/isolate-workerd.mjs [--rounds 10] [--calls 5000] [--path P] [--vars JSON]
//          [--one-process] BUNDLE [BUNDLE…]
//   e.g. node bench/isolate-workerd.mjs build/index.js build/bench/hono/index.js
// A bundle is a built Worker module (build/index.js beside its index_bg.wasm, or a plain JS
// module such as bench/peers/bare/index.js) exporting `default`, and the `RateLimiter` class
// if it uses the limiter's binding.
//
// Rounds rotate the order of the bundles; each round's figure is divided by the first
// bundle's figure in the same round, and the median of those ratios is printed with its
// quartiles. Each bundle runs in its own workerd process, and two processes serving the same
// build have measured up to 10% apart: give the same bundle twice (an A/A pair) to see the
// spread before reading a difference. With --one-process every bundle is served by one
// Worker in one process (each its own module and Wasm instance), which takes that spread
// away; the bundles then share one heap and its collections. CPU time is read from /proc in 10 ms ticks, so a round should take well over a
// second (the default 5,000 calls do). Only routes that answer 200 without bindings' state
// (the pipeline-only route, health) make sense here; the wrapper fails on any other status.

import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    // All bundles in one Worker of one workerd process, each with its own module and Wasm
    // instance, their batches alternating: no spread between processes to read through.
    "one-process": { type: "boolean", default: false },
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

// The loop Worker. Each bundle is copied beside it as an `.mjs` file (Miniflare reads
// imported `.js` files as CommonJS), in a folder of its own with its Wasm module; the query
// names the bundle a request loops over. Only one `RateLimiter` class can be exported: the
// first bundle that has one gives it.
const loopSource = (count, limiterFrom) => `${Array.from({ length: count }, (_, i) =>
  `import inner${i} from "./b${i}/inner.mjs";`).join("\n")}
${limiterFrom === -1 ? "" : `export { RateLimiter } from "./b${limiterFrom}/inner.mjs";`}
const inners = [${Array.from({ length: count }, (_, i) => `inner${i}`).join(", ")}];
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const inner = inners[Number(url.searchParams.get("bundle"))];
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
const children = [];
// Serves `group` (bundles) from one Worker in one workerd process.
async function serve(group) {
  const dir = mkdtempSync(join(tmpdir(), "isolate-workerd-"));
  const sources = group.map((bundle, i) => {
    const source = readFileSync(bundle, "utf8");
    mkdirSync(join(dir, `b${i}`));
    writeFileSync(join(dir, `b${i}`, "inner.mjs"), source);
    const wasm = join(dirname(bundle), "index_bg.wasm");
    if (existsSync(wasm)) copyFileSync(wasm, join(dir, `b${i}`, "index_bg.wasm"));
    return source;
  });
  const limiterFrom = sources.findIndex((source) => source.includes("RateLimiter"));
  writeFileSync(join(dir, "loop.js"), loopSource(group.length, limiterFrom));
  const args = ["tests/support/serve.mjs", "--quiet",
    "--no-assets", "--script", join(dir, "loop.js"), "--vars", JSON.stringify(vars),
    // A Worker with no limiter object (the bare and runtime-calls peers) runs without its binding.
    ...(limiterFrom === -1 ? ["--drop-binding", "RATE_LIMITER"] : [])];
  const child = spawn(...place.wrap(process.execPath, args), { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  children.push({ child, dir });
  const line = await new Promise((ok, fail) => {
    createInterface({ input: child.stdout }).once("line", ok);
    child.once("exit", (code) => fail(new Error(`${group.join(", ")}: serve.mjs exited with ${code}`)));
  });
  const { url } = JSON.parse(line);
  const pids = workerdBelow(child.pid);
  place.settle(pids);
  return group.map((bundle, index) => ({ bundle, index, url, pids, times: [], ratios: [] }));
}
const targets = [];
if (opts["one-process"]) targets.push(...await serve(bundles));
else for (const bundle of bundles) targets.push(...await serve([bundle]));

async function run(target, calls) {
  const query = new URLSearchParams({ calls: String(calls), path: opts.path, bundle: String(target.index) });
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
  for (const { child, dir } of children) {
    child.stdin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)];
for (const t of targets) {
  console.log(`${t.bundle.padEnd(36)} ${quantile(t.times, 0.5).toFixed(1).padStart(7)} µs/call   ` +
    `÷ first: ${quantile(t.ratios, 0.5).toFixed(3)} [${quantile(t.ratios, 0.25).toFixed(3)}–${quantile(t.ratios, 0.75).toFixed(3)}]`);
}
process.exit(0);
