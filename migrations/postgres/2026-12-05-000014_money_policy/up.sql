-- Money policy: every allocation follows a stable order, a rule says who bears the
-- processing fee the provider keeps on refunds, and a fee may be capped at a share
-- of the part.

-- An order's parts in the cart's order (the position of the part's first line):
-- largest-remainder ties go to the earlier part, so the order must be stable.
ALTER TABLE order_parts ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE order_parts SET position = (
    SELECT COALESCE(MIN(l.position), 0) FROM order_lines l WHERE l.part_id = order_parts.id
);
CREATE UNIQUE INDEX order_parts_order_position ON order_parts (order_id, position);

-- Who bears the processing fee the provider keeps when a part is refunded.
-- Parts sold before this term existed keep the behaviour they were sold under:
-- the platform bore it.
ALTER TABLE order_parts ADD COLUMN kept_processing_fee_payer TEXT NOT NULL DEFAULT 'platform'
    CHECK (kept_processing_fee_payer IN ('platform', 'seller'));

-- NULL: the party that bears the processing fee on the sale.
ALTER TABLE fee_rule_versions ADD COLUMN kept_processing_fee_payer TEXT
    CHECK (kept_processing_fee_payer IN ('platform', 'seller'));
-- The fee never exceeds this percent of the part (a decimal string, 0..=100); NULL: no cap
-- besides the part itself.
ALTER TABLE fee_rule_versions ADD COLUMN max_share TEXT;
