-- Notes owned by users. `tags` starts as a comma-separated list; 0004 and 0005 show how it
-- moves to a JSON array without downtime (expand, then contract).
CREATE TABLE notes (
  id TEXT PRIMARY KEY NOT NULL,
  owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);
-- Serves "my notes, newest first" with keyset pagination.
CREATE INDEX notes_owner_created ON notes (owner_id, created_at, id);
-- Idempotency-Key records for POST /v1/notes: the first response, replayed for 24 hours.
CREATE TABLE idempotency_keys (
  owner_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  note_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (owner_id, key)
);
