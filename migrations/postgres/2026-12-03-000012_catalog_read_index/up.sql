-- The public catalog filters `active` and walks (created_at, id). With only
-- products_created, SQLite's planner (no statistics) preferred the shop_id
-- index for `shop_id IN (sellable shops)` and sorted every visible product in
-- a temporary B-tree for each page; this index serves the filter and the order
-- together, so a page reads about as many rows as it returns.
CREATE INDEX products_active_created ON products (active, created_at, id);
