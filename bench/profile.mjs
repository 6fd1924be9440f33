// Where the Rust Worker spends CPU: a V8 sampling profile of workerd (through Miniflare's
// inspector) while wrk drives one route, aggregated by function self time. Run it on a build
// that keeps the Wasm names section (KEEP_WASM_NAMES=1 bash scripts/build.sh) so Rust
// functions appear by name.
//
// Usage: node bench/profile.mjs [path] [seconds]     (default: /v1/health, 5 s)

import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";

const path = process.argv[2] ?? "/v1/health";
const seconds = Number(process.argv[3] ?? 5);
const INSPECTOR = 9231;
const vars = JSON.stringify({ RATE_LIMITS: "ip=1000000000/60,user=1000000000/60" });
const server = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet", "--vars", vars, "--inspector-port", String(INSPECTOR)], {
  stdio: ["pipe", "pipe", "inherit"],
});
const { url } = JSON.parse(await new Promise((r) => createInterface({ input: server.stdout }).once("line", r)));
for (let i = 0; i < 200; i++) await fetch(url + path).then((r) => r.arrayBuffer());

const [target] = await (await fetch(`http://127.0.0.1:${INSPECTOR}/json`)).json();
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r, { once: true }));
let nextId = 1;
const pending = new Map();
ws.addEventListener("message", (ev) => {
  const msg = JSON.parse(ev.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
execFileSync("wrk", ["-t1", "-c8", `-d${seconds}s`, url + path], { stdio: "ignore" });
const { result } = await send("Profiler.stop");
ws.close();
server.stdin.end();

const { nodes, samples, timeDeltas } = result.profile;
const byId = new Map(nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
samples.forEach((id, i) => {
  const n = byId.get(id);
  const name = n.callFrame.functionName || `(${n.callFrame.url || "anonymous"})`;
  const dt = timeDeltas[i] ?? 0;
  self.set(name, (self.get(name) ?? 0) + dt);
  total += dt;
});
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
console.log(`| self % | function |`);
console.log(`| --- | --- |`);
for (const [name, t] of rows) console.log(`| ${((100 * t) / total).toFixed(1)} | ${name.slice(0, 90)} |`);
process.exit();
