//! The media module's table.

diesel::table! {
    media_images (key) {
        key -> Text,
        owner_user_id -> Text,
        width -> Integer,
        height -> Integer,
        bytes -> BigInt,
        created_at -> Timestamp,
    }
}
