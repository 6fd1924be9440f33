-- Passkeys (WebAuthn credentials). An account may have several; one created by a passkey
-- sign-up has no password (`users.password_hash` is then the empty string).
CREATE TABLE passkeys (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The authenticator's credential id, base64url: how an assertion names its credential.
  credential_id TEXT NOT NULL UNIQUE,
  -- The COSE_Key as registered, base64url.
  public_key TEXT NOT NULL,
  algorithm INTEGER NOT NULL,
  sign_count INTEGER NOT NULL DEFAULT 0,
  -- JSON array of AuthenticatorTransport values, as hints for allowCredentials.
  transports TEXT NOT NULL DEFAULT '[]',
  aaguid TEXT NOT NULL,
  backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
  backed_up INTEGER NOT NULL CHECK (backed_up IN (0, 1)),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX passkeys_user_created ON passkeys (user_id, created_at);
