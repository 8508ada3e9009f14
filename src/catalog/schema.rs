//! The catalog module's tables. Only types both backends support through
//! `MultiConnection`: BigInt, Integer, Text, Bool, Timestamp (UTC).

diesel::table! {
    products (id) {
        id -> Text,
        shop_id -> Text,
        sku -> Text,
        title -> Text,
        description -> Text,
        price_minor -> BigInt,
        currency -> Text,
        stock -> BigInt,
        category -> Text,
        images -> Text,
        active -> Bool,
        search_text -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stock_adjustments (id) {
        id -> Text,
        product_id -> Text,
        shop_id -> Text,
        delta -> BigInt,
        reason -> Text,
        note -> Text,
        stock_after -> BigInt,
        actor_user_id -> Text,
        created_at -> Timestamp,
    }
}

use crate::sellers::schema::shops;

diesel::joinable!(products -> shops (shop_id));

// Products are filtered by a subquery on shops (which shops can sell).
diesel::allow_tables_to_appear_in_same_query!(products, shops);
