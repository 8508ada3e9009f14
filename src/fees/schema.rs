//! The fees module's tables.

diesel::table! {
    fee_rules (id) {
        id -> Text,
        scope_kind -> Text,
        scope_value -> Nullable<Text>,
        effective_to -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    fee_rule_versions (id) {
        id -> Text,
        rule_id -> Text,
        version -> Integer,
        percentage -> Text,
        min_minor -> Nullable<BigInt>,
        max_minor -> Nullable<BigInt>,
        processing_fee_payer -> Text,
        refund_fee_proportionally -> Bool,
        effective_from -> Timestamp,
        created_at -> Timestamp,
        kept_processing_fee_payer -> Nullable<Text>,
        max_share -> Nullable<Text>,
        fee_on_shipping -> Nullable<Bool>,
        release_policy -> Nullable<Text>,
        release_after_days -> Nullable<Integer>,
    }
}

diesel::table! {
    fee_rule_fixed_amounts (version_id, currency) {
        version_id -> Text,
        currency -> Text,
        fixed_minor -> BigInt,
    }
}

diesel::joinable!(fee_rule_versions -> fee_rules (rule_id));
diesel::joinable!(fee_rule_fixed_amounts -> fee_rule_versions (version_id));
diesel::allow_tables_to_appear_in_same_query!(fee_rules, fee_rule_versions, fee_rule_fixed_amounts);
