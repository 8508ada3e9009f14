-- When each key last authenticated a request, so its owner can tell a key
-- in use from a forgotten one before revoking it. Written at most once a
-- minute per key, not on every request.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP;
