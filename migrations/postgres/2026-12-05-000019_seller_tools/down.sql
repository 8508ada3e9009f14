DROP TABLE stock_adjustments;
ALTER TABLE products DROP COLUMN archived_at;
ALTER TABLE shops DROP COLUMN return_policy;
ALTER TABLE shops DROP COLUMN logo_url;
ALTER TABLE shops DROP COLUMN description;
