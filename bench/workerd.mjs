// What the benchmarks need of a running workerd: its processes (descendants of the harness
// that started it, so other workerd processes on the machine are never counted), their CPU
// time, a DevTools session on the Worker's isolate through the inspector, where the
// processes run, the Hono peer's bundle, and the settings and config of a Worker served by a
// bare `workerd serve`.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { WebSocket } from "ws";

/** Clock ticks per second of /proc CPU times (USER_HZ on Linux), as milliseconds per tick. */
export const TICK_MS = 10;

/** The process ids below `pid`, at any depth. */
export function descendants(pid) {
  const parents = new Map();
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      parents.set(p, stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {}
  }
  const out = [];
  const walk = (parent) => {
    for (const [p, pp] of parents) if (pp === String(parent)) { out.push(p); walk(p); }
  };
  walk(pid);
  return out;
}

/** The workerd processes started by the harness process `pid`. */
export function workerdBelow(pid) {
  return descendants(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("workerd");
    } catch {
      return false;
    }
  });
}

/** User + system clock ticks spent so far by `pids`. */
export function cpuTicks(pids) {
  return pids.reduce((sum, pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return sum + Number(f[11]) + Number(f[12]);
  }, 0);
}

/** Opens a DevTools session on the first inspector target; resolves to `send(method, params)`. */
export async function inspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((ok, fail) => ws.once("open", ok).once("error", fail));
  let nextId = 1;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((ok) => {
      const id = nextId++;
      pending.set(id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  send.close = () => ws.close();
  return send;
}

/**
 * How the benchmarks place their processes on a machine with two or more cores: the Worker's
 * workerd (every thread) alone on the last core; the load generator and the Miniflare
 * process that started workerd (it reads workerd's log pipe) on the first. Load generator and
 * server then never take turns on one core, and a target's CPU time is its own work.
 * `wrap(cmd, args)` gives the command line that runs a process on the first core (wrk, and
 * the Miniflare process, whose workerd children start there too); `settle(pids)` then moves
 * each started workerd, every thread, to the last. Without `taskset`, or on one core, nothing
 * is placed.
 */
export function placement(enabled = true) {
  const cores = cpus().length;
  let taskset = false;
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    taskset = true;
  } catch {}
  const on = enabled && taskset && cores >= 2;
  const server = String(cores - 1);
  return {
    on,
    describe: on ? `workerd on core ${server}, wrk and Miniflare on core 0` : "unplaced",
    wrap: (cmd, args) => (on ? ["taskset", ["-c", "0", cmd, ...args]] : [cmd, args]),
    settle: (pids) => {
      if (on) for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", server, pid], { stdio: "ignore" });
    },
  };
}

/** Bundles the Hono peer (bench/peers/hono) into build/bench/hono/index.js, as `make bench` serves it. */
export function buildHonoPeer(root) {
  execFileSync(
    join(root, "node_modules/.bin/esbuild"),
    ["bench/peers/hono/src/index.ts", "--bundle", "--format=esm", "--platform=neutral", "--target=es2022",
     "--minify", "--log-level=warning", "--outfile=build/bench/hono/index.js"],
    { cwd: root, stdio: "inherit" },
  );
}

/** wrangler.toml, parsed. */
export const wranglerConfig = (root) => parseToml(readFileSync(join(root, "wrangler.toml"), "utf8"));

/**
 * The test environment's variables (the pipeline-only route is a test route), quotas out of
 * reach and the isolate cache off, as `make bench` serves the Worker.
 */
export function benchVars(root) {
  return {
    ...wranglerConfig(root).env.test.vars,
    RATE_LIMITS: "ip=1000000000/60,user=1000000000/60",
    CACHE_L1_MAX_ENTRIES: "0",
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort = () => new Promise((ok) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
});

/**
 * Writes `dir/config.capnp` for `workerd serve`: one Worker made of `modules` (capnp module
 * entries), with `vars` as text bindings and no other binding, served on 127.0.0.1:`port`.
 * Returns the file's path.
 */
export function writeServeConfig(dir, { root, port, modules, vars, v8Flags = [] }) {
  const str = (s) => JSON.stringify(String(s));
  const path = join(dir, "config.capnp");
  writeFileSync(path, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
  v8Flags = [${v8Flags.map(str).join(", ")}],
);
const worker :Workerd.Worker = (
  modules = [${modules.join(", ")}],
  compatibilityDate = ${str(wranglerConfig(root).compatibility_date)},
  bindings = [${Object.entries(vars).map(([k, v]) => `(name = ${str(k)}, text = ${str(v)})`).join(", ")}],
);
`);
  return path;
}

/** The origin the benchmarks' browser-style requests name (an allowed origin in wrangler.toml). */
export const BENCH_ORIGIN = "https://app.example.test";
/** The password of the accounts `seedAccount` makes. */
export const BENCH_PASSWORD = "correct horse battery staple";

/**
 * Signs up a new account on the Worker at `url` (named `name` in errors), signs it in and
 * creates a 512-byte note; returns the e-mail, the session cookie and the note's id.
 */
export async function seedAccount(url, name) {
  const post = (path, body, headers = {}) =>
    fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json", origin: BENCH_ORIGIN, ...headers },
      body: JSON.stringify(body),
    });
  const email = `bench-${Date.now()}@example.test`;
  const password = BENCH_PASSWORD;
  const signup = await post("/v1/auth/signup", { email, password });
  if (signup.status !== 201) throw new Error(`${name} signup: ${signup.status}`);
  const login = await post("/v1/auth/login", { email, password });
  if (login.status !== 200) throw new Error(`${name} login: ${login.status}`);
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const note = await post("/v1/notes", { title: "Bench", body: "x".repeat(512), tags: ["bench"] }, { cookie });
  if (note.status !== 201) throw new Error(`${name} note: ${note.status}`);
  const { id } = await note.json();
  return { email, cookie, noteId: id };
}
