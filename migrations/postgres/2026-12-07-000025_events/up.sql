-- What happened in the marketplace, for integrators: one row per committed
-- fact, written in the fact's own transaction. `seq` orders them: writers
-- take one advisory lock before inserting and hold it through their commit
-- (see events::outbox::emit), so rows become visible in `seq` order and a
-- reader paging by `seq` never skips one still being written.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    order_id TEXT,
    shop_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_order ON events (order_id) WHERE order_id IS NOT NULL;

-- Which shops see an event, and what each sees when that differs from the
-- platform's payload (`data` NULL: the same): a seller's view of an order
-- carries its own part only.
CREATE TABLE event_views (
    shop_id TEXT NOT NULL,
    event_seq BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    data TEXT,
    PRIMARY KEY (shop_id, event_seq)
);
CREATE INDEX event_views_event ON event_views (event_seq);
