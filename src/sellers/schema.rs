//! The sellers module's tables.

diesel::table! {
    shops (id) {
        id -> Text,
        owner_user_id -> Text,
        name -> Text,
        slug -> Text,
        country -> Text,
        default_currency -> Text,
        support_email -> Text,
        provider_account_id -> Nullable<Text>,
        onboarding_status -> Text,
        requirements_due -> Text,
        disabled_reason -> Nullable<Text>,
        charges_enabled -> Bool,
        payouts_enabled -> Bool,
        frozen -> Bool,
        frozen_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        description -> Text,
        logo_url -> Nullable<Text>,
        return_policy -> Text,
    }
}

diesel::table! {
    shop_notices (id) {
        id -> Text,
        shop_id -> Text,
        kind -> Text,
        cause -> Text,
        title -> Text,
        body -> Text,
        link_path -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}
