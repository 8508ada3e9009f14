-- Payouts of shops' connected accounts to their banks, as the provider reports
-- them, and every status each was seen in.
CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops (id),
    account_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- pending | in_transit | paid | failed | canceled
    status TEXT NOT NULL,
    failure_code TEXT,
    failure_message TEXT,
    arrival_date BIGINT NOT NULL,
    automatic BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payouts_shop ON payouts (shop_id, created_at);
CREATE INDEX payouts_status ON payouts (status, created_at);

CREATE TABLE payout_status_history (
    payout_id TEXT NOT NULL REFERENCES payouts (id),
    status TEXT NOT NULL,
    seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payout_id, status)
);
