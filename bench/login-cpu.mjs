// Measures the CPU cost of one login (PBKDF2-HMAC-SHA256, 100,000 iterations, through
// WebCrypto) in workerd: CPU time of the workerd process over N logins, minus the same
// number of health requests as the baseline for request handling.
//
// Usage: node bench/login-cpu.mjs [N]   (after `make build`)

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const N = Number(process.argv[2] ?? 100);
const server = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet"], {
  stdio: ["pipe", "pipe", "inherit"],
});
const { url } = JSON.parse(await new Promise((resolve) => {
  createInterface({ input: server.stdout }).once("line", resolve);
}));

// workerd is a descendant of the server process; pick it by its command line.
function workerdPids() {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("workerd");
    } catch {
      return false;
    }
  });
}
const ticks = () =>
  workerdPids().reduce((sum, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return sum + Number(fields[11]) + Number(fields[12]); // utime + stime
  }, 0);
const TICK_MS = 10; // USER_HZ = 100 on Linux

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

async function measure(fn) {
  const t0 = ticks();
  const start = performance.now();
  for (let i = 0; i < N; i++) await fn();
  return { cpu: (ticks() - t0) * TICK_MS, wall: performance.now() - start };
}
const health = await measure(() => fetch(url + "/v1/health").then((r) => r.arrayBuffer()));
const login = await measure(() => post("/v1/auth/login", { email, password }).then((r) => r.arrayBuffer()));

const perLogin = (login.cpu - health.cpu) / N;
const result = {
  date: new Date().toISOString(),
  logins: N,
  cpu_ms_per_login: Number((login.cpu / N).toFixed(2)),
  cpu_ms_per_health: Number((health.cpu / N).toFixed(2)),
  cpu_ms_login_over_health: Number(perLogin.toFixed(2)),
  wall_ms_per_login: Number((login.wall / N).toFixed(2)),
};
console.log(`login: ${result.cpu_ms_per_login} ms CPU per login (health: ${result.cpu_ms_per_health} ms)`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/login.json", JSON.stringify(result, null, 2) + "\n");
server.stdin.end();
