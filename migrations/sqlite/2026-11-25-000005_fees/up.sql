-- Fee rules: what the platform keeps from each order part.
-- A rule is a scope (platform default, a category, or one shop); its terms live in
-- versions, which are immutable: editing a rule adds a version effective from a
-- timestamp, and an order part keeps the id of the version it was priced with.
-- No rule is seeded here: business terms are an operator's decision.
CREATE TABLE fee_rules (
    id TEXT PRIMARY KEY NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('platform', 'category', 'shop')),
    -- NULL for the platform scope, the category slug or the shop id otherwise.
    scope_value TEXT,
    -- Set once when the rule is retired; the rule is not in force from then on.
    effective_to TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    CHECK ((scope_kind = 'platform') = (scope_value IS NULL))
);
CREATE INDEX fee_rules_scope ON fee_rules (scope_kind, scope_value);
-- At most one live (unretired) rule per scope, even for two creates racing on
-- PostgreSQL, where the application's check alone cannot see the other's insert.
CREATE UNIQUE INDEX fee_rules_one_live_per_scope
    ON fee_rules (scope_kind, COALESCE(scope_value, ''))
    WHERE effective_to IS NULL;

CREATE TABLE fee_rule_versions (
    id TEXT PRIMARY KEY NOT NULL,
    rule_id TEXT NOT NULL REFERENCES fee_rules (id),
    version INTEGER NOT NULL CHECK (version >= 1),
    -- A decimal string such as '10.5' (percent, 0..=100, at most 4 decimal places):
    -- the databases share no exact decimal type through diesel's MultiConnection.
    percentage TEXT NOT NULL,
    min_minor BIGINT CHECK (min_minor >= 0),
    max_minor BIGINT CHECK (max_minor >= 0),
    processing_fee_payer TEXT NOT NULL CHECK (processing_fee_payer IN ('platform', 'seller')),
    refund_fee_proportionally BOOLEAN NOT NULL,
    effective_from TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (min_minor IS NULL OR max_minor IS NULL OR min_minor <= max_minor),
    UNIQUE (rule_id, version)
);

-- The fixed part of a version's fee, per currency it prices (minor units).
CREATE TABLE fee_rule_fixed_amounts (
    version_id TEXT NOT NULL REFERENCES fee_rule_versions (id),
    currency TEXT NOT NULL,
    fixed_minor BIGINT NOT NULL CHECK (fixed_minor >= 0),
    PRIMARY KEY (version_id, currency)
);

-- Versions are immutable: an order part priced with one must read back the same
-- terms forever. The application only inserts; these refuse anyone else's edits.
CREATE TRIGGER fee_rule_versions_no_update BEFORE UPDATE ON fee_rule_versions
BEGIN
    SELECT RAISE(ABORT, 'fee_rule_versions are immutable');
END;

CREATE TRIGGER fee_rule_versions_no_delete BEFORE DELETE ON fee_rule_versions
BEGIN
    SELECT RAISE(ABORT, 'fee_rule_versions are immutable');
END;

CREATE TRIGGER fee_rule_fixed_amounts_no_update BEFORE UPDATE ON fee_rule_fixed_amounts
BEGIN
    SELECT RAISE(ABORT, 'fee_rule_fixed_amounts are immutable');
END;

CREATE TRIGGER fee_rule_fixed_amounts_no_delete BEFORE DELETE ON fee_rule_fixed_amounts
BEGIN
    SELECT RAISE(ABORT, 'fee_rule_fixed_amounts are immutable');
END;
