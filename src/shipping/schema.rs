//! The shipping module's tables (see the migration `..._fulfilment`).

diesel::table! {
    shipping_rates (id) {
        id -> Text,
        shop_id -> Text,
        destination -> Text,
        currency -> Text,
        first_item_minor -> BigInt,
        additional_item_minor -> BigInt,
        free_above_minor -> Nullable<BigInt>,
        handling_days -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    shop_return_policies (shop_id) {
        shop_id -> Text,
        window_days -> Integer,
        refunds_shipping -> Bool,
        updated_at -> Timestamp,
    }
}
