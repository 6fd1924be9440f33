-- Schema bookkeeping for the template. Resource tables arrive in later migrations.
-- Conventions: ids are UUIDv7 text, times are integer Unix milliseconds (D1 returns
-- numbers as JavaScript doubles, exact only up to 2^53).
CREATE TABLE IF NOT EXISTS app_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO app_meta (key, value) VALUES ('schema_origin', 'edge-api');
