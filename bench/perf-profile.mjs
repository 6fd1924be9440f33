// `make profile-perf`: where a Worker's CPU goes per call, by layer, sampled by Linux `perf`
// with V8's perf map (`--perf-basic-prof`), so no inspector is attached and the Wasm runs as
// it does when served. `make profile` (the inspector's V8 profile) names JavaScript functions
// well but makes the Wasm look several times costlier than it is; this one does not.
//
// Usage: node bench/perf-profile.mjs [--rounds 6] [--calls 10000] [--path P] [--freq 999]
//          [--top 20] [--http SECONDS] [--connections 16] [BUNDLE…]
// The default bundles are the template (build/index.js, with the function names of the copy
// scripts/build.sh keeps in target/profile/), the Hono peer (bundled here as `make bench` does), the
// runtime-calls peer (the template's runtime calls made from plain JavaScript) and the bare
// peer (the floor: the loop's own Request and a constant Response).
//
// Each bundle is served by its own workerd process (`workerd serve` with a config written
// here, the test environment's variables, no bindings), wrapped in a loop Worker whose one
// request calls the bundle's `fetch` `--calls` times, as bench/isolate-workerd.mjs does.
// Rounds rotate the bundles; `perf record` samples every process for the whole run, so the
// machine's drift falls on all of them alike. With --http the bundle is the Worker itself and
// each round is `wrk -t1 -c16` for that many seconds against the path: per HTTP request,
// workerd's own handling included (no Miniflare in front, as in production); `--connections
// 1` sends one request at a time, as an isolate with little traffic sees them. Prints
// microseconds of CPU per call (or request) by layer:
//
//   wasm     the Rust code (Wasm functions, by their names)
//   js       JavaScript: wasm-bindgen's glue, Hono, the loop
//   boundary V8's wrappers between Wasm and JavaScript
//   v8       V8's builtins and runtime (strings, typed arrays, property access, GC, the
//            C++ that Wasm's memory.copy calls)
//   workerd  the runtime's C++ (Request, Headers, Response, console, URL parsing, ICU)
//   malloc   the C allocator and memory copies
//   kernel
//
// and the hottest symbols of each bundle. Writes target/profile/perf.json.

import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchVars, buildHonoPeer, freePort, placement, writeServeConfig } from "./workerd.mjs";

const root = resolve(import.meta.dirname, "..");
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "10000" },
    path: { type: "string", default: "/v1/_test/unlimited" },
    freq: { type: "string", default: "999" },
    top: { type: "string", default: "20" },
    http: { type: "string" },
    connections: { type: "string", default: "16" },
  },
});
const HTTP = opts.http ? Number(opts.http) : 0;
const bundles = positionals.length ? positionals : ["build/index.js", "build/bench/hono/index.js",
  "bench/peers/runtime-calls/index.js", "bench/peers/bare/index.js"];
if (!positionals.length) buildHonoPeer(root);
for (const b of bundles) {
  if (!existsSync(b)) {
    console.error(`${b} is missing (build/index.js: make build)`);
    process.exit(2);
  }
}
try {
  execFileSync("perf", ["--version"], { stdio: "ignore" });
} catch {
  console.error("perf is not installed (scripts/bench-setup.sh installs Debian's linux-perf)");
  process.exit(2);
}

const vars = benchVars(root);

const loop = `import inner from "./inner.mjs";
export default {
  async fetch(request, env) {
    const calls = Number(new URL(request.url).searchParams.get("calls"));
    const target = "http://127.0.0.1:8787" + ${JSON.stringify(opts.path)};
    const headers = { host: "127.0.0.1:8787", "user-agent": "bench/perf-profile.mjs" };
    const ctx = { waitUntil() {}, passThroughOnException() {} };
    for (let i = 0; i < calls; i++) {
      const resp = await inner.fetch(new Request(target, { headers }), env, ctx);
      if (resp.status !== 200) return new Response("answered " + resp.status, { status: 500 });
    }
    return new Response(String(calls));
  },
};
`;

// The workerd binary Miniflare runs: the `workerd` package (CommonJS, its path as `default`)
// resolves this platform's build.
const workerdBin = (await import("workerd")).default.default;
const place = placement();
const targets = [];
const perfs = [];
try {
  for (const bundle of bundles) {
    const dir = mkdtempSync(join(tmpdir(), "perf-profile-"));
    writeFileSync(join(dir, "inner.mjs"), readFileSync(bundle, "utf8"));
    const wasm = join(dirname(bundle), "index_bg.wasm");
    const named = join(root, "target/profile/index_bg.named.wasm");
    const modules = [`(name = "loop.js", esModule = embed "loop.js")`, `(name = "inner.mjs", esModule = embed "inner.mjs")`];
    if (existsSync(wasm)) {
      const useNamed = resolve(bundle) === join(root, "build/index.js") && existsSync(named);
      copyFileSync(useNamed ? named : wasm, join(dir, "index_bg.wasm"));
      modules.push(`(name = "index_bg.wasm", wasm = embed "index_bg.wasm")`);
    }
    writeFileSync(join(dir, "loop.js"), loop);
    // Over HTTP the bundle is the Worker's main module.
    if (HTTP) modules.splice(0, 2, `(name = "inner.mjs", esModule = embed "inner.mjs")`);
    const port = await freePort();
    const config = writeServeConfig(dir, { root, port, modules, vars, v8Flags: ["--perf-basic-prof"] });
    // The log lines go to a discarded stdout, as Miniflare reads and drops them. V8 writes a
    // log file per isolate into the working directory: the temporary one.
    const child = spawn(workerdBin, ["serve", config],
      { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
    targets.push({ bundle, dir, port, child, cpuMs: 0, calls: 0 });
  }
  await new Promise((ok) => setTimeout(ok, 3000));
  place.settle(targets.map((t) => String(t.child.pid)));

  // One round for a bundle: the loop's calls, or wrk's requests over HTTP; returns how many.
  const run = async (t, calls) => {
    if (HTTP) {
      const url = `http://127.0.0.1:${t.port}${opts.path}`;
      const out = execFileSync(...place.wrap("wrk", ["-t1", `-c${opts.connections}`, `-d${HTTP}s`, url]), { encoding: "utf8" });
      const served = Number(/(\d+) requests in/.exec(out)?.[1]);
      if (/Non-2xx/.test(out) || !served) throw new Error(`${t.bundle}: ${opts.path}\n${out}`);
      return served;
    }
    const resp = await fetch(`http://127.0.0.1:${t.port}/?calls=${calls}`);
    const text = await resp.text();
    if (text !== String(calls)) throw new Error(`${t.bundle}: ${opts.path} ${text.slice(0, 200)}`);
    return calls;
  };
  for (const t of targets) await run(t, Number(opts.calls)); // warm-up: V8 compiles the hot code

  for (const t of targets) {
    t.data = join(t.dir, "perf.data");
    const perf = spawn("perf", ["record", "-q", "-F", opts.freq, "-p", String(t.child.pid), "-o", t.data],
      { stdio: "ignore" });
    perfs.push(perf);
  }
  await new Promise((ok) => setTimeout(ok, 500));
  for (let round = 0; round < Number(opts.rounds); round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const t of order) t.calls += await run(t, Number(opts.calls));
  }
  await Promise.all(perfs.map((p) => new Promise((ok) => { p.once("exit", ok); p.kill("SIGINT"); })));

  const layerOf = (kind, sym) => {
    if (kind === "k") return "kernel";
    if (sym.startsWith("JS:wasm-to-js") || sym.startsWith("JS:js-to-wasm")) return "boundary";
    if (sym.startsWith("JS:")) return /-(turbofan|liftoff)$/.test(sym) && !/^JS:[*~+']/.test(sym) ? "wasm" : "js";
    if (sym.startsWith("Builtins_") || sym.includes("v8::") || sym.startsWith("_ZN2v8")) return "v8";
    if (/tcmalloc|TCMalloc|^__mem|^_int_|^malloc|^free/.test(sym)) return "malloc";
    return "workerd";
  };
  const layers = ["wasm", "js", "boundary", "v8", "workerd", "malloc", "kernel"];
  const report = [];
  for (const t of targets) {
    if (!existsSync(t.data)) throw new Error(`perf recorded nothing for ${t.bundle} (is perf_event_open allowed here?)`);
    const out = execFileSync("perf", ["report", "-i", t.data, "--no-children", "--sort", "sym", "--stdio",
      "-F", "sample,sym"], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "ignore"] });
    const byLayer = Object.fromEntries(layers.map((l) => [l, 0]));
    const symbols = [];
    for (const line of out.split("\n")) {
      const m = /^\s*(\d+)\s+\[(.)\]\s+(.*)$/.exec(line);
      if (!m) continue;
      const samples = Number(m[1]);
      const layer = layerOf(m[2], m[3]);
      byLayer[layer] += samples;
      symbols.push({ samples, layer, symbol: m[3] });
    }
    const usPerCall = (samples) => (samples / Number(opts.freq) / t.calls) * 1e6;
    const total = Object.values(byLayer).reduce((a, b) => a + b, 0);
    report.push({
      bundle: t.bundle, calls: t.calls, us_per_call: usPerCall(total),
      layers: Object.fromEntries(layers.map((l) => [l, usPerCall(byLayer[l])])),
      top: symbols.sort((a, b) => b.samples - a.samples).slice(0, Number(opts.top))
        .map((s) => ({ us_per_call: usPerCall(s.samples), layer: s.layer, symbol: s.symbol })),
    });
  }

  const f = (x) => x.toFixed(1).padStart(6);
  const rounds = HTTP ? `${opts.rounds} rounds of ${HTTP} s of wrk -c16` : `${opts.rounds} rounds of ${opts.calls} calls`;
  console.log(`\nCPU per ${HTTP ? "HTTP request" : "call"} of ${opts.path}, µs (perf at ${opts.freq} Hz, ${rounds})\n`);
  console.log(`${"bundle".padEnd(40)}${"total".padStart(7)}${layers.map((l) => l.padStart(9)).join("")}`);
  for (const r of report) {
    console.log(`${r.bundle.padEnd(40)}${f(r.us_per_call)} ${layers.map((l) => f(r.layers[l]).padStart(8)).join(" ")}`);
  }
  for (const r of report) {
    console.log(`\n${r.bundle}: hottest symbols`);
    for (const s of r.top) console.log(`  ${s.us_per_call.toFixed(2).padStart(6)} µs  ${s.layer.padEnd(8)} ${s.symbol.slice(0, 110)}`);
  }
  mkdirSync(join(root, "target/profile"), { recursive: true });
  writeFileSync(join(root, "target/profile/perf.json"), JSON.stringify({
    date: new Date().toISOString(), path: opts.path, freq: Number(opts.freq), rounds: Number(opts.rounds),
    calls: Number(opts.calls), http_seconds: HTTP || null, placement: place.describe, report,
  }, null, 2));
  console.log("\nwrote target/profile/perf.json");
} finally {
  for (const p of perfs) p.kill("SIGINT");
  for (const t of targets) {
    t.child.kill();
    rmSync(`/tmp/perf-${t.child.pid}.map`, { force: true });
    rmSync(t.dir, { recursive: true, force: true });
  }
}
