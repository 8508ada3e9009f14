//! The payouts module's tables.

diesel::table! {
    payouts (id) {
        id -> Text,
        shop_id -> Text,
        account_id -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        status -> Text,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        arrival_date -> BigInt,
        automatic -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payout_status_history (payout_id, status) {
        payout_id -> Text,
        status -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    payout_lines (payout_id, transaction_id) {
        payout_id -> Text,
        transaction_id -> Text,
        kind -> Text,
        source -> Nullable<Text>,
        amount_minor -> BigInt,
        fee_minor -> BigInt,
        net_minor -> BigInt,
        ledger_minor -> Nullable<BigInt>,
        matched -> Bool,
    }
}
