// The isolate's own work per request, without workerd: loads Worker bundles into one Node
// process (the same V8 that runs them in workerd) and calls each one's `fetch` directly, in
// alternating batches, so a change to the Rust side can be measured steadily.
//
// Usage: node bench/isolate.mjs [--batches 40] [--path /v1/_test/unlimited] BUNDLE [BUNDLE…]
//   e.g. node bench/isolate.mjs /tmp/before/index.js build/index.js build/bench/hono/index.js
// A bundle is a built Worker: build/index.js (beside its index_bg.wasm) or a plain JS module.
//
// What it measures and what it does not: the Worker's code and its glue, plus Node's own
// Request, Response and Headers (undici, written in JavaScript and slower than workerd's, so
// a Worker that makes more of those calls looks worse here than in workerd). No bindings are
// given, so only routes without KV, D1 or limiter objects answer (the pipeline-only route).
// Use it to compare builds of this template; compare with Hono through `make bench`.
// Prints per bundle the median microseconds per call and the median over batches of its
// time divided by the first bundle's time in the same batch.

import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values: opts, positionals: bundles } = parseArgs({
  allowPositionals: true,
  options: {
    batches: { type: "string", default: "40" },
    size: { type: "string", default: "2000" },
    path: { type: "string", default: "/v1/_test/unlimited" },
  },
});
if (!bundles.length) {
  console.error("usage: node bench/isolate.mjs [--batches N] [--path P] BUNDLE [BUNDLE…]");
  process.exit(2);
}

// The test environment's settings (the pipeline-only route is a test route), quotas out of
// reach, the cache off.
const env = {
  APP_ENV: "test",
  ALLOWED_ORIGINS: "https://app.example.test",
  MAX_BODY_BYTES: "1024",
  TEST_ROUTES: "true",
  CURSOR_SECRET: "test-cursor-secret-0123456789abcdef",
  RATE_LIMITS: "ip=1000000000/60,user=1000000000/60",
  CACHE_L1_MAX_ENTRIES: "0",
};
const ctx = { waitUntil() {}, passThroughOnException() {} };

// workerd's module imports, made loadable by Node: the entrypoint base class and the Wasm
// module the bundle imports as a compiled module.
const work = mkdtempSync(join(tmpdir(), "isolate-"));
globalThis.addEventListener ??= () => {};
const targets = [];
for (const [i, bundle] of bundles.entries()) {
  let source = readFileSync(bundle, "utf8")
    .replace(/import\s*\{\s*WorkerEntrypoint as ([\w$]+)\s*\}\s*from\s*"cloudflare:workers";?/,
      "class $1 { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }")
    .replace(/import ([\w$]+) from\s*"\.\/index_bg\.wasm";?/, (_, name) => {
      globalThis[`__isolateWasm${i}`] = readFileSync(join(dirname(bundle), "index_bg.wasm"));
      return `const ${name} = new WebAssembly.Module(globalThis.__isolateWasm${i});`;
    });
  if (source.includes("cloudflare:")) {
    console.error(`${bundle}: imports a workerd module this harness does not provide`);
    process.exit(1);
  }
  const file = join(work, `bundle-${i}.mjs`);
  writeFileSync(file, source);
  const { default: worker } = await import(resolve(file));
  targets.push({ bundle, worker, times: [], ratios: [] });
}

// The log line goes to console.log in every Worker; in Node that would be the terminal.
const print = console.log;
console.log = () => {};

const url = `http://127.0.0.1:8787${opts.path}`;
const headers = { host: "127.0.0.1:8787", "user-agent": "bench/isolate.mjs" };
async function batch(target, calls) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const resp = await target.worker.fetch(new Request(url, { headers }), env, ctx);
    if (resp.status !== 200) throw new Error(`${target.bundle}: ${opts.path} answered ${resp.status}`);
  }
  return Number(process.hrtime.bigint() - started) / 1000 / calls;
}

for (const t of targets) await batch(t, 5000); // warm-up: V8 compiles the hot code
for (let round = 0; round < Number(opts.batches); round++) {
  const order = round % 2 ? [...targets].reverse() : targets;
  for (const t of order) t.times.push(await batch(t, Number(opts.size)));
  for (const t of targets) t.ratios.push(t.times.at(-1) / targets[0].times.at(-1));
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const quantile = (xs, q) => sorted(xs)[Math.floor((xs.length - 1) * q)];
for (const t of targets) {
  print(`${t.bundle.padEnd(36)} ${quantile(t.times, 0.5).toFixed(2).padStart(7)} µs/call   ` +
    `÷ first: ${quantile(t.ratios, 0.5).toFixed(3)} [${quantile(t.ratios, 0.25).toFixed(3)}–${quantile(t.ratios, 0.75).toFixed(3)}]`);
}
