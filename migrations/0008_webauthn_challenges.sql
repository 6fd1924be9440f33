-- WebAuthn challenges between a ceremony's options and its response, filed under the SHA-256
-- of the challenge with the ceremony they were issued for. A response spends its challenge
-- with one `DELETE … RETURNING`, which the database runs atomically, so a response is
-- accepted once however many copies of it race, in every location.
CREATE TABLE webauthn_challenges (
  key TEXT PRIMARY KEY NOT NULL,
  ceremony TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);
