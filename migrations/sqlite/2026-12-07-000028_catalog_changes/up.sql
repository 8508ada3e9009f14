-- A counter every process polls to learn that what buyers see of the catalog
-- changed in another process (catalog::changes). Bumped in the writing
-- statement by triggers; stock-only updates do not bump it (a checkout must
-- not invalidate every cache: stock shown is bounded by the caches' TTL).
CREATE TABLE catalog_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

CREATE TRIGGER products_changed_insert AFTER INSERT ON products BEGIN
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER products_changed_delete AFTER DELETE ON products BEGIN
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER products_changed_update AFTER UPDATE OF
    title, description, price_minor, currency, category, images, active, archived_at
    ON products BEGIN
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
END;
-- A shop's name shows on cards; its status decides whether its products show.
-- Provider syncs rewrite the status unchanged, hence WHEN.
CREATE TRIGGER shops_changed_update AFTER UPDATE OF name, onboarding_status, frozen ON shops
    WHEN OLD.name IS NOT NEW.name
        OR OLD.onboarding_status IS NOT NEW.onboarding_status
        OR OLD.frozen IS NOT NEW.frozen
    BEGIN
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
END;
