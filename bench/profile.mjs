// `make profile`: a V8 CPU profile of the Worker's isolate (which also runs the RateLimiter
// objects) under load, taken through workerd's inspector, and where the busy time went: the
// Rust code (Wasm functions), the wasm-bindgen glue in build/index.js, the runtime's natives
// (KV, Durable Object storage, fetch, streams, console), V8 itself and GC.
//
// Usage: node bench/profile.mjs [--seconds 8] [--connections 8] [--workload pipeline|health|read|all]
//                               [--script build/index.js] [--vars '{"RATE_LIMIT_LEASES":"false"}']
// `--script build/bench/hono/index.js` profiles the Hono peer (built by `make bench`) the same
// way, for a side-by-side reading.
// Writes target/profile/<workload>.cpuprofile (open it in Chrome DevTools) and prints the
// shares and the hottest functions. The per-request log line goes to console.log, which is
// far costlier with an inspector attached; its share is shown apart and left out of the rest.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { inspector } from "./workerd.mjs";

const root = resolve(import.meta.dirname, "..");
const { values: opts } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    connections: { type: "string", default: "8" },
    workload: { type: "string", default: "all" },
    port: { type: "string", default: "9230" },
    script: { type: "string", default: "build/index.js" },
    vars: { type: "string", default: "{}" },
  },
});
const VARS = JSON.stringify({
  RATE_LIMITS: "ip=1000000000/60,user=1000000000/60",
  CACHE_L1_MAX_ENTRIES: "0",
  ...JSON.parse(opts.vars),
});

const server = spawn(
  process.execPath,
  ["tests/support/serve.mjs", "--quiet", "--no-assets", "--script", opts.script, "--vars", VARS,
   "--inspector-port", opts.port],
  { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
);
process.on("exit", () => server.stdin.end());
const { url } = JSON.parse(await new Promise((r) => createInterface({ input: server.stdout }).once("line", r)));

// A signed-in user with one note, for the authenticated read.
const post = (path, body, headers = {}) =>
  fetch(url + path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
const email = `profile-${Date.now()}@example.test`;
const password = "correct horse battery staple";
await post("/v1/auth/signup", { email, password });
const cookie = (await post("/v1/auth/login", { email, password })).headers.get("set-cookie").split(";")[0];
const note = await (await post("/v1/notes", { title: "profiled" }, { cookie, origin: "https://app.example.test" })).json();

const workloads = {
  pipeline: { path: "/v1/_test/unlimited", headers: {} },
  health: { path: "/v1/health", headers: {} },
  read: { path: `/v1/notes/${note.id}`, headers: { cookie } },
};

// The inspector: one DevTools session on the Worker.
const send = await inspector(opts.port);

function wrk(w, seconds) {
  const script = join(tmpdir(), `profile-${process.pid}.lua`);
  writeFileSync(script, Object.entries(w.headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`).join("\n") + "\n");
  const out = execFileSync("wrk", ["-t1", `-c${opts.connections}`, `-d${seconds}s`, "-s", script, url + w.path], { encoding: "utf8" });
  return Number((out.match(/(\d+) requests in/) ?? [])[1] ?? 0);
}

// Self time by category: each sample is charged to the function on top of the stack.
function categorize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const shares = { wasm: 0, glue: 0, natives: 0, console: 0, "v8 program": 0, gc: 0 };
  const hot = new Map();
  let idle = 0;
  for (const [id, us] of self) {
    const { functionName: fn, url: src } = byId.get(id).callFrame;
    let cat;
    if (fn === "(idle)") { idle += us; continue; }
    if (fn === "(garbage collector)") cat = "gc";
    else if (fn === "(program)" || fn === "(root)") cat = "v8 program";
    else if (src.startsWith("wasm://") || /^\$?(func|wasm-function)/.test(fn) || fn.startsWith("$")) cat = "wasm";
    // console.log itself, or wasm-bindgen's import that calls it (V8 charges the call there).
    else if ((src === "" && /^(log|warn|error|info)$/.test(fn)) || /^__wbg_(log|warn)_/.test(fn)) cat = "console";
    else if (src === "") cat = "natives";
    else cat = "glue";
    shares[cat] += us;
    const key = `${cat}: ${fn || "(anonymous)"}${src && cat === "glue" ? ` (${src.split("/").pop()})` : ""}`;
    hot.set(key, (hot.get(key) ?? 0) + us);
  }
  return { shares, hot, idle };
}

mkdirSync(join(root, "target/profile"), { recursive: true });
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
const chosen = opts.workload === "all" ? Object.keys(workloads) : [opts.workload];
for (const name of chosen) {
  const w = workloads[name];
  wrk(w, 2); // warm-up
  await send("Profiler.start");
  const requests = wrk(w, Number(opts.seconds));
  const { result } = await send("Profiler.stop");
  writeFileSync(join(root, `target/profile/${name}.cpuprofile`), JSON.stringify(result.profile));
  const { shares, hot, idle } = categorize(result.profile);
  const busyWithoutConsole = Object.entries(shares).reduce((a, [k, v]) => a + (k === "console" ? 0 : v), 0);
  const pct = (us) => ((100 * us) / busyWithoutConsole).toFixed(1).padStart(5);
  console.log(`\n${name} (${w.path}): ${requests} requests in ${opts.seconds} s under the profiler; ` +
    `busy ${(busyWithoutConsole / 1000).toFixed(0)} ms without console, idle ${(idle / 1000).toFixed(0)} ms`);
  console.log(`  console.log (left out below): ${((shares.console / 1000) / requests).toFixed(3)} ms per request`);
  for (const [cat, us] of Object.entries(shares)) {
    if (cat !== "console") console.log(`  ${cat.padEnd(11)} ${pct(us)}%  ${((us / 1000) / requests).toFixed(3)} ms/request`);
  }
  console.log("  hottest (self time):");
  [...hot.entries()].filter(([k]) => !k.startsWith("console")).sort((a, b) => b[1] - a[1]).slice(0, 15)
    .forEach(([k, us]) => console.log(`    ${pct(us)}%  ${k}`));
}
send.close();
server.stdin.end();
process.exit(0);
