-- Users, their sessions and API keys, login throttling and the audit log.
-- Secrets are never stored: passwords as argon2id PHC strings, session tokens
-- and API keys as SHA-256 hex digests.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    -- Normalised (trimmed, lowercased) by the application before it gets here.
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('buyer', 'seller', 'operator', 'finance', 'support')),
    -- Base32 TOTP secret; set by enrolment, active once totp_enrolled_at is set.
    totp_secret TEXT,
    totp_enrolled_at TIMESTAMP,
    -- The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    ip TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    -- The 8 characters after `bzk_`: shown in listings, used to find the key.
    prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

-- One row per failed login, per scope: the throttle counts rows inside the
-- lockout window, so every server process sharing the database agrees.
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('email', 'address')),
    subject TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_scope_subject_at ON login_failures (scope, subject, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- Append-only: the application has no update or delete for it, and the
-- triggers below refuse them from anyone else too.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    ip TEXT,
    request_id TEXT,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_at_id ON audit_log (at, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
