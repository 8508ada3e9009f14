-- withdrawn emails stay; the older CHECK is not restored (SQLite would rebuild the table).
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN deleted_at;
ALTER TABLE users DROP COLUMN email_verified_at;
