-- The double-entry ledger: accounts (one per code and currency), journal
-- entries each with a unique cause (an event id or our own command id, so the
-- same fact is never posted twice), and their postings. Append-only: the
-- application only inserts, and triggers refuse any UPDATE or DELETE.
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL,
    currency TEXT NOT NULL,
    normal_side TEXT NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    -- The shop an account belongs to; NULL for the platform's.
    owner_shop_id TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (code, currency)
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_shop_id);

CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ledger_entries_created ON ledger_entries (created_at, id);

CREATE TABLE ledger_postings (
    id TEXT PRIMARY KEY NOT NULL,
    entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    debit_minor BIGINT NOT NULL CHECK (debit_minor >= 0),
    credit_minor BIGINT NOT NULL CHECK (credit_minor >= 0),
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK ((debit_minor > 0) <> (credit_minor > 0)),
    UNIQUE (entry_id, position)
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, created_at, id);

CREATE FUNCTION ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_accounts_append_only BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
