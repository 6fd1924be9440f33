-- Accounts. Email is stored normalised (trimmed, lowercased) by the application; the
-- NOCASE collation makes uniqueness case-insensitive even for rows written by hand.
CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  session_epoch INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX users_created_at_id ON users (created_at, id);
