// The Worker's entry as an object, not a class constructed per request.
//
// worker-build's shim exports `default` as a Proxy over a `WorkerEntrypoint` subclass, so
// every request constructs the class, wraps the instance in a Proxy (spreading a dozen traps)
// and wraps `fetch` in another Proxy before calling it: measured at about a tenth of a
// pipeline-only request's CPU. This API needs no RPC entrypoint, so `default` becomes a plain
// object whose `fetch` keeps the shim's panic recovery (re-create the Wasm instance after a
// trap, report the trap) and calls the same handler. The Durable Object class keeps the
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
  "Entrypoint.prototype.fetch = function"];
const missing = needed.filter((s) => !source.includes(s));
if (missing.length) {
  console.error(`scripts/entry.mjs: worker-build's shim has changed; not found: ${missing.join(" | ")}`);
  process.exit(1);
}
const objectExport = `var shim_default = {
  fetch(request, env, ctx) {
    checkReinitialize();
    try {
      return Entrypoint.prototype.fetch.call({ env, ctx }, request);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  }
};`;
writeFileSync(file, source.replace(classExport, objectExport));
// Minified as worker-build would have.
execFileSync(process.env.ESBUILD_BIN ?? "esbuild",
  [file, "--minify", "--format=esm", `--outfile=${file}`, "--allow-overwrite", "--log-level=warning"],
  { stdio: "inherit" });
