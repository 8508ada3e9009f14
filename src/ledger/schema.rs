//! The ledger's tables.

diesel::table! {
    ledger_accounts (id) {
        id -> Text,
        code -> Text,
        currency -> Text,
        normal_side -> Text,
        owner_shop_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Text,
        cause -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ledger_postings (id) {
        id -> Text,
        entry_id -> Text,
        account_id -> Text,
        debit_minor -> BigInt,
        credit_minor -> BigInt,
        position -> Integer,
        created_at -> Timestamp,
        provider_ref -> Nullable<Text>,
    }
}

diesel::joinable!(ledger_postings -> ledger_entries (entry_id));
diesel::joinable!(ledger_postings -> ledger_accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(ledger_accounts, ledger_entries, ledger_postings);
