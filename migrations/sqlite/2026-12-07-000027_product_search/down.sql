DROP TRIGGER products_search_delete;
DROP TRIGGER products_search_update;
DROP TRIGGER products_search_insert;
DROP TABLE product_search_vocab;
DROP TABLE product_search;
DROP TABLE product_search_rows;
