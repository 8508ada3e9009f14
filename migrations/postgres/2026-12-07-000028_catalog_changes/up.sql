-- Every process LISTENs on bazaar_catalog to learn that what buyers see of the
-- catalog changed (catalog::changes): the payload is the product's id, or '*'
-- for a shop change (its products appear or vanish). NOTIFY is sent at commit,
-- and not at all on rollback. Stock-only updates send nothing: NOTIFY takes a
-- global lock at commit, which checkouts must not queue on; stock shown is
-- bounded by the caches' TTL instead.
CREATE FUNCTION catalog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'shops' THEN
        PERFORM pg_notify('bazaar_catalog', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('bazaar_catalog', OLD.id);
    ELSE
        PERFORM pg_notify('bazaar_catalog', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER products_changed AFTER INSERT OR DELETE OR UPDATE OF
    title, description, price_minor, currency, category, images, active, archived_at
    ON products FOR EACH ROW EXECUTE FUNCTION catalog_notify();
-- A shop's name shows on cards; its status decides whether its products show.
-- Provider syncs rewrite the status unchanged, hence WHEN.
CREATE TRIGGER shops_changed AFTER UPDATE OF name, onboarding_status, frozen ON shops
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name
        OR OLD.onboarding_status IS DISTINCT FROM NEW.onboarding_status
        OR OLD.frozen IS DISTINCT FROM NEW.frozen)
    EXECUTE FUNCTION catalog_notify();
