// `make migrate-turso`: applies migrations/ to the database at TURSO_URL with
// TURSO_AUTH_TOKEN, recording them in d1_migrations like wrangler does for D1.
import { applyHrana } from "./migrations.mjs";
import { resolve } from "node:path";

const url = process.env.TURSO_URL;
if (!url) {
  console.error("TURSO_URL is not set (e.g. libsql://<db>-<org>.turso.io)");
  process.exit(2);
}
await applyHrana(url, process.env.TURSO_AUTH_TOKEN, resolve(import.meta.dirname, "../migrations"), console.log);
console.log("migrations up to date");
