-- The account life cycle: email verification, password reset, account deletion.
-- An account signs in once its email is verified (accounts made before this
-- migration count as verified when they were made). A deleted buyer keeps its
-- row, with the personal data replaced, so its orders still name a buyer.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMP;
UPDATE users SET email_verified_at = created_at;

-- Single-use links sent by email. Only the SHA-256 of the token is kept; the
-- token itself is made when the email is sent and exists only in that email.
-- Using one token of a purpose uses every outstanding token of that purpose.
CREATE TABLE account_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- An email still queued when its recipient deleted the account is withdrawn,
-- not sent. SQLite changes a CHECK only by rebuilding the table.
CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    -- queued -> sent | withdrawn; retries and dead letters are the job's.
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'withdrawn')),
    message_id TEXT NOT NULL,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO outbox_next (id, cause, template, to_address, subject, data, status, message_id, sent_at, created_at)
    SELECT id, cause, template, to_address, subject, data, status, message_id, sent_at, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_to_address ON outbox (to_address, created_at);
CREATE INDEX outbox_created ON outbox (created_at, id);
