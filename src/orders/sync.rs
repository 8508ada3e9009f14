//! Asking the provider again, on demand: an order's payment and settlement
//! (the remedy for a missed webhook), and a dispute's state. Behind
//! `POST /v1/orders/{id}/sync`, `POST /v1/disputes/{id}/sync` and the
//! console's buttons alike; a staff member's sync is audited with what it
//! changed.

use super::model::{OrderStatus, OrderView};
use super::{checkout, disputes, payment, settlement, store};
use crate::auth::{record_audit, AuditEntry, Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::payments::Provider;

/// Longest provider dispute id accepted (`dp_…`).
const DISPUTE_ID_CHARS_MAX: usize = 64;

/// Reads the order's PaymentIntent at the provider and applies it, then
/// settles the parts of a paid order; the order as it is afterwards.
/// Staff syncs write the `order.sync` audit row (after the fact: the sync
/// is several transactions) with the status, settlements and disputes
/// before and after.
///
/// # Errors
/// 404 when `caller` may not see the order (not its buyer, not staff); the
/// provider's and the database's failures.
#[tracing::instrument(skip(pool, provider, caller, context))]
pub async fn sync_order(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    caller: &Caller,
    context: &RequestContext,
) -> Result<OrderView, AppError> {
    let (viewer, staff) = (caller.user_id.0.clone(), caller.role.is_staff());
    let order = {
        let id = order_id.to_owned();
        db::run(pool, move |conn| {
            Ok(store::order_for(conn, &id, &viewer, staff)?.order)
        })
        .await?
    };
    let before = if staff {
        Some(sync_state(&checkout::view(pool, order_id).await?))
    } else {
        None
    };
    if let Some(intent_id) = &order.payment_intent_id {
        let intent = provider.retrieve_payment_intent(intent_id).await?;
        payment::apply_intent(pool, provider, &intent).await?;
    }
    if order.status == OrderStatus::Paid.as_str() {
        settlement::settle_order(pool, provider, order_id).await?;
    }
    let view = checkout::view(pool, order_id).await?;
    if let Some(before) = before {
        let entry = AuditEntry::new("order.sync", order_id)
            .actor(&caller.user_id)
            .context(context)
            .before(before)
            .after(sync_state(&view));
        db::run(pool, move |conn| record_audit(conn, entry)).await?;
    }
    Ok(view)
}

/// What an order sync can change: the order's status and each part's
/// settlement and dispute.
fn sync_state(view: &OrderView) -> serde_json::Value {
    serde_json::json!({
        "status": view.status,
        "settlements": view.parts.iter().map(|p| (p.id.as_str(), p.settlement.status)).collect::<std::collections::BTreeMap<_, _>>(),
        "disputes": view.disputes.iter().map(|d| (d.id.as_str(), d.outcome.as_str())).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// Reads the dispute at the provider and applies it, writing the
/// `dispute.sync` audit row with `caller` as its actor and the dispute's
/// state before and after.
///
/// # Errors
/// 404 for an id that cannot be a provider dispute id; the provider's and
/// the database's failures.
#[tracing::instrument(skip(pool, provider, caller, context))]
pub async fn sync_dispute(
    pool: &DbPool,
    provider: &dyn Provider,
    dispute_id: &str,
    caller: &Caller,
    context: &RequestContext,
) -> Result<(), AppError> {
    let valid = dispute_id.starts_with("dp_")
        && dispute_id.len() <= DISPUTE_ID_CHARS_MAX
        && dispute_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(AppError::NotFound {
            resource: "dispute",
        });
    }
    let state = |id: String| async move {
        db::run(pool, move |conn| {
            Ok(disputes::local_state(conn, &id)?.map_or(
                serde_json::Value::Null,
                |(status, outcome)| serde_json::json!({ "provider_status": status, "outcome": outcome }),
            ))
        })
        .await
    };
    let before = state(dispute_id.to_owned()).await?;
    disputes::sync_dispute(pool, provider, dispute_id).await?;
    let entry = AuditEntry::new("dispute.sync", dispute_id)
        .actor(&caller.user_id)
        .context(context)
        .before(before)
        .after(state(dispute_id.to_owned()).await?);
    db::run(pool, move |conn| record_audit(conn, entry)).await
}
