//! The order's payment: applying a PaymentIntent's state (from a webhook, a
//! sync, or checkout's own confirmation), and expiring orders nobody paid.
//!
//! Every function here is safe to call twice, late, or out of order: each
//! change is a conditional update from the state it expects.

use diesel::prelude::*;

use super::events::Seen;
use super::model::OrderStatus;
use super::schema::{order_parts, orders};
use super::store::{self, OrderRow};
use super::{books, release_order_stock, settlement, split};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::ledger;
use crate::money::{Currency, Money};
use crate::payments::{
    IdempotencyKey, NewRefund, PaymentIntent, PaymentStatus, Provider, ProviderError,
};
use crate::sellers::shops;

/// The provider's name of a PaymentIntent status, as stored on the order.
pub fn status_name(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::RequiresPaymentMethod => "requires_payment_method",
        PaymentStatus::RequiresConfirmation => "requires_confirmation",
        PaymentStatus::RequiresAction => "requires_action",
        PaymentStatus::Processing => "processing",
        PaymentStatus::RequiresCapture => "requires_capture",
        PaymentStatus::Canceled => "canceled",
        PaymentStatus::Succeeded => "succeeded",
    }
}

/// The order a PaymentIntent belongs to: by its recorded intent id, else by
/// the order id in the intent's metadata (a crash can come between creating
/// the intent and recording it).
fn order_of_intent(
    conn: &mut DbConnection,
    intent: &PaymentIntent,
) -> Result<Option<OrderRow>, AppError> {
    let by_intent: Option<String> = orders::table
        .filter(orders::payment_intent_id.eq(&intent.id))
        .select(orders::id)
        .first(conn)
        .optional()?;
    let id = by_intent.or_else(|| intent.metadata.get("order_id").cloned());
    let Some(id) = id else {
        return Ok(None);
    };
    let order = store::find_order_row(conn, &id)?;
    Ok(order.filter(|o| {
        o.payment_intent_id
            .as_deref()
            .is_none_or(|pi| pi == intent.id)
    }))
}

enum Applied {
    /// Nothing (more) to do.
    Nothing,
    /// The order became paid: route the shares.
    Paid(String),
    /// The money arrived for an order that no longer exists as unpaid.
    LatePayment(Box<OrderRow>),
}

/// Marks the order paid: splits the provider's fee over the parts and fixes
/// what each seller is owed.
fn mark_paid(
    conn: &mut DbConnection,
    order: &OrderRow,
    intent: &PaymentIntent,
    charge_id: &str,
    processing_fee: i64,
) -> Result<bool, AppError> {
    let now = db::now();
    let updated = diesel::update(
        orders::table
            .find(&order.id)
            .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str())),
    )
    .set((
        orders::status.eq(OrderStatus::Paid.as_str()),
        orders::payment_intent_id.eq(&intent.id),
        orders::payment_status.eq(status_name(intent.status)),
        orders::last_payment_error.eq(None::<String>),
        orders::charge_id.eq(charge_id),
        orders::processing_fee_minor.eq(processing_fee),
        orders::paid_at.eq(now),
        orders::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    let currency = Currency::parse(&order.currency)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("order {} currency", order.id)))?;
    let parts = store::parts_of(conn, &order.id)?;
    let subtotals: Vec<i64> = parts.iter().map(|p| p.subtotal_minor).collect();
    let mut allocations = Vec::with_capacity(parts.len());
    let shares = split::processing_fee_shares(processing_fee, &subtotals)?;
    assert_eq!(shares.iter().sum::<i64>(), processing_fee);
    for (part, share) in parts.iter().zip(shares) {
        let mut seller_amount = part.subtotal_minor - part.fee_minor;
        if part.processing_fee_payer == "seller" {
            // A seller never owes more than its part brought in.
            seller_amount = (seller_amount - share).max(0);
        }
        assert!((0..=part.subtotal_minor).contains(&seller_amount));
        allocations.push(books::PartAllocation {
            shop_id: &part.shop_id,
            subtotal: part.subtotal_minor,
            fee: part.fee_minor,
            seller_amount,
        });
        let shop = shops::find_shop(conn, &part.shop_id)?
            .ok_or(AppError::NotFound { resource: "shop" })?;
        // The ship-by deadline runs from payment; a share paid out on
        // payment is released now, any other waits for its parcel.
        let ship_by = now + chrono::Duration::days(i64::from(part.handling_days));
        let released_at = (part.release_policy == crate::config::ReleasePolicy::OnPayment.as_str())
            .then_some(now);
        diesel::update(order_parts::table.find(&part.id))
            .set((
                order_parts::processing_fee_minor.eq(share),
                order_parts::seller_amount_minor.eq(seller_amount),
                order_parts::hold_reason.eq(settlement::hold_reason(&shop)),
                order_parts::needs_settlement.eq(true),
                order_parts::ship_by.eq(ship_by),
                order_parts::released_at.eq(released_at),
                order_parts::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let gross = Money::new(order.total_minor, currency);
    ledger::post(
        conn,
        &books::charge_captured(charge_id, &order.id, gross, processing_fee),
    )?;
    ledger::post(
        conn,
        &books::order_allocated(&order.id, currency, &allocations),
    )?;
    super::emails::order_paid(conn, &order.id)?;
    super::events::emit_order(conn, &order.id, EventType::OrderPaid, Seen::ByEveryShop)?;
    Ok(true)
}

fn record_status(
    conn: &mut DbConnection,
    order_id: &str,
    intent: &PaymentIntent,
) -> Result<(), AppError> {
    diesel::update(orders::table.find(order_id))
        .set((
            orders::payment_intent_id.eq(&intent.id),
            orders::payment_status.eq(status_name(intent.status)),
            orders::last_payment_error.eq(&intent.last_error),
            orders::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies a PaymentIntent's current state to its order: succeeded → paid and
/// the sellers' shares routed; failed → the error recorded, the order still
/// waiting; cancelled → the order expired. Idempotent. A payment that
/// succeeds for an order already expired or cancelled is refunded in full.
///
/// # Errors
/// 404 when no order has this intent; provider errors (the caller, or the
/// next sweep or event, tries again).
#[tracing::instrument(skip(pool, provider, intent), fields(intent = %intent.id))]
pub async fn apply_intent(
    pool: &DbPool,
    provider: &dyn Provider,
    intent: &PaymentIntent,
) -> Result<(), AppError> {
    if intent.status == PaymentStatus::Succeeded && intent.latest_charge.is_some() {
        // Most calls are repeats (the intent's and the charge's events after
        // checkout paid the order): an order already paid by this intent needs
        // no charge fetched and no transaction, only its settlement driven.
        let id = intent.id.clone();
        let paid: Option<String> = db::run(pool, move |conn| {
            Ok(orders::table
                .filter(orders::payment_intent_id.eq(&id))
                .filter(orders::status.eq(OrderStatus::Paid.as_str()))
                .select(orders::id)
                .first(conn)
                .optional()?)
        })
        .await?;
        if let Some(order_id) = paid {
            return settlement::settle_order(pool, provider, &order_id).await;
        }
    }
    let (charge_id, processing_fee) = match (intent.status, &intent.latest_charge) {
        (PaymentStatus::Succeeded, Some(charge_id)) => {
            let charge = provider.retrieve_charge(charge_id).await?;
            let fee = charge
                .balance_transaction
                .as_ref()
                .map(|txn| txn.fee)
                .ok_or_else(|| AppError::Unavailable {
                    message: format!("charge {charge_id} has no balance transaction yet"),
                })?;
            (Some(charge_id.clone()), fee)
        }
        (PaymentStatus::Succeeded, None) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "succeeded intent {} has no charge",
                intent.id
            )))
        }
        _ => (None, 0),
    };
    let captured = charge_id.clone().map(|charge| (charge, processing_fee));
    let applied = {
        let intent = intent.clone();
        db::run(pool, move |conn| {
            db::write_transaction(conn, |conn| {
                let order = order_of_intent(conn, &intent)?.ok_or(AppError::NotFound {
                    resource: "order for this payment",
                })?;
                let status = OrderStatus::parse(&order.status).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("order {} status", order.id))
                })?;
                match (intent.status, status, charge_id.as_deref()) {
                    (PaymentStatus::Succeeded, OrderStatus::AwaitingPayment, Some(charge)) => {
                        mark_paid(conn, &order, &intent, charge, processing_fee)?;
                        Ok(Applied::Paid(order.id))
                    }
                    // Already paid: a repeated event still drives any unfinished settlement.
                    (PaymentStatus::Succeeded, OrderStatus::Paid, _) => Ok(Applied::Paid(order.id)),
                    (PaymentStatus::Succeeded, _, _) => Ok(Applied::LatePayment(Box::new(order))),
                    (PaymentStatus::Canceled, OrderStatus::AwaitingPayment, _) => {
                        expire(conn, &order.id, "payment_canceled")?;
                        Ok(Applied::Nothing)
                    }
                    (_, OrderStatus::AwaitingPayment, _) => {
                        record_status(conn, &order.id, &intent)?;
                        Ok(Applied::Nothing)
                    }
                    _ => Ok(Applied::Nothing),
                }
            })
        })
        .await?
    };
    match applied {
        Applied::Nothing => Ok(()),
        Applied::Paid(order_id) => settlement::settle_order(pool, provider, &order_id).await,
        Applied::LatePayment(order) => {
            let Some((charge_id, processing_fee)) = captured else {
                return Ok(());
            };
            refund_late_payment(pool, provider, &order, intent, &charge_id, processing_fee).await
        }
    }
}

/// Gives the buyer back a payment that arrived after its order expired.
async fn refund_late_payment(
    pool: &DbPool,
    provider: &dyn Provider,
    order: &OrderRow,
    intent: &PaymentIntent,
    charge_id: &str,
    processing_fee: i64,
) -> Result<(), AppError> {
    if order.late_payment_refund_id.is_some() {
        return Ok(());
    }
    tracing::warn!(
        order_id = order.id,
        "payment arrived after the order expired; refunding it"
    );
    let refund = provider
        .create_refund(
            &NewRefund {
                payment_intent: intent.id.clone(),
                amount: None,
                metadata: [("order_id".to_owned(), order.id.clone())].into(),
            },
            &IdempotencyKey::derive("late_payment_refund", &order.id),
        )
        .await?;
    let entry = books::late_payment_refunded(
        &order.id,
        charge_id,
        &refund.id,
        intent.amount,
        processing_fee,
    );
    let order_id = order.id.clone();
    let intent = intent.clone();
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            diesel::update(orders::table.find(&order_id))
                .set((
                    orders::late_payment_refund_id.eq(&refund.id),
                    orders::payment_intent_id.eq(&intent.id),
                    orders::payment_status.eq(status_name(intent.status)),
                    orders::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
            crate::ledger::post(conn, &entry)?;
            Ok(())
        })
    })
    .await
}

/// Expires an unpaid order: status, then its stock back. Does nothing to an
/// order that is no longer awaiting payment.
pub(crate) fn expire(
    conn: &mut DbConnection,
    order_id: &str,
    reason: &str,
) -> Result<bool, AppError> {
    db::write_transaction(conn, |conn| {
        let updated = diesel::update(
            orders::table
                .find(order_id)
                .filter(orders::status.eq(OrderStatus::AwaitingPayment.as_str())),
        )
        .set((
            orders::status.eq(OrderStatus::Expired.as_str()),
            orders::cancel_reason.eq(reason),
            orders::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
        if updated == 1 {
            release_order_stock(conn, order_id)?;
            super::events::emit_order(conn, order_id, EventType::OrderCanceled, Seen::ByEveryShop)?;
        }
        Ok(updated == 1)
    })
}

/// Expires one unpaid order past its deadline: cancels its PaymentIntent
/// first, so it can no longer be paid, then releases the stock. If the buyer
/// paid at the last moment, the order is marked paid instead. An intent the
/// provider does not know expires the order too, with the reason
/// [`UNKNOWN_INTENT`].
///
/// # Errors
/// The provider could not be reached (the next sweep tries again).
pub async fn expire_order(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
) -> Result<(), AppError> {
    let id = order_id.to_owned();
    let Some(order) = db::run(pool, move |conn| store::find_order_row(conn, &id)).await? else {
        return Err(store::order_not_found());
    };
    let mut reason = "unpaid";
    if let Some(intent_id) = &order.payment_intent_id {
        let key = IdempotencyKey::derive("cancel_payment_intent", order_id);
        match provider.cancel_payment_intent(intent_id, &key).await {
            Ok(_) => {}
            Err(error) if error.is_transient() => return Err(error.into()),
            // The provider does not know the intent (any more): nobody can
            // pay it, and waiting would hold the stock for good.
            Err(ProviderError::NotFound { .. }) => reason = unknown_intent(order_id, intent_id),
            Err(_) => {
                // Not cancellable: it succeeded (or is processing) meanwhile.
                match provider.retrieve_payment_intent(intent_id).await {
                    Ok(intent) if intent.status != PaymentStatus::Canceled => {
                        return apply_intent(pool, provider, &intent).await;
                    }
                    Ok(_) => {}
                    Err(ProviderError::NotFound { .. }) => {
                        reason = unknown_intent(order_id, intent_id);
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    let id = order_id.to_owned();
    db::run(pool, move |conn| expire(conn, &id, reason)).await?;
    Ok(())
}

/// The cancel reason of an order whose PaymentIntent the provider does not know.
pub const UNKNOWN_INTENT: &str = "payment_intent_unknown";

/// [`UNKNOWN_INTENT`], said in the log with the order and the intent.
fn unknown_intent(order_id: &str, intent_id: &str) -> &'static str {
    tracing::warn!(
        order_id,
        intent_id,
        "the provider does not know this order's PaymentIntent; order expired"
    );
    UNKNOWN_INTENT
}

/// Expires every unpaid order whose deadline passed by `now` (at most `limit`);
/// returns how many were looked at and the first error met.
pub async fn expire_due(
    pool: &DbPool,
    provider: &dyn Provider,
    now: chrono::NaiveDateTime,
    limit: i64,
) -> (usize, Option<AppError>) {
    let listed = db::run(pool, move |conn| {
        store::ids_where_status(conn, OrderStatus::AwaitingPayment, Some(now), limit)
    })
    .await;
    super::sweep_each::each_id_logged(listed, "order not expired yet", |id| async move {
        expire_order(pool, provider, &id).await
    })
    .await
}
