//! The emails an order's facts cause, queued in the transaction of each fact:
//! the buyer's confirmation and each seller's new order when the order is
//! paid, the buyer's notice when a refund succeeded, and each seller's when a
//! refund or a dispute takes from its share and when that dispute is decided.
//! Every email to a seller is also a notice in its shop's list.
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
    DisputeClosed, DisputeOpened, LineItem, OrderConfirmation, RefundIssued, SellerNewOrder,
    SellerRefund, ShopLines,
};
use crate::notify::{self, Message};
use crate::sellers::{notices, shops};

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
        notices::tell_owner(
            conn,
            &shop.id,
            &shop.owner_user_id,
            &format!("seller_new_order:{}", part.id),
            &seller,
            &notices::order_path(&shop.id, order_id),
        )?;
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

/// Queues the seller's notice that a succeeded refund takes `seller_minor`
/// of `amount_minor` refunded on its part back from its share, once per
/// refund and part.
///
/// # Errors
/// A database failure.
pub(super) fn seller_refund(
    conn: &mut DbConnection,
    order_id: &str,
    refund_id: &str,
    part_id: &str,
    amount_minor: i64,
    seller_minor: i64,
) -> Result<(), AppError> {
    assert!(seller_minor > 0, "only a refund that takes from the seller");
    assert!(
        seller_minor <= amount_minor,
        "the seller's portion is part of the refund"
    );
    let order = load(conn, order_id)?;
    let part = order
        .parts
        .iter()
        .find(|p| p.id == part_id)
        .ok_or(AppError::NotFound {
            resource: "order part",
        })?;
    let shop =
        shops::find_shop(conn, &part.shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
    let message = Message::SellerRefund(SellerRefund {
        order_id: order_id.to_owned(),
        refund_id: refund_id.to_owned(),
        shop_name: shop.name.clone(),
        amount: shown(amount_minor, order.currency),
        seller_share: shown(seller_minor, order.currency),
    });
    notices::tell_owner(
        conn,
        &shop.id,
        &shop.owner_user_id,
        &format!("seller_refund:{refund_id}:{part_id}"),
        &message,
        &notices::order_path(&shop.id, order_id),
    )
}

/// What one dispute took from one part's seller: the disputed amount's
/// share and the fee's share.
pub(super) struct DisputeTake<'a> {
    pub part_id: &'a str,
    pub shop_id: &'a str,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// Queues each seller's notice of a dispute that takes from its share (once
/// per dispute and part), and, once `outcome` is `won` or `lost`, of the
/// decision. Sellers the dispute took nothing from are not told: their
/// money does not move.
///
/// # Errors
/// A database failure.
pub(super) fn dispute_changed(
    conn: &mut DbConnection,
    order_id: &str,
    dispute_id: &str,
    disputed: Money,
    outcome: &str,
    takes: &[DisputeTake<'_>],
) -> Result<(), AppError> {
    let currency = disputed.currency;
    for take in takes {
        let taken = take.amount_minor + take.fee_minor;
        if taken <= 0 {
            continue;
        }
        let shop =
            shops::find_shop(conn, take.shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
        let link = notices::order_path(&shop.id, order_id);
        let opened = Message::DisputeOpened(DisputeOpened {
            order_id: order_id.to_owned(),
            dispute_id: dispute_id.to_owned(),
            shop_name: shop.name.clone(),
            disputed: disputed.to_string(),
            taken: shown(taken, currency),
            fee: (take.fee_minor > 0).then(|| shown(take.fee_minor, currency)),
        });
        notices::tell_owner(
            conn,
            &shop.id,
            &shop.owner_user_id,
            &format!("dispute_opened:{dispute_id}:{}", take.part_id),
            &opened,
            &link,
        )?;
        if matches!(outcome, "won" | "lost") {
            let closed = Message::DisputeClosed(DisputeClosed {
                order_id: order_id.to_owned(),
                dispute_id: dispute_id.to_owned(),
                shop_name: shop.name.clone(),
                won: outcome == "won",
                taken: shown(taken, currency),
            });
            notices::tell_owner(
                conn,
                &shop.id,
                &shop.owner_user_id,
                &format!("dispute_closed:{dispute_id}:{}", take.part_id),
                &closed,
                &link,
            )?;
        }
    }
    Ok(())
}
