-- Reconciliation with the provider.
--
-- A posting on an account that mirrors a provider balance (the platform's cash,
-- a shop's connected balance) names the provider object behind the balance
-- transaction it mirrors (ch_, re_, tr_, trr_, dp_, py_, pyr_, po_), so the
-- ledger and the provider's balance transactions can be matched line by line.
ALTER TABLE ledger_postings ADD COLUMN provider_ref TEXT;
CREATE INDEX ledger_postings_provider_ref ON ledger_postings (provider_ref);

-- The connected account's side of a movement: the payment (py_) a transfer
-- created there, or the refund of it (pyr_) a reversal created.
ALTER TABLE part_movements ADD COLUMN destination_ref TEXT;

-- The balance transactions a paid payout carried, each matched (or not) to
-- the ledger's postings for the same provider object.
CREATE TABLE payout_lines (
    payout_id TEXT NOT NULL REFERENCES payouts (id),
    transaction_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT,
    amount_minor BIGINT NOT NULL,
    fee_minor BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    -- What the ledger holds for `source` on the shop's connected balance; NULL: nothing.
    ledger_minor BIGINT,
    matched BOOLEAN NOT NULL,
    PRIMARY KEY (payout_id, transaction_id)
);

-- A reconciliation run and its differences (append-only, like the ledger).
CREATE TABLE reconciliation_reports (
    id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    accounts_checked BIGINT NOT NULL,
    transactions_checked BIGINT NOT NULL,
    differences BIGINT NOT NULL
);
CREATE INDEX reconciliation_reports_started ON reconciliation_reports (started_at, id);

CREATE TABLE reconciliation_differences (
    report_id TEXT NOT NULL REFERENCES reconciliation_reports (id),
    position INTEGER NOT NULL,
    -- missing_in_ledger | missing_at_provider | amount_differs | status_differs
    kind TEXT NOT NULL,
    -- platform, or the shop whose connected account differs
    scope TEXT NOT NULL,
    -- what was compared: a provider object id, or balance:pending / balance:available
    object TEXT NOT NULL,
    currency TEXT NOT NULL,
    provider_minor BIGINT,
    ledger_minor BIGINT,
    detail TEXT NOT NULL,
    PRIMARY KEY (report_id, position)
);
