//! The events tables (see the migration `..._events`).

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        occurred_at -> Timestamp,
        order_id -> Nullable<Text>,
        shop_id -> Nullable<Text>,
        data -> Text,
    }
}

diesel::table! {
    event_views (shop_id, event_seq) {
        shop_id -> Text,
        event_seq -> BigInt,
        data -> Nullable<Text>,
    }
}

diesel::joinable!(event_views -> events (event_seq));
diesel::allow_tables_to_appear_in_same_query!(events, event_views);
