-- When the account's address was first proven by a sign-in link (NULL: never). Sign-up does not
-- prove it, so the first proof removes the passkeys and password set up before it: someone who
-- signed up first with another person's address keeps no way in once the owner shows up.
ALTER TABLE users ADD COLUMN email_proven_at INTEGER;
