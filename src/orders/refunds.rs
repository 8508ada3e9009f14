//! Refunds: by lines and quantities, or by an amount on one part. One refund on
//! the platform charge; each part's seller gives back its portion (by the fee
//! rule's policy, see [`split::refund_seller_portion`]) through the part's
//! settlement, which reverses transfers — or sends less, if nothing was sent yet.
//!
//! A refund is reserved first (amounts checked and counted against the order
//! in one write transaction, so two refunds can never exceed it), then sent to
//! the provider with a key derived from its id. Provider down: it stays
//! `pending` and the sweep sends it. Provider refuses: it is `failed` and the
//! reservation is given back.

use diesel::prelude::*;

use super::events::Seen;
use super::model::{request_hash, OrderStatus, RefundRequest, RefundTarget, RefundView};
use super::schema::{
    order_lines, order_parts, orders, part_recoveries, refund_lines, refund_parts, refunds,
};
use super::store::{self, new_id, OrderRecord, RefundLineRow, RefundPartRow, RefundRow};
use super::{settlement, split};
use crate::catalog;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::payments::{IdempotencyKey, NewRefund, Provider};

/// Who asks for a refund: staff may refund any part; a seller only its shops' parts.
#[derive(Debug, Clone)]
pub struct Refunder {
    pub user_id: String,
    /// `None` for staff; the seller's shop ids otherwise.
    pub shops: Option<Vec<String>>,
    /// Where the request came from, for the audit row every refund writes.
    pub context: crate::auth::RequestContext,
}

/// A refund and whether it answers an earlier request under the same key.
#[derive(Debug)]
pub struct RefundOutcome {
    pub refund: RefundView,
    pub replayed: bool,
}

fn exceeds(param: String, message: String) -> AppError {
    AppError::unprocessable("refund_exceeds_remaining", message, Some(param))
}

enum Reserved {
    Existing(String),
    New(String),
}

/// Counts the refund against the order, or refuses it with nothing written.
fn reserve(
    conn: &mut DbConnection,
    order_id: &str,
    refunder: &Refunder,
    key: &str,
    request: &RefundRequest,
) -> Result<Reserved, AppError> {
    let (target, restock, reason) = request.parse()?;
    let hash = request_hash(request);
    db::write_transaction(conn, |conn| {
        // Refunds of one order decide from what was refunded before: on
        // PostgreSQL two at once would both read the same remainder and one
        // would break the database's check (a 500) instead of being told.
        db::serialize_on(conn, &format!("refunds:{order_id}"))?;
        let record = store::load_order(conn, order_id)?.ok_or_else(store::order_not_found)?;
        let may_refund = |shop_id: &str| {
            refunder
                .shops
                .as_ref()
                .is_none_or(|own| own.iter().any(|s| s == shop_id))
        };
        if !record.parts.iter().any(|p| may_refund(&p.shop_id)) {
            return Err(store::order_not_found());
        }
        if let Some(existing) = record.refunds.iter().find(|r| r.idempotency_key == key) {
            return if existing.request_hash == hash {
                Ok(Reserved::Existing(existing.id.clone()))
            } else {
                Err(AppError::Conflict {
                    code: "idempotency_key_reused",
                    message: "this Idempotency-Key was used with a different refund; use a new key"
                        .into(),
                })
            };
        }
        if record.status != OrderStatus::Paid {
            return Err(AppError::Conflict {
                code: "order_not_paid",
                message: format!(
                    "only paid orders are refunded; this one is {}",
                    record.status.as_str()
                ),
            });
        }
        if record.disputes.iter().any(|d| d.outcome != "won") {
            return Err(AppError::Conflict {
                code: "order_disputed",
                message:
                    "the order's payment is disputed; the dispute decides what the buyer gets back"
                        .into(),
            });
        }
        let (per_part, per_line) = amounts(&record, &target, &may_refund)?;
        let refund_id = new_id("rfd");
        let now = db::now();
        let total: i64 = per_part.iter().map(|(_, a, _)| a).sum();
        diesel::insert_into(refunds::table)
            .values(&RefundRow {
                id: refund_id.clone(),
                order_id: order_id.to_owned(),
                idempotency_key: key.to_owned(),
                request_hash: hash.clone(),
                amount_minor: total,
                reason: reason.clone(),
                restock,
                status: "pending".into(),
                provider_refund_id: None,
                failure_message: None,
                requested_by: refunder.user_id.clone(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        for (part_id, amount, shipping) in &per_part {
            let part = record
                .parts
                .iter()
                .find(|p| &p.id == part_id)
                .expect("checked");
            let seller_portion = split::refund_seller_portion(
                split::PartAmounts {
                    subtotal: part.subtotal_minor,
                    seller_amount: part.refund_base(),
                    refunded: part.refunded_minor,
                },
                *amount,
                part.refund_fee_proportionally,
            );
            diesel::insert_into(refund_parts::table)
                .values(&RefundPartRow {
                    refund_id: refund_id.clone(),
                    part_id: part_id.clone(),
                    amount_minor: *amount,
                    seller_portion_minor: seller_portion,
                    shipping_minor: *shipping,
                })
                .execute(conn)?;
            diesel::update(order_parts::table.find(part_id))
                .set((
                    order_parts::refunded_minor.eq(order_parts::refunded_minor + *amount),
                    order_parts::shipping_refunded_minor
                        .eq(order_parts::shipping_refunded_minor + *shipping),
                    order_parts::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        for (line_id, quantity) in &per_line {
            diesel::insert_into(refund_lines::table)
                .values(&RefundLineRow {
                    refund_id: refund_id.clone(),
                    line_id: line_id.clone(),
                    quantity: *quantity,
                })
                .execute(conn)?;
            diesel::update(order_lines::table.find(line_id))
                .set(order_lines::refunded_quantity.eq(order_lines::refunded_quantity + *quantity))
                .execute(conn)?;
        }
        let refunded_before: i64 = orders::table
            .find(order_id)
            .select(orders::refunded_minor)
            .first(conn)?;
        diesel::update(orders::table.find(order_id))
            .set((
                orders::refunded_minor.eq(orders::refunded_minor + total),
                orders::updated_at.eq(now),
            ))
            .execute(conn)?;
        crate::auth::record_audit(
            conn,
            crate::auth::AuditEntry::new("order.refund", order_id)
                .actor(&crate::auth::UserId(refunder.user_id.clone()))
                .context(&refunder.context)
                .before(serde_json::json!({"refunded_minor": refunded_before}))
                .after(serde_json::json!({
                    "refunded_minor": refunded_before + total,
                    "refund_id": refund_id,
                    "amount_minor": total,
                    "restock": restock,
                })),
        )?;
        Ok(Reserved::New(refund_id))
    })
}

/// What the refund takes from each part (`(part, amount, of which shipping)`)
/// and line, checked against what is left.
#[allow(clippy::type_complexity)]
fn amounts(
    record: &OrderRecord,
    target: &RefundTarget,
    may_refund: &dyn Fn(&str) -> bool,
) -> Result<(Vec<(String, i64, i64)>, Vec<(String, i64)>), AppError> {
    let mut per_part: Vec<(String, i64, i64)> = Vec::new();
    let mut per_line = Vec::new();
    match target {
        RefundTarget::Lines { lines, shipping } => {
            for (i, (line_id, quantity)) in lines.iter().enumerate() {
                let line = record
                    .lines
                    .iter()
                    .find(|l| &l.id == line_id)
                    .filter(|l| {
                        record
                            .parts
                            .iter()
                            .any(|p| p.id == l.part_id && may_refund(&p.shop_id))
                    })
                    .ok_or_else(|| {
                        AppError::unprocessable(
                            "unknown_line",
                            format!("line {line_id} is not a line of this order you may refund"),
                            Some(format!("lines[{i}].line_id")),
                        )
                    })?;
                let left = line.quantity - line.refunded_quantity;
                if *quantity > left {
                    return Err(exceeds(
                        format!("lines[{i}].quantity"),
                        format!("line {line_id} has {left} unit(s) left to refund, {quantity} asked for"),
                    ));
                }
                let amount = line.unit_price_minor * quantity;
                match per_part.iter_mut().find(|(p, _, _)| *p == line.part_id) {
                    Some((_, sum, _)) => *sum += amount,
                    None => per_part.push((line.part_id.clone(), amount, 0)),
                }
                per_line.push((line_id.clone(), *quantity));
            }
            if *shipping {
                for (part_id, sum, shipping_amount) in &mut per_part {
                    let part = record
                        .parts
                        .iter()
                        .find(|p| p.id == *part_id)
                        .expect("a line's part");
                    *shipping_amount = part.shipping_minor - part.shipping_refunded_minor;
                    *sum += *shipping_amount;
                }
            }
        }
        RefundTarget::Amount {
            part_id,
            amount_minor,
        } => {
            let known = record
                .parts
                .iter()
                .any(|p| &p.id == part_id && may_refund(&p.shop_id));
            if !known {
                return Err(AppError::unprocessable(
                    "unknown_part",
                    format!("part {part_id} is not a part of this order you may refund"),
                    Some("part_id".into()),
                ));
            }
            per_part.push((part_id.clone(), *amount_minor, 0));
        }
    }
    for (part_id, amount, _) in &per_part {
        let part = record
            .parts
            .iter()
            .find(|p| &p.id == part_id)
            .expect("found above");
        let left = part.subtotal_minor - part.refunded_minor;
        if *amount > left {
            return Err(exceeds(
                "amount_minor".into(),
                format!("part {part_id} has {left} left to refund, {amount} asked for"),
            ));
        }
    }
    Ok((per_part, per_line))
}

/// The refund made under `key` for order `order_id`, if there is one.
///
/// # Errors
/// Database errors.
pub fn refund_under_key(
    conn: &mut DbConnection,
    order_id: &str,
    key: &str,
) -> Result<Option<RefundView>, AppError> {
    let id: Option<String> = refunds::table
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::idempotency_key.eq(key))
        .select(refunds::id)
        .first(conn)
        .optional()?;
    id.map(|id| refund_view(conn, &id)).transpose()
}

/// The refund's view, from its order.
fn refund_view(conn: &mut DbConnection, refund_id: &str) -> Result<RefundView, AppError> {
    let order_id: String = refunds::table
        .find(refund_id)
        .select(refunds::order_id)
        .first(conn)?;
    let record = store::load_order(conn, &order_id)?.ok_or_else(store::order_not_found)?;
    let refund = record
        .refunds
        .iter()
        .find(|r| r.id == refund_id)
        .ok_or(AppError::NotFound { resource: "refund" })?;
    Ok(record.refund_view(refund))
}

/// Moves a pending refund to `status` (with the provider's refund id, or the
/// failure); returns it with its parts, or `None` when another worker closed
/// it first.
fn close_pending(
    conn: &mut DbConnection,
    refund_id: &str,
    status: &str,
    provider_refund_id: Option<&str>,
    failure_message: Option<&str>,
) -> Result<Option<(RefundRow, Vec<RefundPartRow>)>, AppError> {
    let updated = diesel::update(
        refunds::table
            .find(refund_id)
            .filter(refunds::status.eq("pending")),
    )
    .set((
        refunds::status.eq(status),
        refunds::provider_refund_id.eq(provider_refund_id),
        refunds::failure_message.eq(failure_message),
        refunds::updated_at.eq(db::now()),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    let refund: RefundRow = refunds::table
        .find(refund_id)
        .select(RefundRow::as_select())
        .first(conn)?;
    let parts: Vec<RefundPartRow> = refund_parts::table
        .filter(refund_parts::refund_id.eq(refund_id))
        .select(RefundPartRow::as_select())
        .load(conn)?;
    Ok(Some((refund, parts)))
}

/// The provider's refund succeeded: sellers owe back their portions, units
/// return to stock if asked. Applied once, whoever gets here first.
pub(super) fn succeed(
    conn: &mut DbConnection,
    refund_id: &str,
    provider_refund_id: &str,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let closed = close_pending(conn, refund_id, "succeeded", Some(provider_refund_id), None)?;
        let Some((refund, parts)) = closed else {
            return Ok(());
        };
        super::emails::refund_issued(conn, &refund.order_id, refund_id, refund.amount_minor)?;
        let (currency, shops): (String, Vec<(String, String)>) = {
            let currency = orders::table
                .find(&refund.order_id)
                .select(orders::currency)
                .first(conn)?;
            let shops = order_parts::table
                .filter(order_parts::order_id.eq(&refund.order_id))
                .select((order_parts::id, order_parts::shop_id))
                .load(conn)?;
            (currency, shops)
        };
        let currency = crate::money::Currency::parse(&currency).map_err(|_| {
            AppError::Internal(anyhow::anyhow!("order {} currency", refund.order_id))
        })?;
        let booked: Vec<(&str, i64, i64)> = parts
            .iter()
            .map(|p| {
                let shop = shops
                    .iter()
                    .find(|(id, _)| *id == p.part_id)
                    .map(|(_, shop)| shop.as_str());
                (
                    shop.expect("a refund part is a part of its order"),
                    p.amount_minor,
                    p.seller_portion_minor,
                )
            })
            .collect();
        crate::ledger::post(
            conn,
            &super::books::refund(refund_id, provider_refund_id, currency, &booked),
        )?;
        for part in &parts {
            if part.seller_portion_minor > 0 {
                super::emails::seller_refund(
                    conn,
                    &refund.order_id,
                    refund_id,
                    &part.part_id,
                    part.amount_minor,
                    part.seller_portion_minor,
                )?;
                diesel::insert_into(part_recoveries::table)
                    .values(&store::RecoveryRow {
                        part_id: part.part_id.clone(),
                        cause_kind: "refund".into(),
                        cause_id: refund_id.to_owned(),
                        seller_minor: part.seller_portion_minor,
                        created_at: now,
                    })
                    .execute(conn)?;
            }
            diesel::update(order_parts::table.find(&part.part_id))
                .set((
                    order_parts::needs_settlement.eq(true),
                    order_parts::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        if refund.restock {
            let lines: Vec<RefundLineRow> = refund_lines::table
                .filter(refund_lines::refund_id.eq(refund_id))
                .select(RefundLineRow::as_select())
                .load(conn)?;
            for line in &lines {
                let product_id: String = order_lines::table
                    .find(&line.line_id)
                    .select(order_lines::product_id)
                    .first(conn)?;
                catalog::release_stock(conn, &product_id, line.quantity)?;
                diesel::update(order_lines::table.find(&line.line_id))
                    .set(
                        order_lines::restocked_quantity
                            .eq(order_lines::restocked_quantity + line.quantity),
                    )
                    .execute(conn)?;
            }
        }
        let refunded_parts: Vec<String> = parts
            .iter()
            .filter(|p| p.amount_minor > 0)
            .map(|p| p.part_id.clone())
            .collect();
        super::events::emit_order(
            conn,
            &refund.order_id,
            EventType::OrderRefunded,
            Seen::ByPartsShops(&refunded_parts),
        )?;
        Ok(())
    })
}

/// The provider refused the refund: it is failed and its reservation undone.
pub(super) fn fail(
    conn: &mut DbConnection,
    refund_id: &str,
    message: &str,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let closed = close_pending(conn, refund_id, "failed", None, Some(message))?;
        let Some((refund, parts)) = closed else {
            return Ok(());
        };
        for part in &parts {
            diesel::update(order_parts::table.find(&part.part_id))
                .set((
                    order_parts::refunded_minor.eq(order_parts::refunded_minor - part.amount_minor),
                    order_parts::shipping_refunded_minor
                        .eq(order_parts::shipping_refunded_minor - part.shipping_minor),
                ))
                .execute(conn)?;
        }
        let lines: Vec<RefundLineRow> = refund_lines::table
            .filter(refund_lines::refund_id.eq(refund_id))
            .select(RefundLineRow::as_select())
            .load(conn)?;
        for line in &lines {
            diesel::update(order_lines::table.find(&line.line_id))
                .set(
                    order_lines::refunded_quantity
                        .eq(order_lines::refunded_quantity - line.quantity),
                )
                .execute(conn)?;
        }
        diesel::update(orders::table.find(&refund.order_id))
            .set((
                orders::refunded_minor.eq(orders::refunded_minor - refund.amount_minor),
                orders::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Sends a pending refund to the provider and applies the answer.
///
/// # Errors
/// The provider refused it (it is then `failed`, 422) or is unreachable (it
/// stays `pending`; the sweep sends it again under the same key).
pub async fn execute_refund(
    pool: &DbPool,
    provider: &dyn Provider,
    refund_id: &str,
) -> Result<(), AppError> {
    let id = refund_id.to_owned();
    let (refund, intent_id): (RefundRow, Option<String>) = db::run(pool, move |conn| {
        let refund: RefundRow = refunds::table
            .find(&id)
            .select(RefundRow::as_select())
            .first(conn)?;
        let intent: Option<String> = orders::table
            .find(&refund.order_id)
            .select(orders::payment_intent_id)
            .first(conn)?;
        Ok((refund, intent))
    })
    .await?;
    if refund.status != "pending" {
        return Ok(());
    }
    let intent_id = intent_id
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("paid order without an intent")))?;
    let answer = provider
        .create_refund(
            &NewRefund {
                payment_intent: intent_id,
                amount: Some(refund.amount_minor),
                metadata: [
                    ("order_id".to_owned(), refund.order_id.clone()),
                    ("refund_id".to_owned(), refund.id.clone()),
                ]
                .into(),
            },
            &IdempotencyKey::derive("refund", &refund.id),
        )
        .await;
    let id = refund.id.clone();
    match answer {
        Ok(provider_refund) => {
            assert_eq!(
                provider_refund.amount.minor, refund.amount_minor,
                "the provider refunded what we asked"
            );
            db::run(pool, move |conn| succeed(conn, &id, &provider_refund.id)).await?;
            settlement::settle_order(pool, provider, &refund.order_id).await
        }
        Err(error) if error.is_transient() => Err(error.into()),
        Err(error) => {
            let message = error.to_string();
            db::run(pool, move |conn| fail(conn, &id, &message)).await?;
            Err(error.into())
        }
    }
}

/// Refunds (part of) a paid order.
///
/// # Errors
/// 404 for an order the caller may not refund; 409 `order_not_paid`,
/// `order_disputed`, `idempotency_key_reused`; 422 `refund_exceeds_remaining`,
/// `unknown_line`, `unknown_part`, `invalid_value`; the provider's refusal.
/// A provider that is unreachable is not an error: the refund is answered
/// `pending` and sent by the sweep.
#[tracing::instrument(skip(pool, provider, request))]
pub async fn refund(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    refunder: Refunder,
    key: String,
    request: RefundRequest,
) -> Result<RefundOutcome, AppError> {
    if !store::has_id_shape(order_id, "ord") {
        return Err(store::order_not_found());
    }
    let id = order_id.to_owned();
    let reserved = db::run(pool, move |conn| {
        reserve(conn, &id, &refunder, &key, &request)
    })
    .await?;
    let (refund_id, replayed) = match reserved {
        Reserved::Existing(id) => (id, true),
        Reserved::New(id) => (id, false),
    };
    if !replayed {
        match execute_refund(pool, provider, &refund_id).await {
            Ok(()) => {}
            Err(AppError::Unavailable { message }) => {
                tracing::warn!(
                    message,
                    refund_id,
                    "refund pending until the provider answers"
                );
            }
            Err(error) => return Err(error),
        }
    }
    let refund = db::run(pool, move |conn| refund_view(conn, &refund_id)).await?;
    Ok(RefundOutcome { refund, replayed })
}

/// Sends refunds left pending (the provider was down) — at most `limit`.
pub async fn retry_pending(
    pool: &DbPool,
    provider: &dyn Provider,
    limit: i64,
) -> (usize, Option<AppError>) {
    let listed = db::run(pool, move |conn| {
        Ok(refunds::table
            .filter(refunds::status.eq("pending"))
            .select(refunds::id)
            .order(refunds::created_at.asc())
            .limit(limit)
            .load(conn)?)
    })
    .await;
    super::sweep_each::each_id(listed, |id| async move {
        execute_refund(pool, provider, &id).await
    })
    .await
}
