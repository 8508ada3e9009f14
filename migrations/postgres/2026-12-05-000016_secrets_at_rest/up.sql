-- Secrets at rest and at the edge. API keys may expire: staff keys always do
-- (at most 90 days after creation, enforced in code for keys made before this
-- column too), seller keys when asked. NULL: no expiry of its own.
-- TOTP secrets (users.totp_secret) keep their column: rows become
-- `v1:<key id>:<nonce>:<ciphertext>` when the server starts (src/auth/totp_keys.rs).
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMP;
