-- Full-text search over products. search_document is generated from the
-- title (weight A) and description (weight C), so it changes in the same
-- statement as the product; the 'simple' configuration lowercases without
-- stemming, as no single language fits every shop.
ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', description), 'C')
) STORED;
CREATE INDEX products_search ON products USING GIN (search_document);

-- The indexed words, for spelling corrections. Byte order ("C") so that a
-- prefix is a range of the primary key. Words are only added: a word no
-- product uses any more is a correction that matches nothing.
CREATE TABLE search_words (
    word TEXT COLLATE "C" PRIMARY KEY
);
CREATE FUNCTION products_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- tsvector_to_array is sorted, so concurrent writers take the words' locks
    -- in one order and cannot deadlock on them.
    INSERT INTO search_words (word)
        SELECT unnest(tsvector_to_array(NEW.search_document))
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER products_search_words AFTER INSERT OR UPDATE OF title, description ON products
    FOR EACH ROW EXECUTE FUNCTION products_search_words();

INSERT INTO search_words (word)
    SELECT DISTINCT unnest(tsvector_to_array(search_document)) FROM products
    ON CONFLICT DO NOTHING;
