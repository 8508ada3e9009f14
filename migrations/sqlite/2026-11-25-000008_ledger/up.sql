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

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries rows are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries rows are append-only'); END;
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings rows are append-only'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings rows are append-only'); END;
CREATE TRIGGER ledger_accounts_no_update BEFORE UPDATE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger_accounts rows are append-only'); END;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger_accounts rows are append-only'); END;
