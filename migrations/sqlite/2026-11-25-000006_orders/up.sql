-- Carts, orders split into one part per shop, refunds, disputes, and the money
-- each part owes its seller. Amounts are integer minor units of the order's
-- currency; every table that records a money fact is keyed so that applying the
-- same fact twice is impossible.

-- One cart per buyer: its lines. Adding a product already in the cart raises
-- the quantity of its line.
CREATE TABLE cart_lines (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_user_id TEXT NOT NULL REFERENCES users (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (buyer_user_id, product_id)
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_user_id TEXT NOT NULL REFERENCES users (id),
    buyer_email TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL CHECK (total_minor > 0),
    -- awaiting_payment -> paid | expired | canceled
    status TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'expired', 'canceled')),
    cancel_reason TEXT,
    -- The buyer's Idempotency-Key and a hash of the request under it; NULL once
    -- the checkout failed at the provider, so the key may be used again.
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    shipping TEXT NOT NULL,
    payment_intent_id TEXT UNIQUE,
    client_secret TEXT,
    payment_status TEXT,
    last_payment_error TEXT,
    charge_id TEXT,
    processing_fee_minor BIGINT,
    refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= total_minor),
    -- A payment that arrived after the order expired is refunded in full.
    late_payment_refund_id TEXT,
    expires_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (buyer_user_id, idempotency_key)
);
CREATE INDEX orders_buyer_created ON orders (buyer_user_id, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_status_expires ON orders (status, expires_at);

-- One part per shop in an order, priced with the fee rule version in force.
CREATE TABLE order_parts (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    shop_id TEXT NOT NULL REFERENCES shops (id),
    subtotal_minor BIGINT NOT NULL CHECK (subtotal_minor > 0),
    fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0 AND fee_minor <= subtotal_minor),
    fee_rule_version_id TEXT NOT NULL REFERENCES fee_rule_versions (id),
    processing_fee_payer TEXT NOT NULL CHECK (processing_fee_payer IN ('platform', 'seller')),
    refund_fee_proportionally BOOLEAN NOT NULL,
    -- Set when the order is paid: this part's share of the provider's fee, and
    -- what the seller is owed (subtotal - fee, less that share when it bears it).
    processing_fee_minor BIGINT NOT NULL DEFAULT 0 CHECK (processing_fee_minor >= 0),
    seller_amount_minor BIGINT NOT NULL DEFAULT 0 CHECK (seller_amount_minor >= 0),
    refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= subtotal_minor),
    -- Why the seller's money is not moving (shop restricted or frozen, a
    -- transfer the provider refused); NULL when it flows.
    hold_reason TEXT,
    -- Set whenever what the seller is owed changes or a movement is written;
    -- cleared when transfers net of reversals equal it. The sweep's work list.
    needs_settlement BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, shop_id)
);
CREATE INDEX order_parts_shop ON order_parts (shop_id, created_at, id);
CREATE INDEX order_parts_needs_settlement ON order_parts (needs_settlement);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor > 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    refunded_quantity BIGINT NOT NULL DEFAULT 0 CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity),
    restocked_quantity BIGINT NOT NULL DEFAULT 0 CHECK (restocked_quantity >= 0 AND restocked_quantity <= refunded_quantity),
    UNIQUE (order_id, position)
);
CREATE INDEX order_lines_part ON order_lines (part_id);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    reason TEXT,
    restock BOOLEAN NOT NULL,
    -- pending -> succeeded | failed
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_refund_id TEXT,
    failure_message TEXT,
    requested_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, idempotency_key)
);
CREATE INDEX refunds_status ON refunds (status);

-- How a refund splits over the parts: what the buyer gets back from each, and
-- the seller's portion of it (the rest is the platform's).
CREATE TABLE refund_parts (
    refund_id TEXT NOT NULL REFERENCES refunds (id),
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    seller_portion_minor BIGINT NOT NULL CHECK (seller_portion_minor >= 0 AND seller_portion_minor <= amount_minor),
    PRIMARY KEY (refund_id, part_id)
);

CREATE TABLE refund_lines (
    refund_id TEXT NOT NULL REFERENCES refunds (id),
    line_id TEXT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (refund_id, line_id)
);

-- Disputes of an order's charge, as the provider reports them.
CREATE TABLE disputes (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    charge_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0),
    provider_status TEXT NOT NULL,
    -- open -> won | lost
    outcome TEXT NOT NULL CHECK (outcome IN ('open', 'won', 'lost')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX disputes_order ON disputes (order_id);

-- Money taken back from (positive) or given back to (negative) a part's seller,
-- once per cause: a refund, a dispute, a dispute's fee, a won dispute. What a
-- seller is owed is seller_amount_minor minus the sum of these.
CREATE TABLE part_recoveries (
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    cause_kind TEXT NOT NULL CHECK (cause_kind IN ('refund', 'dispute', 'dispute_fee', 'dispute_won')),
    cause_id TEXT NOT NULL,
    seller_minor BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (part_id, cause_kind, cause_id)
);

-- Transfers to and reversals from a part's connected account. A movement is
-- written as pending before the provider is called (its id is the idempotency
-- key), so a crash between the two repeats the same call instead of moving
-- money twice. At most one pending movement per part.
CREATE TABLE part_movements (
    id TEXT PRIMARY KEY NOT NULL,
    part_id TEXT NOT NULL REFERENCES order_parts (id),
    kind TEXT NOT NULL CHECK (kind IN ('transfer', 'reversal')),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    -- For a reversal: the transfer movement it takes money back from.
    reverses_id TEXT REFERENCES part_movements (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_id TEXT,
    failure_message TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX part_movements_part ON part_movements (part_id);
CREATE UNIQUE INDEX part_movements_one_pending ON part_movements (part_id) WHERE status = 'pending';
