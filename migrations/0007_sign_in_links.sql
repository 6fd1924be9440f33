-- E-mail sign-in links, filed under the SHA-256 of their token (the token itself is only in
-- the mail). A link is spent with one `DELETE … RETURNING`, which the database runs
-- atomically, so it signs in once however many requests race for it, in every location.
CREATE TABLE sign_in_links (
  key TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sign_in_links_expires_at ON sign_in_links (expires_at);
