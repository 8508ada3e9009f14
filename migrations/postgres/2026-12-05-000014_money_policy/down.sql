ALTER TABLE fee_rule_versions DROP COLUMN max_share;
ALTER TABLE fee_rule_versions DROP COLUMN kept_processing_fee_payer;
ALTER TABLE order_parts DROP COLUMN kept_processing_fee_payer;
DROP INDEX order_parts_order_position;
ALTER TABLE order_parts DROP COLUMN position;
