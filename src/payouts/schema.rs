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
