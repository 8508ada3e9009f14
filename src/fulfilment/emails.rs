//! The emails fulfilment facts cause, queued (through the outbox) in the
//! transaction of each fact, each once per fact (its outbox cause):
//!
//! | fact | to | cause |
//! | --- | --- | --- |
//! | a parcel left | buyer | `shipment:{id}:shipped` |
//! | a part delivered (or counted as delivered) | buyer | `part:{id}:delivered` |
//! | a part cancelled | buyer, seller | `part:{id}:canceled:buyer`, `…:seller` |
//! | a part's ship-by date near (`orders.ship_soon_hours`) | seller | `part:{id}:ship_soon` |
//! | a part past its ship-by date | seller | `part:{id}:late` |
//! | a return requested | seller, buyer (receipt) | `return:{id}:requested:seller`, `…:buyer` |
//! | a return approved / refused / received | buyer | `return:{id}:{status}` |
//! | a return shipped back | seller | `return:{id}:shipped_back` |
//!
//! Each reads what the fact just wrote (in the same transaction), so the
//! caller writes the fact first and calls here last.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{return_lines, returns, shipment_lines, shipments};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::notify::messages::{
    LineCount, PartCanceled, PartDelivered, PartShipped, ReturnNotice, UnshippedPart,
};
use crate::notify::{self, Message};
use crate::orders::schema::{order_lines, order_parts};
use crate::orders::store::{self, OrderRow, PartRow};
use crate::orders::Shipping;
use crate::sellers::{notices, shops, Shop};

fn shown(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).to_string()
}

/// A stored instant as emails show it: `2026-12-10 14:00 UTC`.
fn shown_at(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A link an email may carry: `http(s)` only (the fulfilment routes accept
/// nothing else; a row from before a rule is shown without its link).
fn web_link(url: Option<String>) -> Option<String> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// A part with its order and its shop: who each email goes to.
struct PartContext {
    part: PartRow,
    order: OrderRow,
    currency: Currency,
    shop: Shop,
}

fn context(conn: &mut DbConnection, part_id: &str) -> Result<PartContext, AppError> {
    let part: PartRow = order_parts::table
        .find(part_id)
        .select(PartRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound {
            resource: "order part",
        })?;
    let order = store::find_order_row(conn, &part.order_id)?.ok_or_else(store::order_not_found)?;
    let currency = Currency::parse(&order.currency).map_err(|_| {
        AppError::Internal(anyhow::anyhow!(
            "order {} has an unknown currency {:?}",
            order.id,
            order.currency
        ))
    })?;
    let shop =
        shops::find_shop(conn, &part.shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
    Ok(PartContext {
        part,
        order,
        currency,
        shop,
    })
}

impl PartContext {
    fn to_buyer(
        &self,
        conn: &mut DbConnection,
        cause: &str,
        message: &Message,
    ) -> Result<(), AppError> {
        notify::enqueue(conn, cause, &self.order.buyer_email, message)?;
        Ok(())
    }

    /// To the shop's owner (no email if the owner's account is gone), and
    /// into the shop's notices.
    fn to_seller(
        &self,
        conn: &mut DbConnection,
        cause: &str,
        message: &Message,
    ) -> Result<(), AppError> {
        notices::tell_owner(
            conn,
            &self.shop.id,
            &self.shop.owner_user_id,
            cause,
            message,
            &notices::order_path(&self.shop.id, &self.order.id),
        )
    }

    /// The shipping address as the lines of a label.
    fn ship_to(&self) -> Result<Vec<String>, AppError> {
        let shipping: Shipping = serde_json::from_str(&self.order.shipping).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("order {} shipping: {e}", self.order.id))
        })?;
        let mut lines = vec![shipping.name, shipping.line1];
        lines.extend(shipping.line2);
        lines.push(format!("{} {}", shipping.postal_code, shipping.city));
        lines.push(shipping.country);
        Ok(lines)
    }
}

/// The part's units neither shipped nor refunded, line by line.
fn unshipped_lines(conn: &mut DbConnection, part_id: &str) -> Result<Vec<LineCount>, AppError> {
    let lines: Vec<(String, String, i64, i64, i64)> = order_lines::table
        .filter(order_lines::part_id.eq(part_id))
        .order(order_lines::position.asc())
        .select((
            order_lines::title,
            order_lines::sku,
            order_lines::quantity,
            order_lines::refunded_quantity,
            order_lines::shipped_quantity,
        ))
        .load(conn)?;
    Ok(lines
        .into_iter()
        .filter_map(|(title, sku, quantity, refunded, shipped)| {
            let left = quantity - refunded - shipped;
            (left > 0).then_some(LineCount {
                title,
                sku,
                quantity: left,
            })
        })
        .collect())
}

fn counted(lines: Vec<(String, String, i64)>) -> Vec<LineCount> {
    lines
        .into_iter()
        .map(|(title, sku, quantity)| LineCount {
            title,
            sku,
            quantity,
        })
        .collect()
}

/// The buyer: a parcel left, with its tracking link.
pub(crate) fn part_shipped(conn: &mut DbConnection, shipment_id: &str) -> Result<(), AppError> {
    let (part_id, carrier, tracking_number, tracking_url): (
        String,
        String,
        String,
        Option<String>,
    ) = shipments::table
        .find(shipment_id)
        .select((
            shipments::part_id,
            shipments::carrier,
            shipments::tracking_number,
            shipments::tracking_url,
        ))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound {
            resource: "shipment",
        })?;
    let ctx = context(conn, &part_id)?;
    let lines: Vec<(String, String, i64)> = shipment_lines::table
        .inner_join(order_lines::table)
        .filter(shipment_lines::shipment_id.eq(shipment_id))
        .order(order_lines::position.asc())
        .select((
            order_lines::title,
            order_lines::sku,
            shipment_lines::quantity,
        ))
        .load(conn)?;
    let message = Message::PartShipped(PartShipped {
        order_id: ctx.order.id.clone(),
        shop_name: ctx.shop.name.clone(),
        lines: counted(lines),
        carrier,
        tracking_number,
        tracking_url: web_link(tracking_url),
        more_to_follow: ctx.part.fulfilment_status == "partially_shipped",
    });
    ctx.to_buyer(conn, &format!("shipment:{shipment_id}:shipped"), &message)
}

/// The buyer: the part arrived (or counts as arrived), and until when they
/// may ask for a return.
pub(crate) fn part_delivered(conn: &mut DbConnection, part_id: &str) -> Result<(), AppError> {
    let ctx = context(conn, part_id)?;
    let policy = crate::shipping::return_policy(conn, &ctx.part.shop_id)?;
    let delivered_at = ctx.part.delivered_at.unwrap_or_else(db::now);
    let window_days = i64::from(policy.window_days.max(0));
    let message = Message::PartDelivered(PartDelivered {
        order_id: ctx.order.id.clone(),
        shop_name: ctx.shop.name.clone(),
        delivered_at: shown_at(delivered_at),
        automatic: ctx.part.delivered_by.as_deref() == Some("automatic"),
        automatic_after_days: i64::from(ctx.part.release_after_days),
        return_window_days: window_days,
        return_until: (window_days > 0)
            .then(|| shown_at(delivered_at + chrono::Duration::days(window_days))),
        shop_email: ctx.shop.support_email.clone(),
    });
    ctx.to_buyer(conn, &format!("part:{part_id}:delivered"), &message)
}

/// Whether the buyer cancelled the part, as its cancellation's audit entry
/// says (`after.by`, else its actor being the buyer).
fn canceled_by_buyer(
    conn: &mut DbConnection,
    part_id: &str,
    buyer_user_id: &str,
) -> Result<bool, AppError> {
    use crate::auth::schema::audit_log;
    let entry: Option<(Option<String>, Option<String>)> = audit_log::table
        .filter(audit_log::action.eq("part.cancel"))
        .filter(audit_log::subject.eq(part_id))
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .select((audit_log::actor_user_id, audit_log::after_json))
        .first(conn)
        .optional()?;
    let Some((actor, after)) = entry else {
        return Ok(false);
    };
    let by = after
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|value| {
            value
                .get("by")
                .and_then(|by| by.as_str())
                .map(str::to_owned)
        });
    Ok(match by {
        Some(by) => by == "buyer",
        None => actor.as_deref() == Some(buyer_user_id),
    })
}

/// The buyer and the seller: a part was cancelled before shipping, and why.
/// Called when the part is marked cancelled, before its refund is reserved:
/// the refund is what was left of the part then.
pub(crate) fn part_canceled(conn: &mut DbConnection, part_id: &str) -> Result<(), AppError> {
    let ctx = context(conn, part_id)?;
    let part = &ctx.part;
    let canceled_at = part.canceled_at.unwrap_or_else(db::now);
    let left = part.subtotal_minor - part.refunded_minor;
    let cancellation = PartCanceled {
        order_id: ctx.order.id.clone(),
        shop_name: ctx.shop.name.clone(),
        lines: unshipped_lines(conn, part_id)?,
        reason: part.cancel_reason.clone().unwrap_or_default(),
        late: part.ship_by.is_some_and(|by| by < canceled_at),
        by_buyer: canceled_by_buyer(conn, part_id, &ctx.order.buyer_user_id)?,
        ship_by: part.ship_by.map(shown_at),
        refund: (left > 0).then(|| shown(left, ctx.currency)),
        refunded_before: (part.refunded_minor > 0)
            .then(|| shown(part.refunded_minor, ctx.currency)),
        paid: shown(part.subtotal_minor, ctx.currency),
    };
    ctx.to_buyer(
        conn,
        &format!("part:{part_id}:canceled:buyer"),
        &Message::PartCanceled(cancellation.clone()),
    )?;
    ctx.to_seller(
        conn,
        &format!("part:{part_id}:canceled:seller"),
        &Message::SellerPartCanceled(cancellation),
    )
}

/// What is left to ship of a part, for the seller's reminders.
fn unshipped(
    conn: &mut DbConnection,
    ctx: &PartContext,
    part_id: &str,
) -> Result<UnshippedPart, AppError> {
    Ok(UnshippedPart {
        order_id: ctx.order.id.clone(),
        shop_name: ctx.shop.name.clone(),
        ship_by: ctx
            .part
            .ship_by
            .map_or_else(|| "its ship-by date".to_owned(), shown_at),
        lines: unshipped_lines(conn, part_id)?,
        ship_to: ctx.ship_to()?,
    })
}

/// The seller: a part passed its ship-by date unshipped (the buyer may now
/// cancel it).
pub(crate) fn part_late(conn: &mut DbConnection, part_id: &str) -> Result<(), AppError> {
    let ctx = context(conn, part_id)?;
    let message = Message::PartLate(unshipped(conn, &ctx, part_id)?);
    ctx.to_seller(conn, &format!("part:{part_id}:late"), &message)
}

/// The seller: a part's ship-by date is near and units are unshipped.
pub(crate) fn part_ship_soon(conn: &mut DbConnection, part_id: &str) -> Result<(), AppError> {
    let ctx = context(conn, part_id)?;
    let message = Message::PartShipSoon(unshipped(conn, &ctx, part_id)?);
    ctx.to_seller(conn, &format!("part:{part_id}:ship_soon"), &message)
}

/// A return row as its emails need it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = returns)]
struct ReturnRow {
    part_id: String,
    status: String,
    reason: String,
    refusal_reason: Option<String>,
    return_address: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
}

/// A return changed: requested (the seller, and the buyer's receipt),
/// approved (with the return address), refused (with the reason), shipped
/// back (the seller, with tracking) or received (the buyer: the refund
/// follows, its own email says the amount).
pub(crate) fn return_changed(conn: &mut DbConnection, return_id: &str) -> Result<(), AppError> {
    let row: ReturnRow = returns::table
        .find(return_id)
        .select(ReturnRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { resource: "return" })?;
    let ctx = context(conn, &row.part_id)?;
    let lines: Vec<(String, String, i64)> = return_lines::table
        .inner_join(order_lines::table)
        .filter(return_lines::return_id.eq(return_id))
        .order(order_lines::position.asc())
        .select((order_lines::title, order_lines::sku, return_lines::quantity))
        .load(conn)?;
    let return_address = row
        .return_address
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let notice = ReturnNotice {
        order_id: ctx.order.id.clone(),
        return_id: return_id.to_owned(),
        shop_name: ctx.shop.name.clone(),
        shop_email: ctx.shop.support_email.clone(),
        lines: counted(lines),
        reason: row.reason,
        refusal_reason: row.refusal_reason,
        return_address,
        carrier: row.carrier,
        tracking_number: row.tracking_number,
        tracking_url: web_link(row.tracking_url),
    };
    let cause = |to: &str| format!("return:{return_id}:{}{to}", row.status);
    match row.status.as_str() {
        "requested" => {
            ctx.to_seller(
                conn,
                &cause(":seller"),
                &Message::ReturnRequested(notice.clone()),
            )?;
            ctx.to_buyer(conn, &cause(":buyer"), &Message::ReturnReceipt(notice))
        }
        "approved" => ctx.to_buyer(conn, &cause(""), &Message::ReturnApproved(notice)),
        "refused" => ctx.to_buyer(conn, &cause(""), &Message::ReturnRefused(notice)),
        "shipped_back" => ctx.to_seller(conn, &cause(""), &Message::ReturnShippedBack(notice)),
        "received" => ctx.to_buyer(conn, &cause(""), &Message::ReturnReceived(notice)),
        other => {
            // The table's CHECK allows no other status; an email must not
            // undo the change that caused it.
            tracing::error!(return_id, status = other, "no email for this return status");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_show_as_utc_minutes() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 10)
            .unwrap()
            .and_hms_micro_opt(14, 5, 59, 123_456)
            .unwrap();
        assert_eq!(shown_at(at), "2026-12-10 14:05 UTC");
    }

    #[test]
    fn only_web_links_are_carried() {
        let link = |url: &str| web_link(Some(url.to_owned()));
        assert_eq!(
            link("https://carrier.example/t/1").as_deref(),
            Some("https://carrier.example/t/1")
        );
        assert!(link("http://carrier.example/t").is_some());
        assert!(link("javascript:alert(1)").is_none());
        assert!(link("").is_none());
        assert!(web_link(None).is_none());
    }
}
