DROP TRIGGER shops_changed ON shops;
DROP TRIGGER products_changed ON products;
DROP FUNCTION catalog_notify();
