//! The reconciliation module's tables.

diesel::table! {
    reconciliation_reports (id) {
        id -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        accounts_checked -> BigInt,
        transactions_checked -> BigInt,
        differences -> BigInt,
    }
}

diesel::table! {
    reconciliation_differences (report_id, position) {
        report_id -> Text,
        position -> Integer,
        kind -> Text,
        scope -> Text,
        object -> Text,
        currency -> Text,
        provider_minor -> Nullable<BigInt>,
        ledger_minor -> Nullable<BigInt>,
        detail -> Text,
    }
}

diesel::joinable!(reconciliation_differences -> reconciliation_reports (report_id));
diesel::allow_tables_to_appear_in_same_query!(reconciliation_reports, reconciliation_differences);
