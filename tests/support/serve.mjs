// Serves the built Worker in workerd through the Miniflare API, for integration tests and
// benchmarks. Configuration comes from wrangler.toml (top level plus one environment), so
// the tests run the same bindings and vars that `wrangler dev` and `wrangler deploy` use.
//
// Usage: node tests/support/serve.mjs [--env test] [--port 0] [--vars '{"K":"V"}']
//                                     [--drop-binding DB] [--log FILE] [--persist DIR]
//                                     [--script build/index.js] [--inspector-port 9230]
//                                     [--instances N] [--no-assets]
// Prints one line {"url": "..."} on stdout when ready, and stops when stdin closes (so it
// never outlives the test process that started it) or on SIGTERM/SIGINT.
//
// State is in memory unless --persist is given, so every run starts fresh; migrations from
// migrations/ are applied to D1 before the URL is printed.

import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync, appendFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { applyD1 } from "../../scripts/migrations.mjs";
import { stopWithParent } from "./lifetime.mjs";

const root = resolve(import.meta.dirname, "../..");
const { values: args } = parseArgs({
  options: {
    env: { type: "string", default: "test" },
    port: { type: "string", default: "0" },
    vars: { type: "string", default: "{}" },
    "drop-binding": { type: "string", multiple: true, default: [] },
    log: { type: "string" },
    persist: { type: "string" },
    quiet: { type: "boolean", default: false },
    // Another Worker with the same bindings (the benchmark peers).
    script: { type: "string", default: "build/index.js" },
    // Opens workerd's inspector (V8 DevTools protocol) on this port, for `make profile`.
    "inspector-port": { type: "string" },
    // Runs this many instances of the Worker, each in its own isolate, sharing the bindings
    // and one Durable Object namespace (the first instance's); prints every instance's URL.
    instances: { type: "string", default: "1" },
    // Leaves out the static assets (the page): benchmarks measure the Worker alone, as
    // Cloudflare serves assets before a Worker runs.
    "no-assets": { type: "boolean", default: false },
  },
});

const toml = parseToml(readFileSync(join(root, "wrangler.toml"), "utf8"));
const envConf = args.env === "" ? toml : { ...toml, ...(toml.env?.[args.env] ?? {}) };
const dropped = new Set(args["drop-binding"]);
const keep = (name) => !dropped.has(name);

const vars = { ...(envConf.vars ?? {}), ...JSON.parse(args.vars) };
const kvNamespaces = (envConf.kv_namespaces ?? []).map((k) => k.binding).filter(keep);
const d1 = (envConf.d1_databases ?? []).filter((d) => keep(d.binding));
const d1Databases = Object.fromEntries(d1.map((d) => [d.binding, d.database_id]));
const durableObjects = Object.fromEntries(
  (envConf.durable_objects?.bindings ?? [])
    .filter((b) => keep(b.name))
    .map((b) => [b.name, { className: b.class_name, useSQLite: true }]),
);

const writeLog = (chunk) => {
  if (args.log) appendFileSync(args.log, chunk);
  if (!args.quiet) process.stderr.write(chunk);
};

const persist = args.persist ? resolve(args.persist) : undefined;
const worker = {
  modules: true,
  modulesRoot: dirname(resolve(root, args.script)),
  scriptPath: resolve(root, args.script),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: toml.compatibility_date,
  compatibilityFlags: toml.compatibility_flags ?? [],
  bindings: vars,
  kvNamespaces,
  d1Databases,
  durableObjects,
};
// Static assets (`[assets]` in wrangler.toml: the page and its `_headers`) are served before
// the Worker, which answers every path that is not an asset.
const assets = args["no-assets"] ? undefined : (envConf.assets ?? toml.assets);
if (assets) {
  worker.assets = {
    directory: resolve(root, assets.directory),
    routerConfig: { has_user_worker: true },
  };
}
const shared = {
  host: "127.0.0.1",
  port: Number(args.port),
  cf: false,
  // `GET /cdn-cgi/handler/scheduled?time=<ms>` runs the Cron Trigger's handler (tests only).
  unsafeTriggerHandlers: true,
  inspectorPort: args["inspector-port"] ? Number(args["inspector-port"]) : undefined,
  kvPersist: persist && join(persist, "kv"),
  d1Persist: persist && join(persist, "d1"),
  durableObjectsPersist: persist && join(persist, "do"),
  handleRuntimeStdio(stdout, stderr) {
    stdout.on("data", writeLog);
    stderr.on("data", writeLog);
  },
};
const instances = Number(args.instances);
const names = Array.from({ length: instances }, (_, i) => `instance-${i}`);
const options =
  instances === 1
    ? { ...shared, ...worker }
    : {
        ...shared,
        workers: names.map((name, i) => ({
          ...worker,
          name,
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
          // Every instance binds the first one's class: one namespace, one object per key.
          durableObjects:
            i === 0
              ? durableObjects
              : Object.fromEntries(
                  Object.entries(durableObjects).map(([b, o]) => [b, { ...o, scriptName: names[0] }]),
                ),
        })),
      };

/** Starts Miniflare and applies the migrations. Miniflare's synchronous proxy call (each
 * `prepare`) can read its answer before the answer has arrived on a loaded machine; it then
 * fails an assertion and stays one answer behind, so the whole instance is started again. A
 * file's migration is one batch, sent only after all its statements are prepared, so a retry
 * never finds a migration half applied. */
async function startMiniflare(attempts = 3) {
  const mf = new Miniflare(options);
  try {
    const url = await mf.ready;
    for (const db of d1) {
      const database = await mf.getD1Database(db.binding, instances === 1 ? undefined : names[0]);
      await applyD1(database, join(root, db.migrations_dir ?? "migrations"));
    }
    return { mf, url };
  } catch (err) {
    await mf.dispose().catch(() => {});
    if (attempts > 1 && String(err?.stack).includes("SynchronousFetcher")) {
      process.stderr.write(`serve: Miniflare's proxy lost an answer; starting again\n`);
      return startMiniflare(attempts - 1);
    }
    throw err;
  }
}

const { mf, url } = await startMiniflare();
const urls =
  instances === 1 ? [url.origin] : await Promise.all(names.map(async (n) => (await mf.unsafeGetDirectURL(n)).origin));
process.stdout.write(JSON.stringify({ url: urls[0], urls }) + "\n");

stopWithParent(() => mf.dispose());
