//! The orders module's tables (see the migration `..._orders` for what each
//! column means).

diesel::table! {
    cart_lines (id) {
        id -> Text,
        buyer_user_id -> Text,
        product_id -> Text,
        quantity -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        buyer_user_id -> Text,
        buyer_email -> Text,
        currency -> Text,
        total_minor -> BigInt,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        request_hash -> Text,
        shipping -> Text,
        payment_intent_id -> Nullable<Text>,
        client_secret -> Nullable<Text>,
        payment_status -> Nullable<Text>,
        last_payment_error -> Nullable<Text>,
        charge_id -> Nullable<Text>,
        processing_fee_minor -> Nullable<BigInt>,
        refunded_minor -> BigInt,
        late_payment_refund_id -> Nullable<Text>,
        expires_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        checkout_payment_method -> Nullable<Text>,
    }
}

diesel::table! {
    order_parts (id) {
        id -> Text,
        order_id -> Text,
        shop_id -> Text,
        subtotal_minor -> BigInt,
        fee_minor -> BigInt,
        fee_rule_version_id -> Text,
        processing_fee_payer -> Text,
        refund_fee_proportionally -> Bool,
        processing_fee_minor -> BigInt,
        seller_amount_minor -> BigInt,
        refunded_minor -> BigInt,
        hold_reason -> Nullable<Text>,
        needs_settlement -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        position -> Integer,
        kept_processing_fee_payer -> Text,
        shipping_minor -> BigInt,
        shipping_refunded_minor -> BigInt,
        handling_days -> Integer,
        release_policy -> Text,
        release_after_days -> Integer,
        fulfilment_status -> Text,
        ship_by -> Nullable<Timestamp>,
        shipped_at -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        delivered_by -> Nullable<Text>,
        released_at -> Nullable<Timestamp>,
        late_notified_at -> Nullable<Timestamp>,
        canceled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        ship_soon_notified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Text,
        order_id -> Text,
        part_id -> Text,
        product_id -> Text,
        position -> Integer,
        sku -> Text,
        title -> Text,
        category -> Text,
        unit_price_minor -> BigInt,
        quantity -> BigInt,
        amount_minor -> BigInt,
        refunded_quantity -> BigInt,
        restocked_quantity -> BigInt,
        shipped_quantity -> BigInt,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        order_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        amount_minor -> BigInt,
        reason -> Nullable<Text>,
        restock -> Bool,
        status -> Text,
        provider_refund_id -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        requested_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refund_parts (refund_id, part_id) {
        refund_id -> Text,
        part_id -> Text,
        amount_minor -> BigInt,
        seller_portion_minor -> BigInt,
        shipping_minor -> BigInt,
    }
}

diesel::table! {
    refund_lines (refund_id, line_id) {
        refund_id -> Text,
        line_id -> Text,
        quantity -> BigInt,
    }
}

diesel::table! {
    disputes (id) {
        id -> Text,
        order_id -> Text,
        charge_id -> Text,
        amount_minor -> BigInt,
        fee_minor -> BigInt,
        provider_status -> Text,
        outcome -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        evidence_due_by -> Nullable<Timestamp>,
    }
}

diesel::table! {
    part_recoveries (part_id, cause_kind, cause_id) {
        part_id -> Text,
        cause_kind -> Text,
        cause_id -> Text,
        seller_minor -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    part_movements (id) {
        id -> Text,
        part_id -> Text,
        kind -> Text,
        amount_minor -> BigInt,
        reverses_id -> Nullable<Text>,
        status -> Text,
        provider_id -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        destination_ref -> Nullable<Text>,
    }
}

use crate::catalog::schema::products;
use crate::sellers::schema::shops;

diesel::joinable!(cart_lines -> products (product_id));
diesel::joinable!(order_parts -> orders (order_id));
diesel::joinable!(order_lines -> order_parts (part_id));
diesel::joinable!(refund_parts -> refunds (refund_id));
diesel::joinable!(part_movements -> order_parts (part_id));
diesel::joinable!(part_recoveries -> order_parts (part_id));

// products and shops are already allowed together by the catalog.
diesel::allow_tables_to_appear_in_same_query!(shops, cart_lines);
diesel::allow_tables_to_appear_in_same_query!(shops, order_parts);
diesel::allow_tables_to_appear_in_same_query!(
    cart_lines,
    products,
    orders,
    order_parts,
    order_lines,
    refunds,
    refund_parts,
    refund_lines,
    disputes,
    part_recoveries,
    part_movements,
);
