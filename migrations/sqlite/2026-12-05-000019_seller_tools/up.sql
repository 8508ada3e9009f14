-- What a seller tells buyers about the shop: plain text shown as written
-- (escaped), a logo (an http(s) URL or a /media/ path, as product images),
-- and a return policy. support_email is already a shop column.
ALTER TABLE shops ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE shops ADD COLUMN logo_url TEXT;
ALTER TABLE shops ADD COLUMN return_policy TEXT NOT NULL DEFAULT '';

-- A product that was sold cannot be deleted (order lines refer to it): it is
-- archived instead, and unarchived by setting it active again.
ALTER TABLE products ADD COLUMN archived_at TIMESTAMP;

-- Every stock change a seller states as a difference ("received 12",
-- "2 damaged"), with the count it left. product_id has no foreign key on
-- purpose: the history of a product outlives the product when it is deleted.
CREATE TABLE stock_adjustments (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops (id),
    delta BIGINT NOT NULL CHECK (delta <> 0),
    reason TEXT NOT NULL CHECK (reason IN ('received', 'damaged', 'lost', 'returned', 'recount', 'other')),
    note TEXT NOT NULL,
    stock_after BIGINT NOT NULL CHECK (stock_after >= 0),
    actor_user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
-- Listed newest first, one product at a time.
CREATE INDEX stock_adjustments_product ON stock_adjustments (product_id, created_at, id);
