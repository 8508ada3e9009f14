-- After the sale: shipping rates per shop, shipments, delivery, when each
-- seller's share is released, cancellations and returns.

-- A shop's shipping rates by destination. A part's shipping is
-- `first_item_minor` + `additional_item_minor` for each unit after the first,
-- or nothing once the part's items reach `free_above_minor`. `destination` is
-- an ISO 3166-1 alpha-2 country, or `*` for every country the shop names no
-- rate for. A shop with no rate at all charges no shipping (it ships
-- everywhere, its prices including shipping); once it has rates, a country
-- none of them covers cannot be shipped to.
CREATE TABLE shipping_rates (
    id TEXT PRIMARY KEY NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops (id),
    destination TEXT NOT NULL,
    currency TEXT NOT NULL,
    first_item_minor BIGINT NOT NULL CHECK (first_item_minor >= 0),
    additional_item_minor BIGINT NOT NULL CHECK (additional_item_minor >= 0),
    free_above_minor BIGINT CHECK (free_above_minor IS NULL OR free_above_minor > 0),
    -- Days from payment to the ship-by deadline.
    handling_days INTEGER NOT NULL CHECK (handling_days >= 0 AND handling_days <= 60),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (shop_id, destination, currency)
);

-- A shop's returns policy (no row: the defaults below).
CREATE TABLE shop_return_policies (
    shop_id TEXT PRIMARY KEY NOT NULL REFERENCES shops (id),
    -- Days after delivery a buyer may ask to return lines (0: no returns).
    window_days INTEGER NOT NULL CHECK (window_days >= 0 AND window_days <= 365),
    -- Whether a received return also refunds the part's shipping.
    refunds_shipping BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- NULL: the platform fee is not taken on shipping.
ALTER TABLE fee_rule_versions ADD COLUMN fee_on_shipping BOOLEAN;
-- NULL: the platform setting `fulfilment.release`.
ALTER TABLE fee_rule_versions ADD COLUMN release_policy TEXT
    CHECK (release_policy IN ('on_payment', 'on_shipment', 'on_delivery'));
-- NULL: the platform setting `fulfilment.release_after_days`.
ALTER TABLE fee_rule_versions ADD COLUMN release_after_days INTEGER
    CHECK (release_after_days >= 1 AND release_after_days <= 90);

-- A part's shipping is part of `subtotal_minor` (what the buyer pays for the
-- part: its items plus `shipping_minor`), so every split of a part's money
-- (refunds, disputes, processing fees) covers it as it covers the items.
ALTER TABLE order_parts ADD COLUMN shipping_minor BIGINT NOT NULL DEFAULT 0
    CHECK (shipping_minor >= 0);
-- How much of `refunded_minor` was refunded as shipping.
ALTER TABLE order_parts ADD COLUMN shipping_refunded_minor BIGINT NOT NULL DEFAULT 0
    CHECK (shipping_refunded_minor >= 0 AND shipping_refunded_minor <= shipping_minor);
ALTER TABLE order_parts ADD COLUMN handling_days INTEGER NOT NULL DEFAULT 0;
-- When the seller's share may leave the platform, frozen at checkout. Parts
-- sold before this existed were paid out on payment.
ALTER TABLE order_parts ADD COLUMN release_policy TEXT NOT NULL DEFAULT 'on_payment'
    CHECK (release_policy IN ('on_payment', 'on_shipment', 'on_delivery'));
-- Days after shipment a part not confirmed delivered counts as delivered.
ALTER TABLE order_parts ADD COLUMN release_after_days INTEGER NOT NULL DEFAULT 14;
-- unfulfilled -> partially_shipped -> shipped -> delivered; canceled before shipping.
ALTER TABLE order_parts ADD COLUMN fulfilment_status TEXT NOT NULL DEFAULT 'unfulfilled'
    CHECK (fulfilment_status IN ('unfulfilled', 'partially_shipped', 'shipped', 'delivered', 'canceled'));
-- Set when the order is paid: payment + handling days.
ALTER TABLE order_parts ADD COLUMN ship_by TIMESTAMP;
-- When the last unit shipped.
ALTER TABLE order_parts ADD COLUMN shipped_at TIMESTAMP;
ALTER TABLE order_parts ADD COLUMN delivered_at TIMESTAMP;
-- seller | buyer | staff | automatic
ALTER TABLE order_parts ADD COLUMN delivered_by TEXT;
-- From this moment the seller's share may be transferred (NULL: held).
ALTER TABLE order_parts ADD COLUMN released_at TIMESTAMP;
ALTER TABLE order_parts ADD COLUMN late_notified_at TIMESTAMP;
ALTER TABLE order_parts ADD COLUMN canceled_at TIMESTAMP;
ALTER TABLE order_parts ADD COLUMN cancel_reason TEXT;
UPDATE order_parts SET released_at = updated_at
    WHERE order_id IN (SELECT id FROM orders WHERE status = 'paid');
CREATE INDEX order_parts_fulfilment ON order_parts (fulfilment_status, ship_by);
CREATE INDEX order_parts_shop_fulfilment ON order_parts (shop_id, fulfilment_status);

-- How much of a refund's amount on a part was the part's shipping.
ALTER TABLE refund_parts ADD COLUMN shipping_minor BIGINT NOT NULL DEFAULT 0;

ALTER TABLE order_lines ADD COLUMN shipped_quantity BIGINT NOT NULL DEFAULT 0
    CHECK (shipped_quantity >= 0);

-- One parcel: some units of a part's lines, with how to follow it.
CREATE TABLE shipments (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    tracking_url TEXT,
    -- shipped -> delivered
    status TEXT NOT NULL CHECK (status IN ('shipped', 'delivered')),
    shipped_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    created_by TEXT NOT NULL
);
CREATE INDEX shipments_part ON shipments (part_id, shipped_at);

CREATE TABLE shipment_lines (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    line_id TEXT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, line_id)
);

-- A buyer's return of delivered lines:
-- requested -> approved -> shipped_back -> received (refunded), or refused.
CREATE TABLE returns (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    status TEXT NOT NULL
        CHECK (status IN ('requested', 'approved', 'refused', 'shipped_back', 'received')),
    reason TEXT NOT NULL,
    refusal_reason TEXT,
    return_address TEXT,
    carrier TEXT,
    tracking_number TEXT,
    tracking_url TEXT,
    restock BOOLEAN NOT NULL DEFAULT FALSE,
    -- The refund the received return caused.
    refund_id TEXT REFERENCES refunds (id),
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX returns_order ON returns (order_id, created_at);
CREATE INDEX returns_part ON returns (part_id, status);

CREATE TABLE return_lines (
    return_id TEXT NOT NULL REFERENCES returns (id),
    line_id TEXT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (return_id, line_id)
);
