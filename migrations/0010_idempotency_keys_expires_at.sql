-- The hourly purge deletes expired idempotency keys in bounded rounds; the index lets each
-- round read only the rows it deletes instead of the whole table.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
