DROP TRIGGER shops_changed_update;
DROP TRIGGER products_changed_update;
DROP TRIGGER products_changed_delete;
DROP TRIGGER products_changed_insert;
DROP TABLE catalog_version;
