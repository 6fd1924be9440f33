// Contract fuzzing: schemathesis against the release build in workerd, driven by the served
// OpenAPI document. Two runs, one signed in with a session cookie (and the allowed Origin,
// as a browser would send for the CSRF check), one with a service token; all operations,
// positive and negative data, stateful links (signup → login, create note → read, patch,
// delete). Checks: no server errors; status codes, content types, response schemas and
// headers as documented; schema-invalid input refused; deleted resources gone, created ones
// reachable.
//
// Usage: node tests/contract/fuzz.mjs [--examples 40] [--seed 1] [--min-requests 1000]
//   `make test` runs the fixed-seed budget; `make fuzz` a larger one with a random seed.

import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname, "../..");
const { values: opts } = parseArgs({
  options: {
    examples: { type: "string", default: "40" },
    seed: { type: "string", default: "1" },
    "min-requests": { type: "string", default: "1000" },
  },
});
const ORIGIN = "https://app.example.test";
const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_schema_conformance",
  "response_headers_conformance",
  "negative_data_rejection",
  "use_after_free",
  "ensure_resource_availability",
].join(",");

// The Worker, in the `test` environment of wrangler.toml (quotas raised for the fuzzer).
const server = spawn(process.execPath, ["tests/support/serve.mjs", "--quiet"], {
  cwd: root,
  stdio: ["pipe", "pipe", "inherit"],
});
process.on("exit", () => server.stdin.end());
const ready = await new Promise((r) => createInterface({ input: server.stdout }).once("line", r));
const { url } = JSON.parse(ready);

// A signed-in browser: its session cookie.
const email = `fuzz-${Date.now()}@example.test`;
// Not the documented example password, so no generated request can change or reuse it.
const password = `fuzz ${Math.random().toString(36).slice(2)} password`;
const post = (path, body) =>
  fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
if ((await post("/v1/auth/signup", { email, password })).status !== 201) throw new Error("signup failed");
const login = await post("/v1/auth/login", { email, password });
if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
const cookie = login.headers.get("set-cookie").split(";")[0];

// A service with both roles: an HS256 token signed with the test environment's secret.
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
  iss: "https://issuer.test", aud: "edge-api", sub: "contract-fuzzer", scope: "user admin", iat: now, exp: now + 3600,
})}`;
const sig = createHmac("sha256", "test-hs256-secret-0123456789abcdef").update(unsigned).digest("base64url");
const bearer = `${unsigned}.${sig}`;

const reports = join(root, "target/contract");
mkdirSync(reports, { recursive: true });
const schemathesis = join(root, ".tools/py/bin/schemathesis");

function run(name, headers, extra = []) {
  const args = [
    "--config-file", join(root, "tests/contract/schemathesis.toml"),
    "run", `${url}/v1/openapi.json`,
    "--checks", CHECKS,
    "--phases", "examples,coverage,fuzzing,stateful",
    "--max-examples", opts.examples,
    "--seed", opts.seed,
    // One worker: Hypothesis's lambda descriptions are not safe across threads.
    "--workers", "1",
    "--request-timeout", "20",
    "--suppress-health-check", "all",
    "--report", "ndjson",
    "--report-ndjson-path", join(reports, `${name}.ndjson`),
    "--output-truncate", "true",
    ...headers.flatMap((h) => ["-H", h]),
    ...extra,
  ];
  rmSync(join(reports, `${name}.ndjson`), { force: true });
  const started = Date.now();
  let code = 0;
  try {
    execFileSync(schemathesis, args, { cwd: root, stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } });
  } catch (e) {
    code = e.status ?? 1;
  }
  const requests = countRequests(join(reports, `${name}.ndjson`));
  console.log(`[contract] ${name}: ${requests} requests in ${((Date.now() - started) / 1000).toFixed(0)} s, exit ${code}`);
  return { code, requests };
}

// Every network call schemathesis made, from its event log.
function countRequests(file) {
  let n = 0;
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return 0;
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line);
    const recorder = event.ScenarioFinished?.recorder;
    if (recorder) n += Object.keys(recorder.interactions ?? {}).length;
  }
  return n;
}

// The cookie run leaves out the operations that can end the session it runs on: logout,
// logout-all, revoking a listed session (stateful runs feed it the current one), deleting the
// account, and login (a successful login deletes the session the request carried). The bearer run, which carries
// no cookie, covers them; tests/api/ covers their effects.
const cookieRun = run("cookie", [`Cookie: ${cookie}`, `Origin: ${ORIGIN}`], [
  "--exclude-operation-id", "logout",
  "--exclude-operation-id", "logoutAll",
  "--exclude-operation-id", "deleteSession",
  "--exclude-operation-id", "deleteAccount",
  "--exclude-operation-id", "login",
]);
const bearerRun = run("bearer", [`Authorization: Bearer ${bearer}`]);
server.stdin.end();

const total = cookieRun.requests + bearerRun.requests;
const min = Number(opts["min-requests"]);
console.log(`[contract] ${total} requests in all (at least ${min} required)`);
if (cookieRun.code !== 0 || bearerRun.code !== 0) process.exit(1);
if (total < min) {
  console.error(`[contract] only ${total} requests: raise --examples`);
  process.exit(1);
}
process.exit(0);
