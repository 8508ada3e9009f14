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
-- not sent.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('queued', 'sent', 'withdrawn'));
