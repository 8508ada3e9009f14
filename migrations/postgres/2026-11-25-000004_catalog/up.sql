-- Products of a shop: price as integer minor units in the shop's currency,
-- stock that never goes below zero, images as JSON text [{"url", "alt"}].
-- search_text is lower(title || ' ' || description), computed by the
-- application, so a case-insensitive search is a plain LIKE on both backends.
CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops (id),
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor > 0),
    currency TEXT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0),
    category TEXT NOT NULL,
    images TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    search_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (shop_id, sku)
);
-- Keyset pagination walks (created_at, id) ascending: the catalog, and one shop's.
CREATE INDEX products_created ON products (created_at, id);
CREATE INDEX products_shop_created ON products (shop_id, created_at, id);
CREATE INDEX products_category_created ON products (category, created_at, id);
