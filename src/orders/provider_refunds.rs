//! Refunds as the provider reports them (`refund.created`, `refund.updated`,
//! `charge.refunded`): always re-read from the provider, then
//!
//! - ours (metadata `refund_id`): a pending one is closed by the provider's
//!   verdict, exactly as if our own call had answered;
//! - a late payment's (metadata `order_id` only): booked by the payment path;
//! - made outside Bazaar (no metadata of ours, on a charge of ours): recorded
//!   on its order as a succeeded refund `requested_by` = `provider`, borne by
//!   the platform (no seller is charged for a decision Bazaar did not make),
//!   and booked — so the books still match the provider's balance.

use diesel::prelude::*;

use super::books;
use super::events::Seen;
use super::schema::{orders, refunds};
use super::store::{new_id, RefundRow};
use super::{refunds as ours, settlement};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::money::{Currency, Money};
use crate::payments::{Provider, Refund};

/// Who `requested_by` names for a refund made outside Bazaar.
pub const OUTSIDE: &str = "provider";

/// Applies a provider refund's current state.
///
/// # Errors
/// 404 when the refund is of no order of ours; provider or database failures.
pub async fn sync_refund(
    pool: &DbPool,
    provider: &dyn Provider,
    provider_refund_id: &str,
) -> Result<(), AppError> {
    let refund = provider.retrieve_refund(provider_refund_id).await?;
    let status = refund.status.clone().unwrap_or_default();
    if let Some(refund_id) = refund.metadata.get("refund_id").cloned() {
        let order_id = match status.as_str() {
            "succeeded" => {
                let (id, provider_id) = (refund_id.clone(), refund.id.clone());
                db::run(pool, move |conn| ours::succeed(conn, &id, &provider_id)).await?;
                refund.metadata.get("order_id").cloned()
            }
            "failed" | "canceled" => {
                let message = format!("the provider reports the refund {status}");
                db::run(pool, move |conn| ours::fail(conn, &refund_id, &message)).await?;
                None
            }
            _ => None,
        };
        if let Some(order_id) = order_id {
            settlement::settle_order(pool, provider, &order_id).await?;
        }
        return Ok(());
    }
    if refund.metadata.contains_key("order_id") || status != "succeeded" {
        // A late payment's refund is booked where it is made; one made outside
        // Bazaar is booked once it succeeds (a later event says so).
        return Ok(());
    }
    db::run(pool, move |conn| record_outside(conn, &refund)).await
}

/// Records a succeeded refund made outside Bazaar, once.
fn record_outside(conn: &mut DbConnection, refund: &Refund) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        let known: i64 = refunds::table
            .filter(refunds::provider_refund_id.eq(&refund.id))
            .count()
            .get_result(conn)?;
        if known > 0 {
            return Ok(());
        }
        let mut query = orders::table
            .select((orders::id, orders::currency))
            .into_boxed();
        query = match (&refund.payment_intent, &refund.charge) {
            (Some(intent), _) => query.filter(orders::payment_intent_id.eq(intent.clone())),
            (None, Some(charge)) => query.filter(orders::charge_id.eq(charge.clone())),
            (None, None) => {
                return Err(AppError::NotFound {
                    resource: "order for this refund",
                })
            }
        };
        let (order_id, currency): (String, String) =
            query.first(conn).optional()?.ok_or(AppError::NotFound {
                resource: "order for this refund",
            })?;
        let currency = Currency::parse(&currency)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("order {order_id} currency")))?;
        let now = db::now();
        let id = new_id("rfd");
        diesel::insert_into(refunds::table)
            .values(&RefundRow {
                id: id.clone(),
                order_id: order_id.clone(),
                idempotency_key: format!("provider:{}", refund.id),
                request_hash: String::new(),
                amount_minor: refund.amount.minor,
                reason: Some("made outside Bazaar".into()),
                restock: false,
                status: "succeeded".into(),
                provider_refund_id: Some(refund.id.clone()),
                failure_message: None,
                requested_by: OUTSIDE.into(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        diesel::update(orders::table.find(&order_id))
            .set((
                orders::refunded_minor.eq(orders::refunded_minor + refund.amount.minor),
                orders::updated_at.eq(now),
            ))
            .execute(conn)?;
        tracing::warn!(
            order_id,
            provider_refund_id = refund.id,
            amount = refund.amount.minor,
            "refund made outside Bazaar booked against the platform"
        );
        crate::ledger::post(
            conn,
            &books::outside_refund(&id, &refund.id, Money::new(refund.amount.minor, currency)),
        )?;
        super::emails::refund_issued(conn, &order_id, &id, refund.amount.minor)?;
        // Borne by the platform: no seller's part gives anything back, so no
        // shop is told.
        super::events::emit_order(
            conn,
            &order_id,
            EventType::OrderRefunded,
            Seen::ByPartsShops(&[]),
        )?;
        Ok(())
    })
}
