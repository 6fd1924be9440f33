// Applies migrations/*.sql in name order to a D1-compatible database, recording each in
// `d1_migrations` exactly as `wrangler d1 migrations apply` does, so a database migrated by
// either tool is recognised by the other.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

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

export async function applyMigrations(db, dir) {
  await db
    .prepare(
      `CREATE TABLE IF NOT EXISTS d1_migrations(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT UNIQUE,
        applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)`,
    )
    .run();
  const applied = new Set(
    (await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name),
  );
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  for (const file of files.filter((f) => !applied.has(f))) {
    const statements = splitStatements(readFileSync(join(dir, file), "utf8"));
    await db.batch([
      ...statements.map((s) => db.prepare(s)),
      db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(file),
    ]);
  }
}
