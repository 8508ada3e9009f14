//! Cancelling a part before it ships: the seller at any time (out of stock,
//! cannot ship), the buyer once the ship-by date passed, staff always. The
//! buyer gets back everything left of the part, shipping included, its units
//! return to stock, and the seller's share — held until release — is never
//! sent (under `on_payment`, the refund reverses what was).
//!
//! Two steps: the part is marked `canceled` (audited, emails queued) in one
//! transaction, then its refund goes through the refund path under the key
//! `cancel:{part_id}`. If the process stops in between, the sweep finds the
//! cancelled part without its refund and sends it under the same key, so the
//! buyer is refunded exactly once.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{emails, part_for, require_paid, Actor, Standing, REASON_CHARS_MAX};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::orders::refunds::{self, Refunder};
use crate::orders::schema::{disputes, order_lines, order_parts, refunds as refund_rows};
use crate::orders::{model::RefundLineRequest, RefundRequest};
use crate::payments::Provider;

/// `POST /v1/orders/{id}/parts/{part_id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// 1 to 500 characters, shown to the buyer and the seller.
    pub reason: String,
}

/// The refund key of a part's cancellation.
fn refund_key(part_id: &str) -> String {
    format!("cancel:{part_id}")
}

/// Marks the part cancelled, or refuses with nothing written.
fn mark_canceled(
    conn: &mut DbConnection,
    order_id: &str,
    part_id: &str,
    actor: &Actor,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        db::serialize_on(conn, &format!("fulfilment:{part_id}"))?;
        let found = part_for(conn, order_id, part_id, actor)?;
        require_paid(&found)?;
        let part = found.part;
        match part.fulfilment_status.as_str() {
            "unfulfilled" => {}
            "canceled" => {
                return Err(AppError::Conflict {
                    code: "already_canceled",
                    message: "this part is already cancelled".into(),
                })
            }
            shipped => {
                return Err(AppError::Conflict {
                    code: "part_shipped",
                    message: format!(
                        "this part is {shipped}; a part is cancelled only before anything of it ships (ask for a return instead)"
                    ),
                })
            }
        }
        if matches!(actor.standing, Standing::Buyer) && part.ship_by.is_none_or(|by| by >= now) {
            let by = part
                .ship_by
                .map_or_else(|| "its ship-by date".to_owned(), db::rfc3339);
            return Err(AppError::Conflict {
                code: "not_late",
                message: format!(
                    "the seller has until {by} to ship this part; a buyer may cancel it only after that"
                ),
            });
        }
        // The refund that follows must be possible: a disputed payment is
        // settled by its dispute, and refunds wait for it (as refunds::refund says).
        let disputed: i64 = disputes::table
            .filter(disputes::order_id.eq(order_id))
            .filter(disputes::outcome.ne("won"))
            .count()
            .get_result(conn)?;
        if disputed > 0 {
            return Err(AppError::Conflict {
                code: "order_disputed",
                message:
                    "the order's payment is disputed; the dispute decides what the buyer gets back"
                        .into(),
            });
        }
        let left = part.subtotal_minor - part.refunded_minor;
        diesel::update(order_parts::table.find(part_id))
            .set((
                order_parts::fulfilment_status.eq("canceled"),
                order_parts::canceled_at.eq(now),
                order_parts::cancel_reason.eq(reason),
                order_parts::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        crate::auth::record_audit(
            conn,
            actor
                .audit("part.cancel", part_id)
                .before(serde_json::json!({"fulfilment_status": part.fulfilment_status}))
                .after(serde_json::json!({
                    "fulfilment_status": "canceled",
                    "reason": reason,
                    "by": match actor.standing { Standing::Buyer => "buyer", Standing::Seller(_) => "seller", Standing::Staff => "staff" },
                    "to_refund_minor": left,
                })),
        )?;
        emails::part_canceled(conn, part_id)?;
        super::shipments::announce(
            conn,
            order_id,
            part_id,
            crate::events::types::EventType::PartCanceled,
        )?;
        Ok(())
    })
}

/// The refund of everything left of a cancelled part: each line's units not
/// refunded yet (restocked), and what is left of its shipping.
fn refund_request(
    conn: &mut DbConnection,
    part_id: &str,
) -> Result<Option<RefundRequest>, AppError> {
    let lines: Vec<(String, i64, i64)> = order_lines::table
        .filter(order_lines::part_id.eq(part_id))
        .order(order_lines::position.asc())
        .select((
            order_lines::id,
            order_lines::quantity,
            order_lines::refunded_quantity,
        ))
        .load(conn)?;
    let lines: Vec<RefundLineRequest> = lines
        .into_iter()
        .filter(|(_, quantity, refunded)| quantity > refunded)
        .map(|(line_id, quantity, refunded)| RefundLineRequest {
            line_id,
            quantity: quantity - refunded,
        })
        .collect();
    if lines.is_empty() {
        // Every unit was refunded before: only shipping can be left, which
        // an amount refund covers.
        let (left, shipping_left): (i64, i64) = order_parts::table
            .find(part_id)
            .select((
                order_parts::subtotal_minor - order_parts::refunded_minor,
                order_parts::shipping_minor - order_parts::shipping_refunded_minor,
            ))
            .first(conn)?;
        let amount = left.min(shipping_left);
        return Ok((amount > 0).then(|| RefundRequest {
            lines: None,
            part_id: Some(part_id.to_owned()),
            amount_minor: Some(amount),
            restock: false,
            shipping: false,
            reason: Some("part cancelled".into()),
        }));
    }
    Ok(Some(RefundRequest {
        lines: Some(lines),
        part_id: None,
        amount_minor: None,
        restock: true,
        shipping: true,
        reason: Some("part cancelled".into()),
    }))
}

/// Sends the cancelled part's refund (a replay if it was sent before).
///
/// # Errors
/// As [`refunds::refund`]; a provider that is down leaves it pending.
pub async fn refund_canceled_part(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    part_id: &str,
    refunder: Refunder,
) -> Result<Option<crate::orders::model::RefundView>, AppError> {
    let id = part_id.to_owned();
    let Some(request) = db::run(pool, move |conn| refund_request(conn, &id)).await? else {
        // Nothing left: the sweep may have refunded the cancelled part between
        // the cancel's two steps, under the same key; that refund is the answer.
        let (order, key) = (order_id.to_owned(), refund_key(part_id));
        return db::run(pool, move |conn| {
            refunds::refund_under_key(conn, &order, &key)
        })
        .await;
    };
    let outcome = refunds::refund(
        pool,
        provider,
        order_id,
        refunder,
        refund_key(part_id),
        request,
    )
    .await?;
    Ok(Some(outcome.refund))
}

/// [`cancel`], where a provider that cannot be reached is not a failure:
/// the part is cancelled and its refund is left to the sweep (`None`), as
/// the API and the seller's pages answer.
///
/// # Errors
/// Those of [`cancel`] but `Unavailable`.
pub async fn cancel_part(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    part_id: &str,
    actor: Actor,
    request: CancelRequest,
    now: NaiveDateTime,
) -> Result<Option<crate::orders::model::RefundView>, AppError> {
    match cancel(pool, provider, order_id, part_id, actor, request, now).await {
        Err(AppError::Unavailable { message }) => {
            tracing::warn!(message, part_id, "cancelled part's refund pending");
            Ok(None)
        }
        other => other,
    }
}

/// Cancels an unshipped part and refunds the buyer everything left of it.
///
/// # Errors
/// 404 for a part the actor may not act on; 409 `order_not_paid`,
/// `already_canceled`, `part_shipped`, `not_late` (a buyer before the
/// ship-by date), `order_disputed` (from the refund); 422 `invalid_value`.
pub async fn cancel(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    part_id: &str,
    actor: Actor,
    request: CancelRequest,
    now: NaiveDateTime,
) -> Result<Option<crate::orders::model::RefundView>, AppError> {
    let reason = super::text_field("reason", &request.reason, REASON_CHARS_MAX)?;
    {
        let (order, part, actor, reason) = (
            order_id.to_owned(),
            part_id.to_owned(),
            actor.clone(),
            reason.clone(),
        );
        db::run(pool, move |conn| {
            mark_canceled(conn, &order, &part, &actor, &reason, now)
        })
        .await?;
    }
    let refunder = Refunder {
        user_id: actor.user_id.clone(),
        shops: None,
        context: actor.context.clone(),
    };
    refund_canceled_part(pool, provider, order_id, part_id, refunder).await
}

/// Cancelled parts whose refund was never reserved (the process stopped
/// between the two steps): `(order_id, part_id)`, at most `limit`.
///
/// # Errors
/// A database failure.
pub fn unrefunded_cancellations(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<(String, String)>, AppError> {
    let canceled: Vec<(String, String)> = order_parts::table
        .filter(order_parts::fulfilment_status.eq("canceled"))
        .filter(order_parts::refunded_minor.lt(order_parts::subtotal_minor))
        .select((order_parts::order_id, order_parts::id))
        .order(order_parts::canceled_at.asc())
        .limit(limit)
        .load(conn)?;
    let mut due = Vec::new();
    for (order_id, part_id) in canceled {
        let sent: i64 = refund_rows::table
            .filter(refund_rows::order_id.eq(&order_id))
            .filter(refund_rows::idempotency_key.eq(refund_key(&part_id)))
            .count()
            .get_result(conn)?;
        if sent == 0 {
            due.push((order_id, part_id));
        }
    }
    Ok(due)
}
