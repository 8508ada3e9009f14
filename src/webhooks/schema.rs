//! The webhooks module's table.

diesel::table! {
    webhook_events (id) {
        id -> Text,
        source -> Text,
        event_type -> Text,
        account -> Nullable<Text>,
        provider_created -> BigInt,
        livemode -> Bool,
        payload -> Text,
        received_at -> Timestamp,
        processed_at -> Nullable<Timestamp>,
    }
}
