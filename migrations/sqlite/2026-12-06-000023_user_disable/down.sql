DROP INDEX sessions_user_created;
DROP INDEX users_created;
ALTER TABLE users DROP COLUMN disabled_reason;
ALTER TABLE users DROP COLUMN disabled_at;
