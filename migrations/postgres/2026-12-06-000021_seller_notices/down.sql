ALTER TABLE order_parts DROP COLUMN ship_soon_notified_at;
DROP TABLE shop_notices;
