DROP TABLE login_failures;
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('email', 'address')),
    subject TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_scope_subject_at ON login_failures (scope, subject, at);
CREATE INDEX login_failures_at ON login_failures (at);
