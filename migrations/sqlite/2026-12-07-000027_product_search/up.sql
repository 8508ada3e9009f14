-- Full-text search over products, kept in sync by triggers in the same
-- transaction as the product write.
--
-- product_search is an FTS5 index of title and description (title weighted
-- 10:1 in bm25, the `rank` column). Its rowid is the INTEGER PRIMARY KEY of
-- product_search_rows, not products' own rowid: products has a TEXT key, and
-- VACUUM (and so VACUUM INTO, which backups use) may renumber implicit rowids.
-- product_search_vocab lists the indexed words, for spelling corrections.
CREATE TABLE product_search_rows (
    rowid INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE product_search USING fts5 (
    title,
    description,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO product_search (product_search, rank) VALUES ('rank', 'bm25(10.0, 1.0)');
CREATE VIRTUAL TABLE product_search_vocab USING fts5vocab (product_search, 'row');

CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
    INSERT INTO product_search_rows (product_id) VALUES (new.id);
    INSERT INTO product_search (rowid, title, description)
        VALUES (last_insert_rowid(), new.title, new.description);
END;
CREATE TRIGGER products_search_update AFTER UPDATE OF title, description ON products BEGIN
    UPDATE product_search SET title = new.title, description = new.description
        WHERE rowid = (SELECT rowid FROM product_search_rows WHERE product_id = new.id);
END;
CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
    DELETE FROM product_search
        WHERE rowid = (SELECT rowid FROM product_search_rows WHERE product_id = old.id);
    DELETE FROM product_search_rows WHERE product_id = old.id;
END;

INSERT INTO product_search_rows (product_id) SELECT id FROM products ORDER BY created_at, id;
INSERT INTO product_search (rowid, title, description)
    SELECT r.rowid, p.title, p.description
    FROM product_search_rows r JOIN products p ON p.id = r.product_id;
