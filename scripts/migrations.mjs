// Applies migrations/*.sql, the one source of schema, to D1 (tests) or to Turso / libSQL over
// Hrana (`make migrate-turso`). Applied files are recorded in `d1_migrations`, the table
// `wrangler d1 migrations apply` uses, so every tool agrees on what has run.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS d1_migrations(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE,
  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)`;

/// Splits a migration file into statements: `;` at the end of a line ends a statement, and
/// `--` comment lines are dropped. Migrations in this project keep to that form.
export function splitStatements(sql) {
  const statements = [];
  let current = [];
  for (const line of sql.split("\n")) {
    if (line.trim().startsWith("--") || line.trim() === "") continue;
    current.push(line);
    if (line.trimEnd().endsWith(";")) {
      statements.push(current.join("\n"));
      current = [];
    }
  }
  if (current.join("").trim() !== "") statements.push(current.join("\n"));
  return statements;
}

function migrationFiles(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, statements: splitStatements(readFileSync(join(dir, name), "utf8")) }));
}

/// Applies pending migrations to a D1 binding (Miniflare's `getD1Database`), each file in one
/// atomic batch.
export async function applyD1(db, dir) {
  await db.prepare(CREATE_TABLE).run();
  const applied = new Set(
    (await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name),
  );
  for (const { name, statements } of migrationFiles(dir)) {
    if (applied.has(name)) continue;
    await db.batch([
      ...statements.map((s) => db.prepare(s)),
      db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(name),
    ]);
  }
}

/// A Hrana stream over HTTP: each request carries the baton of the previous answer, so the
/// statements of one migration run in one server-side transaction across round trips.
class HranaStream {
  constructor(url, token) {
    this.url = url.replace(/^libsql:\/\//, "https://").replace(/\/$/, "");
    this.token = token;
    this.baton = null;
  }

  async send(requests) {
    const resp = await fetch(`${this.url}/v3/pipeline`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: JSON.stringify({ baton: this.baton, requests }),
    });
    if (!resp.ok) throw new Error(`Hrana HTTP ${resp.status}: ${await resp.text()}`);
    const body = await resp.json();
    this.baton = body.baton;
    if (body.base_url) this.url = body.base_url.replace(/\/$/, "");
    return body.results.map((r) => {
      if (r.type === "error") throw new Error(r.error.message);
      return r.response;
    });
  }

  async execute(sql, args = []) {
    const [resp] = await this.send([{ type: "execute", stmt: { sql, args, want_rows: true } }]);
    return resp.result;
  }

  async close() {
    if (this.baton) await this.send([{ type: "close" }]);
    this.baton = null;
  }
}

/// Applies pending migrations to a libSQL server, each file in its own transaction.
export async function applyHrana(url, token, dir, log = () => {}) {
  const setup = new HranaStream(url, token);
  await setup.execute(CREATE_TABLE);
  const rows = (await setup.execute("SELECT name FROM d1_migrations")).rows;
  await setup.close();
  const applied = new Set(rows.map((r) => r[0].value));
  for (const { name, statements } of migrationFiles(dir)) {
    if (applied.has(name)) continue;
    const tx = new HranaStream(url, token);
    await tx.execute("BEGIN");
    try {
      for (const sql of statements) await tx.execute(sql);
      await tx.execute("INSERT INTO d1_migrations (name) VALUES (?)", [{ type: "text", value: name }]);
      await tx.execute("COMMIT");
    } catch (err) {
      await tx.execute("ROLLBACK").catch(() => {});
      throw new Error(`${name}: ${err.message}`);
    } finally {
      await tx.close().catch(() => {});
    }
    log(`applied ${name}`);
  }
}
