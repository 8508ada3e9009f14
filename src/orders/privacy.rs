//! A buyer's personal data in their orders, for account deletion: the
//! orders stay (the books and the sellers need them), the person goes.

use diesel::prelude::*;

use super::model::Shipping;
use super::schema::{cart_lines, order_parts, orders};
use super::OrderStatus;
use crate::db::DbConnection;
use crate::error::AppError;

/// What stands in for each removed address field.
const REMOVED: &str = "(removed)";

/// The buyer's orders still under way: awaiting payment, or paid with a
/// shop's part not yet delivered or cancelled.
///
/// # Errors
/// Database errors.
pub fn buyer_orders_in_progress(conn: &mut DbConnection, user_id: &str) -> Result<i64, AppError> {
    let unpaid: i64 = orders::table
        .filter(orders::buyer_user_id.eq(user_id))
        .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str()))
        .count()
        .get_result(conn)?;
    let undelivered: i64 = orders::table
        .inner_join(order_parts::table.on(order_parts::order_id.eq(orders::id)))
        .filter(orders::buyer_user_id.eq(user_id))
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(order_parts::fulfilment_status.eq_any([
            "unfulfilled",
            "partially_shipped",
            "shipped",
        ]))
        .select(orders::id)
        .distinct()
        .load::<String>(conn)?
        .len()
        .try_into()
        .unwrap_or(i64::MAX);
    Ok(unpaid + undelivered)
}

/// Replaces the buyer's address and email on every order with placeholders
/// (the country stays: shipping rates and taxes were judged by it) and
/// empties their cart, in the caller's transaction. Returns how many orders
/// changed.
///
/// # Errors
/// A stored address that does not read back (a bug); database errors.
pub fn anonymise_buyer(
    conn: &mut DbConnection,
    user_id: &str,
    placeholder_email: &str,
) -> Result<usize, AppError> {
    let stored: Vec<(String, String)> = orders::table
        .filter(orders::buyer_user_id.eq(user_id))
        .select((orders::id, orders::shipping))
        .load(conn)?;
    for (order_id, shipping) in &stored {
        let mut address: Shipping = serde_json::from_str(shipping)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order {order_id} shipping: {e}")))?;
        address.name = REMOVED.into();
        address.line1 = REMOVED.into();
        address.line2 = None;
        address.city = REMOVED.into();
        address.postal_code = REMOVED.into();
        let address = serde_json::to_string(&address)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order {order_id} shipping: {e}")))?;
        diesel::update(orders::table.find(order_id))
            .set((
                orders::shipping.eq(address),
                orders::buyer_email.eq(placeholder_email),
            ))
            .execute(conn)?;
    }
    diesel::delete(cart_lines::table.filter(cart_lines::buyer_user_id.eq(user_id)))
        .execute(conn)?;
    Ok(stored.len())
}
