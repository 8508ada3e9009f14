//! A buyer pays for an order that awaits payment: the order's PaymentIntent is
//! confirmed with a payment method — a first try, or another card after a
//! decline — and what the provider answers is applied at once, as the
//! webhook that follows would.

pub use super::model::{parse_payment_method, PAYMENT_METHOD_CHARS_MAX};
use super::model::{OrderStatus, OrderView};
use super::{payment, store};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::payments::{IdempotencyKey, PaymentStatus, Provider, ProviderError};

/// Confirms the order's PaymentIntent with `payment_method` for its buyer.
/// Each attempt carries its own idempotency key (`attempt`, from the client),
/// so a retried request is one attempt and a new card is another.
///
/// An order already paid is answered as it is (a double-submitted payment
/// form pays once).
///
/// # Errors
/// 404 for an order that is not the buyer's; 409 `order_not_payable` when it
/// was cancelled or expired; 402 `card_declined` (the order keeps waiting, its
/// `payment.last_error` says why); the provider's other errors.
#[tracing::instrument(skip(pool, provider), fields(order = %order_id))]
pub async fn pay(
    pool: &DbPool,
    provider: &dyn Provider,
    buyer_user_id: &str,
    order_id: &str,
    payment_method: &str,
    attempt: &str,
) -> Result<OrderView, AppError> {
    let record = {
        let (id, buyer) = (order_id.to_owned(), buyer_user_id.to_owned());
        db::run(pool, move |conn| store::order_for(conn, &id, &buyer, false)).await?
    };
    let mut order = record.view()?;
    if order.status == OrderStatus::AwaitingPayment && order.payment.intent_id.is_none() {
        // Its checkout died before the PaymentIntent was recorded: finish it
        // now rather than make the buyer wait for the sweep.
        super::checkout::finish_checkout(pool, provider, order_id).await?;
        order = super::checkout::view(pool, order_id).await?;
    }
    match order.status {
        OrderStatus::AwaitingPayment => {}
        OrderStatus::Paid => return Ok(order),
        OrderStatus::Expired | OrderStatus::Canceled => {
            return Err(AppError::Conflict {
                code: "order_not_payable",
                message: format!(
                    "order {} is {} and can no longer be paid; check out again",
                    order.id,
                    order.status.as_str()
                ),
            })
        }
    }
    let Some(intent_id) = order.payment.intent_id.clone() else {
        return Err(AppError::Conflict {
            code: "order_not_payable",
            message: "this order has no payment yet; try again in a moment".into(),
        });
    };
    let key = IdempotencyKey::derive("confirm", &format!("{order_id}:{attempt}"));
    let confirmed = provider
        .confirm_payment_intent(&intent_id, payment_method, &key)
        .await;
    let intent = match confirmed {
        Ok(intent) => intent,
        Err(ProviderError::CardDeclined { message, .. }) => {
            // The intent records the decline; the order shows it and waits.
            let intent = provider.retrieve_payment_intent(&intent_id).await?;
            payment::apply_intent(pool, provider, &intent).await?;
            return Err(AppError::PaymentDeclined { message });
        }
        Err(error) => return Err(error.into()),
    };
    if intent.status == PaymentStatus::Succeeded || intent.last_error.is_some() {
        payment::apply_intent(pool, provider, &intent).await?;
    }
    super::checkout::view(pool, order_id).await
}
