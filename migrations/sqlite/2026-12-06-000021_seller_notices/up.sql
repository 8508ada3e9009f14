-- The seller's in-app list of what the marketplace told them by email: one row
-- per seller-facing email, written in the transaction that queues the email.
-- `cause` is the email's outbox cause, unique so a replayed change records its
-- notice once; `kind` is the email's template; `link_path` is the workspace
-- page the notice leads to. `read_at` is null until the seller marks it read.
CREATE TABLE shop_notices (
    id TEXT PRIMARY KEY NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops (id),
    kind TEXT NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link_path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
-- A shop's notices newest first, and its unread ones.
CREATE INDEX shop_notices_shop ON shop_notices (shop_id, created_at);
-- When a part was reminded that its ship-by date is near, so one reminder per part.
ALTER TABLE order_parts ADD COLUMN ship_soon_notified_at TIMESTAMP;
