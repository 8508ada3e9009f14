DROP TRIGGER products_search_words ON products;
DROP FUNCTION products_search_words();
DROP TABLE search_words;
DROP INDEX products_search;
ALTER TABLE products DROP COLUMN search_document;
