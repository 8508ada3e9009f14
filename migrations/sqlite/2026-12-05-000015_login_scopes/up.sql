-- Login failures are also counted per email at one client address (the scope
-- that locks), beside the email alone and the address alone. The rows only
-- matter inside the lockout window, so the table is made anew rather than
-- altered (SQLite cannot change a CHECK constraint in place).
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('email', 'email_address', 'address')),
    subject TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_scope_subject_at ON login_failures (scope, subject, at);
CREATE INDEX login_failures_at ON login_failures (at);
