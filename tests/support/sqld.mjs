// Starts a real libSQL server (sqld, installed by scripts/setup.sh) on a loopback port with
// JWT authentication (a fresh Ed25519 key per run), applies migrations/ over Hrana, and prints
// {"url", "token", "admin_url"}. Stops sqld and removes its files when stdin closes.

import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { applyHrana } from "../../scripts/migrations.mjs";
import { isStopping, stopWithParent } from "./lifetime.mjs";

const root = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "sqld-"));

const freePort = () =>
  new Promise((done) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => done(port));
    });
  });
const port = await freePort();
// The admin API reports the server's own query counts (GET /v1/namespaces/default/stats).
const adminPort = await freePort();

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
writeFileSync(join(dir, "jwt.pem"), publicKey.export({ type: "spki", format: "pem" }));
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const signingInput = `${b64({ alg: "EdDSA", typ: "JWT" })}.${b64({ a: "rw", iat: now, exp: now + 86400 })}`;
const token = `${signingInput}.${sign(null, Buffer.from(signingInput), privateKey).toString("base64url")}`;

const sqld = spawn(
  join(root, ".tools/bin/sqld"),
  [
    "--db-path", join(dir, "data"),
    "--http-listen-addr", `127.0.0.1:${port}`,
    "--admin-listen-addr", `127.0.0.1:${adminPort}`,
    "--auth-jwt-key-file", join(dir, "jwt.pem"),
    "--no-welcome",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
let stderr = "";
sqld.stderr.on("data", (d) => (stderr += d));
sqld.on("exit", (code) => {
  if (!isStopping()) {
    console.error(`sqld exited (${code}): ${stderr}`);
    process.exit(1);
  }
});

stopWithParent(() => {
  sqld.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${url}/health`)).ok) break;
  } catch {}
  if (i > 200) throw new Error(`sqld did not start: ${stderr}`);
  await new Promise((r) => setTimeout(r, 50));
}
await applyHrana(url, token, join(root, "migrations"));
const adminUrl = `http://127.0.0.1:${adminPort}`;
process.stdout.write(JSON.stringify({ url, token, admin_url: adminUrl }) + "\n");
