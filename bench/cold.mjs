// `make bench-cold`: what a new isolate costs before it is warm. Workers start isolates on
// demand and evict idle ones, so a deployed Worker pays its start-up (compiling the script and
// its Wasm, running the top level) and its first requests' slow paths (V8 compiling each
// function on first call, Liftoff before TurboFan) many times a day, not once.
//
// Usage: node bench/cold.mjs [--rounds 10] [--path /v1/_test/unlimited] [--requests 3000]
//          [BUNDLE…]
// The default bundles are the template (build/index.js), the Hono peer (bundled as `make
// bench` does) and the bare peer (a constant answer: workerd's own start-up and request
// handling, to subtract).
//
// Each start is a fresh `workerd serve` with the bundle as its one Worker (the test
// environment's variables, no bindings, no Miniflare in front), on the last core when there
// are two. The harness polls its socket until it accepts, then sends `--requests` requests
// one after another on one connection. workerd's CPU is read from every thread's
// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds), so a single request can be measured.
// Rounds rotate the bundles. Prints medians per bundle: time until the socket accepts, CPU
// spent by then, the first request's wall time and CPU, CPU per request over requests 2–10,
// 11–100 and the rest, CPU over all the requests, and resident memory once started and at the
// end. Writes bench/results/cold.json.

import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseToml } from "smol-toml";
import { buildHonoPeer, placement } from "./workerd.mjs";

const root = resolve(import.meta.dirname, "..");
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "10" },
    path: { type: "string", default: "/v1/_test/unlimited" },
    requests: { type: "string", default: "3000" },
    "v8-flags": { type: "string", default: "" },
  },
});
const ROUNDS = Number(opts.rounds);
const REQUESTS = Number(opts.requests);
// Spans of requests (1-based, inclusive) whose CPU per request is reported: the first ten,
// the first hundred, the first thousand, and the rest.
const SPANS = [[2, 10], [11, 100], [101, Math.min(1000, REQUESTS)]];
if (REQUESTS > 1000) SPANS.push([1001, REQUESTS]);
const V8_FLAGS = opts["v8-flags"].split(/\s+/).filter(Boolean);
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

// The test environment's variables (the pipeline-only route is a test route), quotas out of
// reach and the isolate cache off, as in `make bench`.
const wrangler = parseToml(readFileSync(join(root, "wrangler.toml"), "utf8"));
const vars = {
  ...wrangler.env.test.vars,
  RATE_LIMITS: "ip=1000000000/60,user=1000000000/60",
  CACHE_L1_MAX_ENTRIES: "0",
};
const capnpString = (s) => JSON.stringify(String(s));
const freePort = () => new Promise((ok) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
});
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

// One directory per bundle holds its config; each start runs a new process from it.
const workerdBin = (await import("workerd")).default.default;
const place = placement();
const serverCore = String(cpus().length - 1);
const targets = bundles.map((bundle) => {
  const dir = mkdtempSync(join(tmpdir(), "cold-"));
  writeFileSync(join(dir, "main.mjs"), readFileSync(bundle, "utf8"));
  const modules = [`(name = "main.mjs", esModule = embed "main.mjs")`];
  const wasm = join(dirname(bundle), "index_bg.wasm");
  if (existsSync(wasm)) {
    copyFileSync(wasm, join(dir, "index_bg.wasm"));
    modules.push(`(name = "index_bg.wasm", wasm = embed "index_bg.wasm")`);
  }
  return { bundle, dir, modules, starts: [] };
});

async function start(t) {
  const port = await freePort();
  writeFileSync(join(t.dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
  v8Flags = [${V8_FLAGS.map(capnpString).join(", ")}],
);
const worker :Workerd.Worker = (
  modules = [${t.modules.join(", ")}],
  compatibilityDate = ${capnpString(wrangler.compatibility_date)},
  bindings = [${Object.entries(vars).map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`).join(", ")}],
);
`);
  const args = ["serve", join(t.dir, "config.capnp")];
  const began = performance.now();
  // taskset execs workerd, so the child's pid is workerd's.
  const child = place.on
    ? spawn("taskset", ["-c", serverCore, workerdBin, ...args], { cwd: t.dir, stdio: ["ignore", "ignore", "inherit"] })
    : spawn(workerdBin, args, { cwd: t.dir, stdio: ["ignore", "ignore", "inherit"] });
  try {
    await accepting(port, child);
    const s = { ready_ms: performance.now() - began };
    const pid = child.pid;
    let cpu = cpuNs(pid);
    s.start_cpu_ms = cpu / 1e6;
    s.rss_start_mib = rssMib(pid);
    const ready = cpu;
    const url = `http://127.0.0.1:${port}${opts.path}`;
    const request = async () => {
      const resp = await fetch(url, { headers: { "user-agent": "bench/cold.mjs" } });
      await resp.arrayBuffer();
      if (resp.status !== 200) throw new Error(`${t.bundle}: ${opts.path} answered ${resp.status}`);
    };
    const sent = performance.now();
    await request();
    s.first_ms = performance.now() - sent;
    let now = cpuNs(pid);
    s.first_cpu_ms = (now - cpu) / 1e6;
    cpu = now;
    // CPU per request, in µs, over requests from..to (1-based, inclusive).
    const span = async (from, to) => {
      for (let i = from; i <= to; i++) await request();
      now = cpuNs(pid);
      const us = (now - cpu) / 1e3 / (to - from + 1);
      cpu = now;
      return us;
    };
    for (const [from, to] of SPANS) s[`us_${from}_${to}`] = await span(from, to);
    s.requests_cpu_ms = (now - ready) / 1e6;
    s.rss_end_mib = rssMib(pid);
    return s;
  } finally {
    child.kill("SIGKILL");
    await new Promise((ok) => (child.exitCode !== null ? ok() : child.once("exit", ok)));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

try {
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
console.log(`cold starts: ${ROUNDS} rounds, ${opts.path}, ${REQUESTS} requests per start, ${place.on ? `workerd on core ${serverCore}` : "unplaced"}; medians`);
const width = Math.max(...targets.map((t) => t.bundle.length));
console.log(["bundle".padEnd(width), ...fields.map(([, h]) => h)].join(" | "));
for (const r of report) {
  console.log([r.bundle.padEnd(width), ...fields.map(([k, h, d]) => r.median[k].toFixed(d).padStart(h.length))].join(" | "));
}
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/cold.json"), JSON.stringify({
  date: new Date().toISOString(), path: opts.path, rounds: ROUNDS, requests: REQUESTS, placed: place.on, report,
}, null, 2) + "\n");
