// The Worker's entry as an object, not a class constructed per request.
//
// worker-build's shim exports `default` as a Proxy over a `WorkerEntrypoint` subclass, so
// every request constructs the class, wraps the instance in a Proxy (spreading a dozen traps)
// and wraps `fetch` in another Proxy before calling it: measured at about a tenth of a
// pipeline-only request's CPU. This API needs no RPC entrypoint, so `default` becomes a plain
// object (`fetch`, and `scheduled` for the Cron Trigger) whose `fetch` keeps the shim's panic
// recovery (re-create the Wasm instance after a trap, report the trap) and calls the same
// handler. The Durable Object class keeps the
// shim's wrapper.
//
// Usage: node scripts/entry.mjs build/index.js   (worker-build's output with NO_MINIFY=1)
// Fails, rather than guessing, when the shim no longer has the expected shape (a different
// worker-build): pin worker-build in scripts/setup.sh, or update the pattern below.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const source = readFileSync(file, "utf8");
const classExport = "var shim_default = new Proxy(Entrypoint, classProxyHooks);";
const needed = [classExport, "function checkReinitialize()", "function handleMaybeCritical(e)",
  "Entrypoint.prototype.fetch = function", "Entrypoint.prototype.scheduled = function",
  "function crashAnswer()"];
const missing = needed.filter((s) => !source.includes(s));
if (missing.length) {
  console.error(`scripts/entry.mjs: worker-build's shim has changed; not found: ${missing.join(" | ")}`);
  process.exit(1);
}
// A request the Worker fails (a panic traps the Wasm instance; the shim then re-creates it
// for the next request) is answered with the API's own 500 (\`crashAnswer\` in src/lib.rs: its
// headers and error shape, read once), the inbound request id when well formed (the rule of
// src/http/request_id.rs) or a new one, the inbound trace continued (the rule of
// src/http/trace.rs) or a new one, CORS headers for an origin on ALLOWED_ORIGINS (the list
// as src/config/mod.rs reads it; a list it refuses never gets this far), and one log line.
// A trap inside a
// microtask settles none of the answers still waiting on the instance, so those are failed
// too, instead of being left for the runtime to cancel as hung.
const objectExport = `const crash = JSON.parse(crashAnswer());
const waiting = new Set();
function failWaiting(error) {
  if (error instanceof WebAssembly.RuntimeError) for (const fail of waiting) fail(error);
}
addEventListener("error", (e) => failWaiting(e.error));
addEventListener("unhandledrejection", (e) => {
  handleMaybeCritical(e.reason);
  failWaiting(e.reason);
});
function hex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}
// Version 00 is exactly its four fields; a later one (not ff) may go on after a further "-".
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
function inboundTrace(value) {
  const m = TRACEPARENT.exec((value ?? "").trim());
  if (m === null || m[1] === "ff" || (m[1] === "00" && m[5] !== undefined)) return null;
  if (!/[1-9a-f]/.test(m[2]) || !/[1-9a-f]/.test(m[3])) return null;
  return { trace: m[2], flags: m[4] };
}
function crashed(request, env, error) {
  handleMaybeCritical(error);
  const inbound = request.headers.get("x-request-id");
  const id = inbound !== null && /^[A-Za-z0-9._=-]{1,128}$/.test(inbound) ? inbound : crypto.randomUUID();
  const parent = inboundTrace(request.headers.get("traceparent"));
  const trace = parent === null ? hex(16) : parent.trace;
  const headers = new Headers(crash.headers);
  headers.set("X-Request-Id", id);
  headers.set("traceparent", "00-" + trace + "-" + hex(8) + "-" + (parent === null ? "00" : parent.flags));
  const origin = request.headers.get("origin");
  if (origin !== null && String(env?.ALLOWED_ORIGINS ?? "").split(",").some((o) => o.trim() === origin && origin !== "")) {
    headers.set("Access-Control-Allow-Origin", origin);
    headers.set("Access-Control-Allow-Credentials", "true");
    headers.set("Access-Control-Expose-Headers", crash.expose_headers);
  }
  const body = structuredClone(crash.body);
  body.error.request_id = id;
  console.log(JSON.stringify({
    time: new Date().toISOString(), level: "error", request_id: id, trace_id: trace,
    method: request.method, status: 500, error_code: body.error.code,
    cause: "the Worker failed: " + (error instanceof Error ? error.name + ": " + error.message : String(error)),
  }));
  return new Response(JSON.stringify(body), { status: 500, headers });
}
var shim_default = {
  fetch(request, env, ctx) {
    checkReinitialize();
    let answer;
    try {
      answer = Entrypoint.prototype.fetch.call({ env, ctx }, request);
    } catch (e) {
      return crashed(request, env, e);
    }
    if (!(answer instanceof Promise)) return answer;
    let fail;
    const failed = new Promise((_, reject) => {
      fail = reject;
      waiting.add(fail);
    });
    return Promise.race([answer, failed]).then(
      (response) => {
        waiting.delete(fail);
        return response;
      },
      (e) => {
        waiting.delete(fail);
        return crashed(request, env, e);
      },
    );
  },
  // The Cron Trigger's clean-up (\`scheduled\` in src/lib.rs), through the shim's handler.
  scheduled(controller, env, ctx) {
    checkReinitialize();
    return Entrypoint.prototype.scheduled.call({ env, ctx }, controller);
  }
};`;
writeFileSync(file, source.replace(classExport, objectExport));
// Minified as worker-build would have.
execFileSync(process.env.ESBUILD_BIN ?? "esbuild",
  [file, "--minify", "--format=esm", `--outfile=${file}`, "--allow-overwrite", "--log-level=warning"],
  { stdio: "inherit" });
