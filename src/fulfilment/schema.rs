//! The fulfilment module's tables (see the migration `..._fulfilment`). The
//! part's own fulfilment columns live on `order_parts`.

diesel::table! {
    shipments (id) {
        id -> Text,
        order_id -> Text,
        part_id -> Text,
        carrier -> Text,
        tracking_number -> Text,
        tracking_url -> Nullable<Text>,
        status -> Text,
        shipped_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        created_by -> Text,
    }
}

diesel::table! {
    shipment_lines (shipment_id, line_id) {
        shipment_id -> Text,
        line_id -> Text,
        quantity -> BigInt,
    }
}

diesel::table! {
    returns (id) {
        id -> Text,
        order_id -> Text,
        part_id -> Text,
        status -> Text,
        reason -> Text,
        refusal_reason -> Nullable<Text>,
        return_address -> Nullable<Text>,
        carrier -> Nullable<Text>,
        tracking_number -> Nullable<Text>,
        tracking_url -> Nullable<Text>,
        restock -> Bool,
        refund_id -> Nullable<Text>,
        requested_by -> Text,
        decided_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    return_lines (return_id, line_id) {
        return_id -> Text,
        line_id -> Text,
        quantity -> BigInt,
    }
}

use crate::orders::schema::{order_lines, order_parts, orders};

diesel::joinable!(shipment_lines -> shipments (shipment_id));
diesel::joinable!(return_lines -> returns (return_id));
diesel::joinable!(shipments -> order_parts (part_id));
diesel::joinable!(returns -> order_parts (part_id));
diesel::joinable!(shipment_lines -> order_lines (line_id));
diesel::joinable!(return_lines -> order_lines (line_id));

diesel::allow_tables_to_appear_in_same_query!(shipments, shipment_lines, returns, return_lines);
diesel::allow_tables_to_appear_in_same_query!(shipments, order_parts);
diesel::allow_tables_to_appear_in_same_query!(shipments, order_lines);
diesel::allow_tables_to_appear_in_same_query!(shipments, orders);
diesel::allow_tables_to_appear_in_same_query!(shipment_lines, order_parts);
diesel::allow_tables_to_appear_in_same_query!(shipment_lines, order_lines);
diesel::allow_tables_to_appear_in_same_query!(shipment_lines, orders);
diesel::allow_tables_to_appear_in_same_query!(returns, order_parts);
diesel::allow_tables_to_appear_in_same_query!(returns, order_lines);
diesel::allow_tables_to_appear_in_same_query!(returns, orders);
diesel::allow_tables_to_appear_in_same_query!(return_lines, order_parts);
diesel::allow_tables_to_appear_in_same_query!(return_lines, order_lines);
diesel::allow_tables_to_appear_in_same_query!(return_lines, orders);
