-- Integrators' webhook endpoints: platform-wide (shop_id NULL, operators) or
-- one shop's (its owner). The signing secret is sealed (AES-256-GCM, the TOTP
-- secrets' keys); after a rotation the previous one keeps signing until
-- previous_secret_until. events_through_seq: the last event fanned out to it.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    shop_id TEXT REFERENCES shops (id),
    created_by TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    -- JSON array of type filters; empty: every type.
    types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    secret_sealed TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_secret_until TIMESTAMP,
    events_through_seq BIGINT NOT NULL,
    -- The first failed attempt since its last success: failing for long
    -- (outgoing_webhooks.disable_after_failing_hours) disables it.
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_shop ON webhook_endpoints (shop_id);

-- One event to send to one endpoint: pending -> delivered | failed (retries
-- exhausted, 410, or its endpoint disabled). event_id is the webhook-id, the
-- same on every attempt; body is the exact JSON sent every time.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_seq BIGINT,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Failures since it was queued (or redelivered): the retry schedule's step.
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Every attempt: the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    -- NULL on success; timeout, connect, refused_address, status, …
    error_kind TEXT,
    -- The answer's first 512 bytes (lossy UTF-8).
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
