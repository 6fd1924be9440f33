// `make bench`: this template (release build) against the Hono peer (bench/peers/hono) and
// the runtime's ceiling (bench/peers/bare), each served by workerd through Miniflare
// (tests/support/serve.mjs, no wrangler proxy), with the same bindings and quotas.
//
// For every round and workload the targets run back to back (A, B, then the next workload;
// the next round starts with B), so a target's figure is taken seconds from its rival's and
// machine drift cancels out. On two or more cores every workerd runs on the last core, wrk and
// Miniflare on the first (`taskset`; --no-pin to turn it off), so load generator and server
// never take turns on one core. Before the first round every target serves every workload for
// a few seconds untimed, so V8 has compiled the hot code (Wasm and JavaScript alike) before
// any figure is taken. Load comes from wrk at fixed concurrency after a warm-up. Reported per
// workload: requests/s, p50/p99 latency, ratios to Hono and to the ceiling, and CPU ms per
// request (workerd process CPU ÷ requests); besides the ratio of the medians, the median of
// the per-round ratios (each Rust figure over the Hono figure taken beside it), and those
// per-round ratios themselves, so the spread behind the median shows. Also: workerd
// memory before and after 100k requests, deployed size (gzip), Wasm compile time and time to
// first response. Budgets (size ≤ 400 KiB gzip, memory growth ≤ 8 MiB) fail the run.
//
// Usage: node bench/run.mjs [--rounds 5] [--seconds 5] [--connections 16] [--baseline DIR]
//                           [--only NAME,…] [--no-memory] [--no-pin] [--vars JSON]
//
// --baseline DIR adds another build of this template (DIR holds its index.js and
// index_bg.wasm, e.g. from `make build` on an earlier commit) to the same rotation, and
// reports after/before ratios: the way to show a change's effect from one run.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { BENCH_ORIGIN, BENCH_PASSWORD, TICK_MS, buildHonoPeer, cpuTicks, placement, seedAccount, workerdBelow } from "./workerd.mjs";

const root = resolve(import.meta.dirname, "..");
const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "16" },
    baseline: { type: "string" },
    // Comma-separated substrings: run only the workloads whose name contains one.
    only: { type: "string" },
    // Skip the 100k-request memory phase (for quick comparisons).
    "no-memory": { type: "boolean", default: false },
    // More vars for the Rust Workers, e.g. '{"RATE_LIMIT_LEASES":"false"}'.
    vars: { type: "string", default: "{}" },
    "no-pin": { type: "boolean", default: false },
  },
});
const place = placement(!opts["no-pin"]);
const ONLY = opts.only ? opts.only.split(",").map((s) => s.trim()).filter(Boolean) : null;
const selected = (w) => !ONLY || ONLY.some((s) => w.name.includes(s));
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);
// Quotas high enough that the benchmark measures the limiter's cost, never its refusals. The
// Rust Worker's read cache is off, as the peers have none: every read goes to D1 in all
// three (bench/cache.mjs measures the cache).
const VARS = JSON.stringify({
  RATE_LIMITS: "ip=1000000000/60,user=1000000000/60,login-ip=1000000000/60,login-email=1000000000/60",
  CACHE_L1_MAX_ENTRIES: "0",
  ...JSON.parse(opts.vars),
});

// ---- processes ------------------------------------------------------------------------------

const children = [];
process.on("exit", () => children.forEach((c) => c.stdin.end()));

async function start(name, script, drop = []) {
  const t0 = performance.now();
  // The Worker alone: Cloudflare serves static assets before a Worker runs.
  const args = ["tests/support/serve.mjs", "--quiet", "--no-assets", "--script", script, "--vars", VARS];
  for (const d of drop) args.push("--drop-binding", d);
  const child = spawn(...place.wrap(process.execPath, args), { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const line = await new Promise((r) => createInterface({ input: child.stdout }).once("line", r));
  const { url } = JSON.parse(line);
  await fetch(`${url}/v1/health`).then((r) => r.arrayBuffer());
  const firstResponseMs = performance.now() - t0;
  const pids = workerdBelow(child.pid);
  place.settle(pids);
  const ticks = () => cpuTicks(pids);
  const rssBytes = () =>
    pids.reduce((sum, pid) => {
      const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      return sum + (m ? Number(m[1]) * 1024 : 0);
    }, 0);
  return { name, url, cpuTicks: ticks, rssBytes, firstResponseMs };
}

// ---- workloads ------------------------------------------------------------------------------

const lua = (s) => JSON.stringify(s).slice(1, -1).replace(/'/g, "\\'");
function workloads(seedData) {
  const auth = { Cookie: seedData.cookie, Origin: BENCH_ORIGIN };
  return [
    { name: "pipeline only (no limiter, no I/O)", path: "/v1/_test/unlimited", expect: 200 },
    { name: "GET /v1/health", path: "/v1/health", expect: 200 },
    {
      name: "POST /v1/notes (422)",
      path: "/v1/notes",
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ title: "", tags: ["Not Valid"], extra: 1 }),
      expect: 422,
    },
    {
      name: "POST /v1/notes (201)",
      path: "/v1/notes",
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ title: "Load", body: "x".repeat(256), tags: ["a", "b"] }),
      expect: 201,
    },
    { name: "GET /v1/notes/{id} (authenticated)", path: `/v1/notes/${seedData.noteId}`, headers: auth, expect: 200 },
    {
      name: "POST /v1/auth/login (PBKDF2)",
      path: "/v1/auth/login",
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: seedData.email, password: BENCH_PASSWORD }),
      expect: 200,
      connections: 2,
    },
  ];
}

function script(w) {
  const lines = [];
  if (w.method) lines.push(`wrk.method = "${w.method}"`);
  if (w.body) lines.push(`wrk.body = '${lua(w.body)}'`);
  for (const [k, v] of Object.entries(w.headers ?? {})) lines.push(`wrk.headers["${k}"] = '${lua(v)}'`);
  const file = join(tmpdir(), `bench-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
function wrk(url, w, seconds, connections) {
  const out = execFileSync(
    ...place.wrap("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script(w), url + w.path]),
    { encoding: "utf8" },
  );
  const num = (re) => Number((out.match(re) ?? [])[1] ?? NaN);
  const pct = (p) => {
    const m = out.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`));
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const requests = num(/(\d+) requests in/);
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), p50: pct(50), p99: pct(99), requests, non2xx: errors };
}

// wrk's closed connections can leave a dead socket in node's keep-alive pool: retry once.
async function fetchOnce(url, init) {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

async function check(target, w) {
  const resp = await fetchOnce(target.url + w.path, { method: w.method ?? "GET", headers: w.headers, body: w.body });
  await resp.arrayBuffer();
  if (resp.status !== w.expect) throw new Error(`${target.name} ${w.name}: ${resp.status}, expected ${w.expect}`);
}

// ---- run ------------------------------------------------------------------------------------

buildHonoPeer(root);

console.error(`placement: ${place.describe}`);
const rust = await start("rust", "build/index.js");
const hono = await start("hono", "build/bench/hono/index.js");
const bare = await start("bare", "bench/peers/bare/index.js", ["DB", "SESSIONS", "RATE_LIMITER"]);
const baseline = opts.baseline ? await start("baseline", resolve(opts.baseline, "index.js")) : null;
const seeds = { rust: await seedAccount(rust.url, rust.name), hono: await seedAccount(hono.url, hono.name) };
if (baseline) seeds.baseline = await seedAccount(baseline.url, baseline.name);
const measured = baseline ? [rust, hono, baseline] : [rust, hono];

for (const target of measured) {
  for (const w of workloads(seeds[target.name]).filter(selected)) {
    await check(target, w);
    wrk(target.url, w, 3, w.connections ?? CONNECTIONS);
  }
}
wrk(bare.url, { path: "/v1/health" }, 3, CONNECTIONS);

const results = {};
const ceiling = [];
for (let round = 0; round < ROUNDS; round++) {
  const w0 = { name: "ceiling", path: "/v1/health" };
  wrk(bare.url, w0, 1, CONNECTIONS);
  ceiling.push(wrk(bare.url, w0, SECONDS, CONNECTIONS));
  // Each round starts with a different target, so no build always runs first.
  const order = measured.map((_, i) => measured[(i + round) % measured.length]);
  const names = workloads(seeds.rust).filter(selected).map((w) => w.name);
  for (const name of names) {
    for (const target of order) {
      const w = workloads(seeds[target.name]).find((x) => x.name === name);
      await check(target, w);
      const c = w.connections ?? CONNECTIONS;
      wrk(target.url, w, 1, c); // warm-up
      const before = target.cpuTicks();
      const r = wrk(target.url, w, SECONDS, c);
      const cpuMs = (target.cpuTicks() - before) * TICK_MS;
      if (w.expect < 300 && r.non2xx > 0) throw new Error(`${target.name} ${w.name}: ${r.non2xx} errors`);
      ((results[w.name] ??= {})[target.name] ??= []).push({ ...r, cpuMsPerRequest: cpuMs / r.requests });
    }
  }
  console.error(`round ${round + 1}/${ROUNDS} done`);
}

// Memory over at least 100k requests (the authenticated read: session, limiter, D1). The
// budget applies to the Worker's own memory, the Wasm linear memory where the Rust heap lives
// (reported by a test-only route). The workerd process RSS is shown for both Workers as
// context only: locally it also holds the KV, D1 and Durable Object simulators, whose caches
// grow with any traffic.
const memory = {};
const wasmMemory = async () =>
  (await (await fetchOnce(`${rust.url}/v1/_test/memory`)).json()).wasm_memory_bytes / 1048576;
for (const target of opts["no-memory"] ? [] : [rust, hono]) {
  const w = workloads(seeds[target.name]).find((x) => x.name.includes("authenticated"));
  const rssBefore = target.rssBytes() / 1048576;
  const heapBefore = target === rust ? await wasmMemory() : null;
  let served = 0;
  while (served < 100_000) served += wrk(target.url, w, 5, CONNECTIONS).requests;
  memory[target.name] = {
    requests: served,
    process_rss_mib: { before: rssBefore, after: target.rssBytes() / 1048576 },
  };
  if (target === rust) {
    const after = await wasmMemory();
    memory.rust.wasm_memory_mib = { before: heapBefore, after, growth: after - heapBefore };
  }
}
children.forEach((c) => c.stdin.end());

// Size and start-up.
const gz = (files) => gzipSync(Buffer.concat(files.map((f) => readFileSync(join(root, f)))), { level: 9 }).length;
const size = {
  rust_gzip_bytes: gz(["build/index.js", "build/index_bg.wasm"]),
  hono_gzip_bytes: gz(["build/bench/hono/index.js"]),
};
const wasm = readFileSync(join(root, "build/index_bg.wasm"));
const compileRuns = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  await WebAssembly.compile(wasm);
  compileRuns.push(performance.now() - t0);
}
const startup = {
  wasm_compile_ms: Math.min(...compileRuns),
  first_response_ms: { rust: rust.firstResponseMs, hono: hono.firstResponseMs, bare: bare.firstResponseMs },
};

// ---- report ---------------------------------------------------------------------------------

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const agg = (runs) => ({
  rps: median(runs.map((r) => r.rps)),
  p50_ms: median(runs.map((r) => r.p50)),
  p99_ms: median(runs.map((r) => r.p99)),
  cpu_ms_per_request: median(runs.map((r) => r.cpuMsPerRequest)),
});
const ceilingRps = median(ceiling.map((r) => r.rps));
const pairedRatio = (a, b, key) => median(a.map((x, i) => x[key] / b[i][key]));
const rows = Object.entries(results).map(([name, byTarget]) => {
  const r = agg(byTarget.rust);
  const h = agg(byTarget.hono);
  // Each round's Rust figure over the Hono figure taken beside it, then the median: drift
  // between rounds (this kind of machine has plenty) cancels within each pair.
  const paired = (key) => pairedRatio(byTarget.rust, byTarget.hono, key);
  return {
    workload: name, rust: r, hono: h, ratio_to_hono: r.rps / h.rps, ratio_to_ceiling: r.rps / ceilingRps,
    paired_rps_ratio: paired("rps"), paired_cpu_ratio: paired("cpuMsPerRequest"),
    // Every round's pair, so the spread behind each paired median can be read.
    paired_rounds: byTarget.rust.map((x, i) => ({
      rps: x.rps / byTarget.hono[i].rps,
      cpu: x.cpuMsPerRequest / byTarget.hono[i].cpuMsPerRequest,
    })),
  };
});
const f = (x, d = 2) => Number(x).toFixed(d);
console.log(`\n| workload | Rust req/s | Hono req/s | Rust/Hono | paired req/s, CPU | Rust/ceiling | Rust p50 / p99 ms | Hono p50 / p99 ms | Rust CPU ms/req | Hono CPU ms/req |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
for (const row of rows) {
  console.log(
    `| ${row.workload} | ${f(row.rust.rps, 0)} | ${f(row.hono.rps, 0)} | ${f(row.ratio_to_hono)}× | ` +
      `${f(row.paired_rps_ratio)}×, ${f(row.paired_cpu_ratio)}× | ${f(row.ratio_to_ceiling)}× | ` +
      `${f(row.rust.p50_ms)} / ${f(row.rust.p99_ms)} | ${f(row.hono.p50_ms)} / ${f(row.hono.p99_ms)} | ` +
      `${f(row.rust.cpu_ms_per_request, 3)} | ${f(row.hono.cpu_ms_per_request, 3)} |`,
  );
}
console.log(`| ceiling (bare JS Worker) | ${f(ceilingRps, 0)} | | | | 1.00× | | | | |`);
console.log("\nper round, Rust/Hono (req/s, CPU), in the order run:");
for (const row of rows) {
  console.log(`  ${row.workload}: ${row.paired_rounds.map((p) => `${f(p.rps)}, ${f(p.cpu)}`).join("; ")}`);
}
const beforeAfter = baseline
  ? Object.entries(results).map(([name, byTarget]) => {
      const after = agg(byTarget.rust);
      const before = agg(byTarget.baseline);
      return { workload: name, before, after, rps_ratio: after.rps / before.rps,
               cpu_ratio: after.cpu_ms_per_request / before.cpu_ms_per_request,
               paired_rps_ratio: pairedRatio(byTarget.rust, byTarget.baseline, "rps"),
               paired_cpu_ratio: pairedRatio(byTarget.rust, byTarget.baseline, "cpuMsPerRequest") };
    })
  : null;
if (beforeAfter) {
  console.log(`\nbefore (${opts.baseline}) and after (build/), same run:`);
  console.log(`| workload | before req/s | after req/s | after/before | paired req/s, CPU | before CPU ms/req | after CPU ms/req | CPU after/before |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const row of beforeAfter) {
    console.log(
      `| ${row.workload} | ${f(row.before.rps, 0)} | ${f(row.after.rps, 0)} | ${f(row.rps_ratio)}× | ` +
        `${f(row.paired_rps_ratio)}×, ${f(row.paired_cpu_ratio)}× | ${f(row.before.cpu_ms_per_request, 3)} | ${f(row.after.cpu_ms_per_request, 3)} | ${f(row.cpu_ratio)}× |`,
    );
  }
}
const m = memory.rust;
if (m) console.log(`\nmemory over ${m.requests} authenticated reads: Rust Wasm memory ${f(m.wasm_memory_mib.before, 2)} → ` +
  `${f(m.wasm_memory_mib.after, 2)} MiB (growth ${f(m.wasm_memory_mib.growth, 2)}); workerd process RSS (simulators included): ` +
  `Rust ${f(m.process_rss_mib.before, 0)} → ${f(m.process_rss_mib.after, 0)} MiB, ` +
  `Hono ${f(memory.hono.process_rss_mib.before, 0)} → ${f(memory.hono.process_rss_mib.after, 0)} MiB`);
console.log(`size (gzip): Rust wasm + glue ${f(size.rust_gzip_bytes / 1024, 1)} KiB, Hono bundle ${f(size.hono_gzip_bytes / 1024, 1)} KiB`);
console.log(`start-up: Wasm compile ${f(startup.wasm_compile_ms, 1)} ms; first response after spawn: ` +
  `Rust ${f(startup.first_response_ms.rust, 0)} ms, Hono ${f(startup.first_response_ms.hono, 0)} ms, bare ${f(startup.first_response_ms.bare, 0)} ms`);

const budgets = {
  size_gzip_max_bytes: 400 * 1024,
  memory_growth_max_mib: 8,
};
const violations = [];
if (size.rust_gzip_bytes > budgets.size_gzip_max_bytes) violations.push("deployed size over 400 KiB gzip");
if (memory.rust && memory.rust.wasm_memory_mib.growth > budgets.memory_growth_max_mib) violations.push("Wasm memory growth over 8 MiB per 100k requests");

const latest = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  settings: { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, load_generator: "wrk -t1", placement: place.describe },
  ceiling_rps: ceilingRps,
  workloads: rows,
  ...(beforeAfter ? { baseline: opts.baseline, before_after: beforeAfter } : {}),
  memory,
  size,
  startup,
  budgets,
  violations,
};
mkdirSync(join(root, "bench/results"), { recursive: true });
// Partial runs (--only, --no-memory) never replace the full table's results.
const partial = ONLY || opts["no-memory"];
writeFileSync(join(root, `bench/results/${partial ? "quick" : "latest"}.json`), JSON.stringify(latest, null, 2) + "\n");
if (violations.length) {
  console.error(`budget exceeded: ${violations.join("; ")}`);
  process.exitCode = 1;
}
process.exit();
