-- Provider events as received (verified first), and the job queue that
-- processes them. An event and its job are written in one transaction, so an
-- acknowledged event is never without the work it asks for.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY NOT NULL,
    -- 'platform' (POST /webhooks/stripe) or 'connect' (POST /webhooks/stripe/connect)
    source TEXT NOT NULL CHECK (source IN ('platform', 'connect')),
    event_type TEXT NOT NULL,
    account TEXT,
    -- The provider's `created` (unix seconds): orders events of one object.
    provider_created BIGINT NOT NULL,
    livemode BOOLEAN NOT NULL,
    payload TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    processed_at TIMESTAMP
);
CREATE INDEX webhook_events_type ON webhook_events (event_type, provider_created);

-- queued -> running -> done | queued again (retry with backoff) | dead (after
-- jobs.attempts_max). A running job whose lease expired is claimable again
-- (its worker died).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_after TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_due ON jobs (status, run_after);
