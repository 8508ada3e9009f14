-- An operator can disable an account: its sessions are revoked at once, its
-- API keys are refused while it stays disabled, and signing in is refused
-- (after the right password only). Enabling clears both columns.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN disabled_reason TEXT;
-- The console's user list pages newest first, by (created_at, id).
CREATE INDEX users_created ON users (created_at, id);
-- Last sign-in of a user, and the stale-accounts check, read sessions by
-- user and creation time.
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
