// Measures the CPU cost of signing in, in workerd: a password login (PBKDF2-HMAC-SHA256,
// 100,000 iterations, through WebCrypto) and a passkey login (options + verify: one ES256
// signature checked by WebCrypto, or one Ed25519 signature checked in the Wasm). CPU time of
// the workerd process over N sign-ins, beside the same number of health requests as the
// baseline for request handling.
//
// Usage: node bench/login-cpu.mjs [N]   (after `make build`; PROFILE=1 to profile the isolate)

import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { SoftPasskey } from "./soft-authenticator.mjs";
import { TICK_MS, cpuTicks, inspector, workerdBelow } from "./workerd.mjs";

const N = Number(process.argv[2] ?? 100);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
// PROFILE=1 also takes a V8 CPU profile of the Worker's isolate per workload
// (target/profile/*.cpuprofile, and its busy time); sampling itself costs CPU, so the
// process figures are taken without it by default.
const PROFILE = process.env.PROFILE === "1";
const INSPECTOR = "9231";
const server = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet", "--no-assets", "--inspector-port", INSPECTOR], {
  stdio: ["pipe", "pipe", "inherit"],
});
const { url } = JSON.parse(await new Promise((resolve) => {
  createInterface({ input: server.stdout }).once("line", resolve);
}));

// The Worker's isolate through workerd's inspector: its busy time is what Workers bill as
// CPU. The workerd process also runs Miniflare's local KV and D1, which production does not
// charge to the Worker.
const send = await inspector(INSPECTOR);
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: Number(process.env.SAMPLE_US ?? 1000) });
// Busy microseconds in a profile, leaving out idle time and console output (far costlier
// with an inspector attached than without).
function busyUs(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const { functionName: fn, url: src } = byId.get(id);
    if (fn === "(idle)" || (src === "" && /^(log|warn|error|info)$/.test(fn))) return;
    busy += profile.timeDeltas[i] ?? 0;
  });
  return busy;
}

const pids = workerdBelow(server.pid);
const ticks = () => cpuTicks(pids);

const post = (path, body) =>
  fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const email = `bench-${Date.now()}@example.test`;
const password = "correct horse battery staple";
await post("/v1/auth/signup", { email, password });
for (let i = 0; i < 5; i++) await post("/v1/auth/login", { email, password }); // warm up

const profiles = [];
async function measure(fnOrPerWorker) {
  const fns = Array.isArray(fnOrPerWorker) ? fnOrPerWorker : Array(CONCURRENCY).fill(fnOrPerWorker);
  if (PROFILE) await send("Profiler.start");
  const t0 = ticks();
  const start = performance.now();
  // Eight sign-ins in flight at a time, as under real traffic (one at a time, the runtime's
  // per-request wake-ups would dominate the small requests).
  let next = 0;
  const worker = async (fn) => { while (next++ < N) await fn(); };
  await Promise.all(fns.map(worker));
  const cpu = (ticks() - t0) * TICK_MS;
  const wall = performance.now() - start;
  if (!PROFILE) return { cpu, wall, isolate: NaN };
  const { result } = await send("Profiler.stop");
  profiles.push(result.profile);
  return { cpu, wall, isolate: busyUs(result.profile) / 1000 };
}
const health = await measure(() => fetch(url + "/v1/health").then((r) => r.arrayBuffer()));
// A reference with storage: an authenticated note read (a KV session read, a D1 query).
const cookie = (await post("/v1/auth/login", { email, password })).headers.get("set-cookie").split(";")[0];
const note = await (await fetch(url + "/v1/notes", {
  method: "POST",
  headers: { "content-type": "application/json", cookie, origin: "https://app.example.test" },
  body: JSON.stringify({ title: "bench" }),
})).json();
const read = await measure(() => fetch(`${url}/v1/notes/${note.id}`, { headers: { cookie } }).then((r) => r.arrayBuffer()));
const login = await measure(() => post("/v1/auth/login", { email, password }).then((r) => r.arrayBuffer()));

// Passkeys: sign up once per algorithm, then sign in N times (options + verify).
const ORIGIN = "http://localhost:8787";
async function passkeyUser(algorithm) {
  const key = await SoftPasskey.create(algorithm);
  const options = await post("/v1/auth/passkeys/register/options", { email: `bench-${algorithm}-${Date.now()}-${Math.random().toString(36).slice(2)}@example.test` })
    .then((r) => r.json());
  const created = await post("/v1/auth/passkeys/register/verify", key.registration(options.publicKey, ORIGIN));
  if (created.status !== 201) throw new Error(`passkey sign-up: ${created.status} ${await created.text()}`);
  const { user } = await created.json();
  const handle = Buffer.from(user.id.replaceAll("-", ""), "hex").toString("base64url");
  return async () => {
    const { publicKey } = await post("/v1/auth/passkeys/login/options", {}).then((r) => r.json());
    const resp = await post("/v1/auth/passkeys/login/verify", await key.authentication(publicKey, ORIGIN, handle));
    if (resp.status !== 200) throw new Error(`passkey login: ${resp.status} ${await resp.text()}`);
    await resp.arrayBuffer();
  };
}
// One passkey per sign-in in flight: an authenticator signs one assertion at a time, and its
// counter must increase from one to the next.
const users = async (algorithm) => Promise.all(Array.from({ length: CONCURRENCY }, () => passkeyUser(algorithm)));
const es256Logins = await users("ES256");
const ed25519Logins = await users("Ed25519");
for (const login of [...es256Logins, ...ed25519Logins]) await login(); // warm up
// The first half alone: a challenge issued and stored.
const options = await measure(() => post("/v1/auth/passkeys/login/options", {}).then((r) => r.arrayBuffer()));
const es256 = await measure(es256Logins);
const ed25519 = await measure(ed25519Logins);

const perLogin = (login.cpu - health.cpu) / N;
const per = (m) => Number((m.cpu / N).toFixed(2));
const isolate = (m) => Number((m.isolate / N).toFixed(3));
const result = {
  date: new Date().toISOString(),
  logins: N,
  cpu_ms_per_login: per(login),
  cpu_ms_per_health: per(health),
  cpu_ms_login_over_health: Number(perLogin.toFixed(2)),
  wall_ms_per_login: Number((login.wall / N).toFixed(2)),
  // Two requests each (options, then verify).
  cpu_ms_per_passkey_login_es256: per(es256),
  cpu_ms_per_passkey_options: per(options),
  cpu_ms_per_passkey_login_ed25519: per(ed25519),
  wall_ms_per_passkey_login_es256: Number((es256.wall / N).toFixed(2)),
  // The Worker's isolate alone (what Workers bill), from a V8 CPU profile.
  cpu_ms_per_authenticated_read: per(read),
  isolate_ms_per_health: isolate(health),
  isolate_ms_per_authenticated_read: isolate(read),
  isolate_ms_per_login: isolate(login),
  isolate_ms_per_passkey_login_es256: isolate(es256),
  isolate_ms_per_passkey_login_ed25519: isolate(ed25519),
};
console.log(`password login: ${result.cpu_ms_per_login} ms CPU (health: ${result.cpu_ms_per_health} ms, authenticated read: ${result.cpu_ms_per_authenticated_read} ms)`);
console.log(`passkey login (options + verify): ES256 ${result.cpu_ms_per_passkey_login_es256} ms CPU, Ed25519 ${result.cpu_ms_per_passkey_login_ed25519} ms CPU (options alone ${result.cpu_ms_per_passkey_options} ms)`);
if (PROFILE) console.log(`the Worker's isolate alone: password login ${result.isolate_ms_per_login} ms, passkey login ES256 ${result.isolate_ms_per_passkey_login_es256} ms, Ed25519 ${result.isolate_ms_per_passkey_login_ed25519} ms (health ${result.isolate_ms_per_health} ms)`);
mkdirSync("target/profile", { recursive: true });
["health", "authenticated-read", "password-login", "passkey-options", "passkey-login-es256", "passkey-login-ed25519"].forEach((name, i) =>
  profiles[i] && writeFileSync(`target/profile/${name}.cpuprofile`, JSON.stringify(profiles[i])));
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/login.json", JSON.stringify(result, null, 2) + "\n");
send.close();
server.stdin.end();
