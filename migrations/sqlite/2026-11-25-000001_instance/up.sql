-- One row naming this installation: every process attached to the same
-- database reports the same instance id in /readyz and its start-up log.
CREATE TABLE instance (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    instance_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
