//! The emails an order's facts cause, queued in the transaction of each fact:
//! the buyer's confirmation and each seller's new order when the order is
//! paid, the buyer's notice when a refund succeeded.
//!
//! Shipping shows where a part has any (it is part of the subtotal), and a
//! seller's new order says when to ship by (the part's `ship_by`, written by
//! payment in the same transaction before these emails are queued).

use diesel::prelude::*;

use super::model::Shipping;
use super::schema::refunds;
use super::store::{self, LineRow, OrderRecord};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::notify::messages::{
    LineItem, OrderConfirmation, RefundIssued, SellerNewOrder, ShopLines,
};
use crate::notify::{self, Message};
use crate::sellers::shops;

fn shown(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).to_string()
}

/// A part's shipping as the emails show it: nothing when it is free.
fn shipping_shown(minor: i64, currency: Currency) -> Option<String> {
    (minor > 0).then(|| shown(minor, currency))
}

fn line_item(line: &LineRow, currency: Currency) -> LineItem {
    LineItem {
        title: line.title.clone(),
        sku: line.sku.clone(),
        quantity: line.quantity,
        unit_price: shown(line.unit_price_minor, currency),
        amount: shown(line.amount_minor, currency),
    }
}

/// The shipping address as the lines of a label.
fn ship_to(order: &OrderRecord) -> Result<Vec<String>, AppError> {
    let shipping: Shipping = serde_json::from_str(&order.order.shipping).map_err(|e| {
        AppError::Internal(anyhow::anyhow!("order {} shipping: {e}", order.order.id))
    })?;
    let mut lines = vec![shipping.name, shipping.line1];
    lines.extend(shipping.line2);
    lines.push(format!("{} {}", shipping.postal_code, shipping.city));
    lines.push(shipping.country);
    Ok(lines)
}

fn load(conn: &mut DbConnection, order_id: &str) -> Result<OrderRecord, AppError> {
    store::load_order(conn, order_id)?.ok_or_else(store::order_not_found)
}

/// Queues the buyer's confirmation (lines by shop, totals) and one new-order
/// email per seller (its own lines only), once per order.
///
/// # Errors
/// A database failure.
pub(super) fn order_paid(conn: &mut DbConnection, order_id: &str) -> Result<(), AppError> {
    let order = load(conn, order_id)?;
    let currency = order.currency;
    let ship_to = ship_to(&order)?;
    let mut by_shop = Vec::with_capacity(order.parts.len());
    for part in &order.parts {
        let shop = shops::find_shop(conn, &part.shop_id)?
            .ok_or(AppError::NotFound { resource: "shop" })?;
        let lines: Vec<LineItem> = order
            .lines
            .iter()
            .filter(|line| line.part_id == part.id)
            .map(|line| line_item(line, currency))
            .collect();
        let subtotal = shown(part.subtotal_minor, currency);
        let shipping = shipping_shown(part.shipping_minor, currency);
        let seller = Message::SellerNewOrder(SellerNewOrder {
            order_id: order_id.to_owned(),
            shop_name: shop.name.clone(),
            lines: lines.clone(),
            subtotal: subtotal.clone(),
            platform_fee: shown(part.fee_minor, currency),
            seller_amount: shown(part.seller_amount_minor, currency),
            ship_to: ship_to.clone(),
            shipping: shipping.clone(),
            // Parts sold before ship-by dates have none.
            ship_by: part
                .ship_by
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
        });
        if let Some(owner) = shops::owner_email(conn, &shop)? {
            notify::enqueue(
                conn,
                &format!("seller_new_order:{}", part.id),
                &owner,
                &seller,
            )?;
        }
        by_shop.push(ShopLines {
            shop_name: shop.name,
            lines,
            shipping,
            subtotal,
        });
    }
    let confirmation = Message::OrderConfirmation(OrderConfirmation {
        order_id: order_id.to_owned(),
        shops: by_shop,
        total: shown(order.order.total_minor, currency),
        ship_to,
    });
    notify::enqueue(
        conn,
        &format!("order_confirmation:{order_id}"),
        &order.order.buyer_email,
        &confirmation,
    )?;
    Ok(())
}

/// Queues the buyer's notice of a succeeded refund, with what the order has
/// had back so far (succeeded refunds only: a pending one is not money back yet).
///
/// # Errors
/// A database failure.
pub(super) fn refund_issued(
    conn: &mut DbConnection,
    order_id: &str,
    refund_id: &str,
    amount_minor: i64,
) -> Result<(), AppError> {
    let order = load(conn, order_id)?;
    let succeeded: Vec<i64> = refunds::table
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::status.eq("succeeded"))
        .select(refunds::amount_minor)
        .load(conn)?;
    let refunded_total: i64 = succeeded.iter().sum();
    let currency = order.currency;
    let notice = Message::RefundIssued(RefundIssued {
        order_id: order_id.to_owned(),
        refund_id: refund_id.to_owned(),
        amount: shown(amount_minor, currency),
        refunded_total: shown(refunded_total, currency),
        order_total: shown(order.order.total_minor, currency),
    });
    notify::enqueue(
        conn,
        &format!("refund_issued:{refund_id}"),
        &order.order.buyer_email,
        &notice,
    )?;
    Ok(())
}
