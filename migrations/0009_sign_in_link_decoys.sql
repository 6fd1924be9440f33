-- A request for an address with no account files a decoy link (no account, a token nobody
-- holds), so the database moves the same way whether or not the address has an account and
-- its write-position (D1's bookmark, sent to clients) does not tell them apart. SQLite cannot
-- drop a NOT NULL constraint in place, so the table is rebuilt with `user_id` nullable.
CREATE TABLE sign_in_links_next (
  key TEXT PRIMARY KEY NOT NULL,
  user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);
INSERT INTO sign_in_links_next (key, user_id, expires_at)
  SELECT key, user_id, expires_at FROM sign_in_links;
DROP TABLE sign_in_links;
ALTER TABLE sign_in_links_next RENAME TO sign_in_links;
CREATE INDEX sign_in_links_expires_at ON sign_in_links (expires_at);
CREATE INDEX sign_in_links_user_id ON sign_in_links (user_id);
