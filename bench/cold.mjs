// `make bench-cold`: what a new isolate costs before it is warm. Workers start isolates on
// demand and evict idle ones, so a deployed Worker pays its start-up (compiling the script and
// its Wasm, running the top level) and its first requests' slow paths (V8 compiling each
// function on first call, Liftoff before TurboFan) many times a day, not once.
//
// Usage: node bench/cold.mjs [--workload pipeline|health|read] [--rounds 10]
//          [--requests 3000] [--v8-flags=FLAGS] [BUNDLE…]
// The default bundles are the template (build/index.js), the Hono peer (bundled as `make
// bench` does) and the bare peer (a constant answer: workerd's own start-up and request
// handling, to subtract).
//
// `pipeline` (the default): each start is a fresh `workerd serve` with the bundle as its one
// Worker (the test environment's variables, no bindings, no Miniflare in front) and
// `/v1/_test/unlimited` is sent. `health` (`/v1/health`, one limiter check) and `read` (an
// authenticated `GET /v1/notes/{id}`) need the Durable Object, KV and D1, so each start is a
// fresh Miniflare over state persisted once per bundle (`launchMiniflare`). workerd runs on
// the last core when there are two. The harness waits until the server accepts, then sends
// `--requests` requests one after another on one connection. workerd's CPU is read from every
// thread's `/proc/<pid>/task/<tid>/schedstat` (nanoseconds), so a single request can be
// measured. Rounds rotate the bundles. Prints medians per bundle: time until the server
// accepts, CPU spent by then, the first request's wall time and CPU, CPU per request over
// requests 2–10, 11–100 and the rest, CPU over all the requests, and resident memory once
// started and at the end. Writes bench/results/cold-WORKLOAD.json.

import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { BENCH_ORIGIN, benchVars, buildHonoPeer, freePort, placement, seedAccount, workerdBelow, writeServeConfig } from "./workerd.mjs";

const root = resolve(import.meta.dirname, "..");
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "10" },
    workload: { type: "string", default: "pipeline" },
    requests: { type: "string", default: "3000" },
    "v8-flags": { type: "string", default: "" },
  },
});
// What each start is sent. Health needs the limiter's Durable Object and the read KV and
// D1, so those run through Miniflare; the read's account, session and note are seeded once.
const WORKLOADS = {
  pipeline: { path: "/v1/_test/unlimited" },
  health: { path: "/v1/health", miniflare: true },
  read: { path: "/v1/notes/{id}", miniflare: true, seed: true },
};
const WORKLOAD = WORKLOADS[opts.workload];
if (!WORKLOAD) {
  console.error(`--workload is one of ${Object.keys(WORKLOADS).join(", ")}`);
  process.exit(2);
}
const ROUNDS = Number(opts.rounds);
const REQUESTS = Number(opts.requests);
// Spans of requests (1-based, inclusive) whose CPU per request is reported: the first ten,
// the first hundred, the first thousand, and the rest.
const SPANS = [[2, 10], [11, 100], [101, Math.min(1000, REQUESTS)]];
if (REQUESTS > 1000) SPANS.push([1001, REQUESTS]);
const V8_FLAGS = opts["v8-flags"].split(/\s+/).filter(Boolean);
if (V8_FLAGS.length && WORKLOAD.miniflare) {
  console.error("--v8-flags applies to --workload pipeline only (Miniflare starts its own workerd)");
  process.exit(2);
}
if (!(REQUESTS >= 101)) {
  console.error("--requests must be at least 101");
  process.exit(2);
}
const bundles = positionals.length ? positionals
  : ["build/index.js", "build/bench/hono/index.js", "bench/peers/bare/index.js"];
if (!positionals.length) buildHonoPeer(root);
for (const b of bundles) {
  if (!existsSync(b)) {
    console.error(`${b} is missing (build/index.js: make build)`);
    process.exit(2);
  }
}

const vars = benchVars(root);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Nanoseconds on a CPU so far, summed over the threads of `pid`. */
function cpuNs(pid) {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {} // a thread that ended between the listing and the read
  }
  return sum;
}

/** Resident memory of `pid` in MiB. */
const rssMib = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;

/** Resolves once something accepts a TCP connection on `port`. */
async function accepting(port, child) {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
    const ok = await new Promise((done) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); done(true); });
      s.once("error", () => done(false));
    });
    if (ok) return;
    await sleep(1);
  }
}

// Each start: a new process, and where CPU and memory are read, where to send requests and how
// to stop it.
const workerdBin = (await import("workerd")).default.default;
const place = placement();
const serverCore = String(cpus().length - 1);
const FLOOR = "bench/peers/bare/index.js";

/** The pipeline workload: the bundle as the one Worker of a bare `workerd serve`. */
async function launchWorkerd(t) {
  const port = await freePort();
  const config = writeServeConfig(t.dir, { root, port, modules: t.modules, vars, v8Flags: V8_FLAGS });
  const args = ["serve", config];
  const began = performance.now();
  // taskset execs workerd, so the child's pid is workerd's.
  const child = place.on
    ? spawn("taskset", ["-c", serverCore, workerdBin, ...args], { cwd: t.dir, stdio: ["ignore", "ignore", "inherit"] })
    : spawn(workerdBin, args, { cwd: t.dir, stdio: ["ignore", "ignore", "inherit"] });
  const stop = async () => {
    child.kill("SIGKILL");
    await new Promise((ok) => (child.exitCode !== null ? ok() : child.once("exit", ok)));
  };
  try {
    await accepting(port, child);
  } catch (e) {
    await stop();
    throw e;
  }
  return { pids: [child.pid], url: `http://127.0.0.1:${port}`, ready_ms: performance.now() - began, stop };
}

/**
 * The workloads with storage: the bundle served through Miniflare (`tests/support/serve.mjs`,
 * wrangler.toml's test bindings) with its state persisted in the bundle's directory, so every
 * start is a new workerd, and a new isolate, over the account, session and note seeded once.
 * workerd's CPU then includes Miniflare's own services (KV, D1), the same for every bundle.
 */
async function launchMiniflare(t) {
  const args = ["tests/support/serve.mjs", "--quiet", "--no-assets", "--script", t.bundle,
    "--vars", JSON.stringify(vars), "--persist", t.dir];
  if (t.bundle === FLOOR) args.push("--drop-binding", "DB", "--drop-binding", "SESSIONS", "--drop-binding", "RATE_LIMITER");
  const began = performance.now();
  const child = spawn(...place.wrap(process.execPath, args), { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((ok) => child.once("exit", ok));
  const line = await Promise.race([
    new Promise((ok) => createInterface({ input: child.stdout }).once("line", ok)),
    exited.then((code) => { throw new Error(`${t.bundle}: serve.mjs exited with ${code}`); }),
  ]);
  const { url } = JSON.parse(line);
  const pids = workerdBelow(child.pid);
  place.settle(pids);
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  return { pids, url, ready_ms: performance.now() - began, stop };
}

/** Seeds an account, its session and a note in `t`'s persisted state; returns the read's request. */
async function seed(t) {
  const server = await launchMiniflare(t);
  try {
    const { cookie, noteId } = await seedAccount(server.url, t.bundle);
    return { path: `/v1/notes/${noteId}`, headers: { cookie, origin: BENCH_ORIGIN } };
  } finally {
    await server.stop();
  }
}

const targets = bundles.map((bundle) => {
  const dir = mkdtempSync(join(tmpdir(), "cold-"));
  writeFileSync(join(dir, "main.mjs"), readFileSync(bundle, "utf8"));
  const modules = [`(name = "main.mjs", esModule = embed "main.mjs")`];
  const wasm = join(dirname(bundle), "index_bg.wasm");
  if (existsSync(wasm)) {
    copyFileSync(wasm, join(dir, "index_bg.wasm"));
    modules.push(`(name = "index_bg.wasm", wasm = embed "index_bg.wasm")`);
  }
  return { bundle, dir, modules, starts: [], path: WORKLOAD.path, headers: {} };
});

async function start(t) {
  const server = await (WORKLOAD.miniflare ? launchMiniflare : launchWorkerd)(t);
  try {
    const cpuNow = () => server.pids.reduce((sum, pid) => sum + cpuNs(pid), 0);
    const rssNow = () => server.pids.reduce((sum, pid) => sum + rssMib(pid), 0);
    const s = { ready_ms: server.ready_ms };
    let cpu = cpuNow();
    s.start_cpu_ms = cpu / 1e6;
    s.rss_start_mib = rssNow();
    const ready = cpu;
    const url = server.url + t.path;
    const headers = { "user-agent": "bench/cold.mjs", ...t.headers };
    const request = async () => {
      const resp = await fetch(url, { headers });
      await resp.arrayBuffer();
      if (resp.status !== 200) throw new Error(`${t.bundle}: ${t.path} answered ${resp.status}`);
    };
    const sent = performance.now();
    await request();
    s.first_ms = performance.now() - sent;
    let now = cpuNow();
    s.first_cpu_ms = (now - cpu) / 1e6;
    cpu = now;
    // CPU per request, in µs, over requests from..to (1-based, inclusive).
    const span = async (from, to) => {
      for (let i = from; i <= to; i++) await request();
      now = cpuNow();
      const us = (now - cpu) / 1e3 / (to - from + 1);
      cpu = now;
      return us;
    };
    for (const [from, to] of SPANS) s[`us_${from}_${to}`] = await span(from, to);
    s.requests_cpu_ms = (now - ready) / 1e6;
    s.rss_end_mib = rssNow();
    return s;
  } finally {
    await server.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

try {
  if (WORKLOAD.seed) {
    for (const t of targets) if (t.bundle !== FLOOR) Object.assign(t, await seed(t));
  }
  // One start of each, not counted: the first process of a run waited 25–40 ms longer for its
  // first answer, whichever bundle it served (files not yet in the page cache, most likely).
  for (const t of targets) await start(t);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(i + round) % targets.length];
      t.starts.push(await start(t));
    }
  }
} finally {
  for (const t of targets) rmSync(t.dir, { recursive: true, force: true });
}

const fields = [
  ["ready_ms", "ready (ms)", 1],
  ["start_cpu_ms", "start CPU (ms)", 1],
  ["first_ms", "1st request (ms)", 2],
  ["first_cpu_ms", "1st CPU (ms)", 2],
  ...SPANS.map(([from, to]) => [`us_${from}_${to}`, `${from}–${to} (µs/req)`, 0]),
  ["requests_cpu_ms", `CPU, ${REQUESTS} requests (ms)`, 0],
  ["rss_start_mib", "RSS start (MiB)", 1],
  ["rss_end_mib", "RSS end (MiB)", 1],
];
const report = targets.map((t) => ({
  bundle: t.bundle,
  starts: t.starts.length,
  median: Object.fromEntries(fields.map(([k]) => [k, median(t.starts.map((s) => s[k]))])),
  starts_raw: t.starts,
}));
console.log(`cold starts: ${ROUNDS} rounds, ${opts.workload} (${targets[0].path}), ${REQUESTS} requests per start, ${place.on ? `workerd on core ${serverCore}` : "unplaced"}; medians`);
const width = Math.max(...targets.map((t) => t.bundle.length));
console.log(["bundle".padEnd(width), ...fields.map(([, h]) => h)].join(" | "));
for (const r of report) {
  console.log([r.bundle.padEnd(width), ...fields.map(([k, h, d]) => r.median[k].toFixed(d).padStart(h.length))].join(" | "));
}
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, `bench/results/cold-${opts.workload}.json`), JSON.stringify({
  date: new Date().toISOString(), workload: opts.workload, rounds: ROUNDS, requests: REQUESTS, placed: place.on, report,
}, null, 2) + "\n");
