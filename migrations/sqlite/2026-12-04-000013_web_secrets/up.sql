-- Keys the web layer signs with (the CSRF tokens of its forms), made once per
-- installation and shared by every process on this database, so a form
-- rendered by one process is accepted by another and survives restarts.
CREATE TABLE web_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
