//! Moving each seller's money: converging what reached a part's connected
//! account (transfers net of reversals) on what its seller is owed (the seller
//! amount fixed at payment, less what refunds and disputes took back, plus what
//! won disputes gave back).
//!
//! Each step writes one movement as `pending` in a write transaction (at most
//! one per part: a partial unique index), then calls the provider with the
//! movement's id as the idempotency key, then records the answer. A crash or
//! a timeout in between leaves the movement pending, and the next attempt
//! repeats the very same call, which the provider answers from its idempotency
//! store: money is never moved twice and never forgotten.

use diesel::prelude::*;

use super::books;
use super::model::OrderStatus;
use super::schema::{order_parts, part_movements};
use super::store::{self, new_id, part_balance, MovementRow, PartRow};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::ledger;
use crate::money::{Currency, Money};
use crate::payments::{IdempotencyKey, NewTransfer, Provider, ProviderError};
use crate::sellers::shops;

/// Most movements one settlement pass writes for one part (a transfer, or a
/// reversal spread over a few transfers): a bound, not an expected count.
const STEPS_PER_PART_MAX: usize = 8;

/// Why a shop's share cannot move now, if it cannot.
pub(crate) fn hold_reason(shop: &shops::Shop) -> Option<String> {
    if shop.frozen {
        Some("shop_frozen".into())
    } else if !shop.can_sell() || shop.provider_account_id.is_none() {
        Some(format!("shop_{}", shop.status()))
    } else {
        None
    }
}

/// What the provider must be asked next for a part.
#[derive(Debug, Clone)]
struct Call {
    movement: MovementRow,
    currency: Currency,
    order_id: String,
    /// Transfer: the shop's connected account; reversal: unused.
    destination: String,
    /// The charge the transfer spends (so it cannot run ahead of the funds).
    charge_id: Option<String>,
    /// Reversal: the provider's id of the transfer taken back from.
    transfer_id: Option<String>,
}

enum Step {
    Settled,
    Held,
    Call(Box<Call>),
}

fn set_part(
    conn: &mut DbConnection,
    part_id: &str,
    hold: Option<&str>,
    needs_settlement: bool,
) -> Result<(), AppError> {
    diesel::update(order_parts::table.find(part_id))
        .set((
            order_parts::hold_reason.eq(hold),
            order_parts::needs_settlement.eq(needs_settlement),
            order_parts::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

fn movements_of(conn: &mut DbConnection, part_id: &str) -> Result<Vec<MovementRow>, AppError> {
    Ok(part_movements::table
        .filter(part_movements::part_id.eq(part_id))
        .order((part_movements::created_at.asc(), part_movements::id.asc()))
        .select(MovementRow::as_select())
        .load(conn)?)
}

/// Decides the part's next movement, writing it as pending.
fn next_step(conn: &mut DbConnection, part_id: &str) -> Result<Step, AppError> {
    db::write_transaction(conn, |conn| {
        // Two settlements of one part (the request's and an event's) must not
        // both decide from what they read before either wrote: on PostgreSQL
        // the second would see no movement yet, and by the time it inserts
        // its own the first one's may no longer be pending — the same share
        // sent twice. Locking the part makes the second wait and read what
        // the first wrote; SQLite's `BEGIN IMMEDIATE` already does.
        if let DbConnection::Postgresql(pg) = conn {
            diesel::sql_query("SELECT id FROM order_parts WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>(part_id)
                .execute(pg)?;
        }
        let part: PartRow = order_parts::table
            .find(part_id)
            .select(PartRow::as_select())
            .first(conn)?;
        let order =
            store::find_order_row(conn, &part.order_id)?.ok_or_else(store::order_not_found)?;
        if order.status != OrderStatus::Paid.as_str() {
            return Ok(Step::Settled);
        }
        let currency = Currency::parse(&order.currency)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("order {} currency", order.id)))?;
        let shop = shops::find_shop(conn, &part.shop_id)?
            .ok_or(AppError::NotFound { resource: "shop" })?;
        let movements = movements_of(conn, part_id)?;
        let call = |movement: MovementRow| {
            let transfer_id = movement.reverses_id.as_ref().and_then(|reversed| {
                movements
                    .iter()
                    .find(|m| &m.id == reversed)
                    .and_then(|m| m.provider_id.clone())
            });
            Step::Call(Box::new(Call {
                movement,
                currency,
                order_id: order.id.clone(),
                destination: shop.provider_account_id.clone().unwrap_or_default(),
                charge_id: order.charge_id.clone(),
                transfer_id,
            }))
        };
        if let Some(pending) = movements.iter().find(|m| m.status == "pending") {
            return Ok(call(pending.clone()));
        }
        let recoveries = super::schema::part_recoveries::table
            .filter(super::schema::part_recoveries::part_id.eq(part_id))
            .select(store::RecoveryRow::as_select())
            .load(conn)?;
        let balance = part_balance(&part, &recoveries, &movements);
        let delta = balance.target() - balance.transferred;
        let now = db::now();
        let mut movement = MovementRow {
            id: new_id("mvt"),
            part_id: part_id.to_owned(),
            kind: String::new(),
            amount_minor: 0,
            reverses_id: None,
            status: "pending".into(),
            provider_id: None,
            failure_message: None,
            created_at: now,
            updated_at: now,
        };
        if delta == 0 {
            set_part(conn, part_id, None, false)?;
            return Ok(Step::Settled);
        }
        // A refund sent but not confirmed yet already took its money out of
        // the charge at the provider, while what it takes from the seller is
        // booked only on success: a transfer decided meanwhile must leave
        // room for it, or it would exceed what is left of the charge.
        let pending_refunds: i64 = super::schema::refund_parts::table
            .inner_join(super::schema::refunds::table)
            .filter(super::schema::refund_parts::part_id.eq(part_id))
            .filter(super::schema::refunds::status.eq("pending"))
            .select(super::schema::refund_parts::seller_portion_minor)
            .load::<i64>(conn)?
            .into_iter()
            .sum();
        let delta = if delta > 0 && pending_refunds > 0 {
            let room = (balance.owed - pending_refunds).max(0) - balance.transferred;
            if room <= 0 {
                // The refund's outcome marks the part again.
                set_part(conn, part_id, part.hold_reason.as_deref(), true)?;
                return Ok(Step::Held);
            }
            delta.min(room)
        } else {
            delta
        };
        if delta > 0 && part.released_at.is_none() {
            // Held on the platform until the part's release policy is met
            // (shipment, delivery): what refunds and disputes take meanwhile
            // comes out of the held share, and the release marks the part.
            set_part(conn, part_id, part.hold_reason.as_deref(), false)?;
            return Ok(Step::Held);
        }
        if delta > 0 {
            let refused_since_shop_changed = part
                .hold_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("transfer_refused"))
                && movements
                    .iter()
                    .rev()
                    .find(|m| m.status == "failed")
                    .is_some_and(|m| m.updated_at >= shop.updated_at);
            if refused_since_shop_changed {
                return Ok(Step::Held);
            }
            if let Some(reason) = hold_reason(&shop) {
                set_part(conn, part_id, Some(&reason), true)?;
                return Ok(Step::Held);
            }
            movement.kind = "transfer".into();
            movement.amount_minor = delta;
        } else {
            // Take back from the latest transfer that still has something to give.
            let needed = -delta;
            let reversed_from = |transfer: &MovementRow| -> i64 {
                movements
                    .iter()
                    .filter(|m| m.kind == "reversal" && m.status == "succeeded")
                    .filter(|m| m.reverses_id.as_deref() == Some(transfer.id.as_str()))
                    .map(|m| m.amount_minor)
                    .sum()
            };
            let source = movements
                .iter()
                .rev()
                .filter(|m| m.kind == "transfer" && m.status == "succeeded")
                .map(|m| (m, m.amount_minor - reversed_from(m)))
                .find(|(_, left)| *left > 0);
            let Some((transfer, left)) = source else {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "part {part_id}: {needed} to reverse and no transfer to reverse it from"
                )));
            };
            movement.kind = "reversal".into();
            movement.amount_minor = needed.min(left);
            movement.reverses_id = Some(transfer.id.clone());
        }
        assert!(movement.amount_minor > 0, "a movement moves money");
        diesel::insert_into(part_movements::table)
            .values(&movement)
            .execute(conn)?;
        set_part(conn, part_id, None, true)?;
        Ok(call(movement))
    })
}

/// Records the provider's answer on a pending movement.
fn finish(
    conn: &mut DbConnection,
    movement: &MovementRow,
    outcome: Result<Confirmed, String>,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let pending = part_movements::table
            .find(&movement.id)
            .filter(part_movements::status.eq("pending"));
        match &outcome {
            Ok(confirmed) => {
                let updated = diesel::update(pending)
                    .set((
                        part_movements::status.eq("succeeded"),
                        part_movements::provider_id.eq(&confirmed.provider_id),
                        part_movements::destination_ref.eq(&confirmed.destination_ref),
                        part_movements::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                if updated == 1 {
                    let (shop_id, currency): (String, String) = order_parts::table
                        .inner_join(super::schema::orders::table)
                        .filter(order_parts::id.eq(&movement.part_id))
                        .select((order_parts::shop_id, super::schema::orders::currency))
                        .first(conn)?;
                    let currency = Currency::parse(&currency).map_err(|_| {
                        AppError::Internal(anyhow::anyhow!("part {} currency", movement.part_id))
                    })?;
                    let amount = Money::new(movement.amount_minor, currency);
                    ledger::post(
                        conn,
                        &books::movement(
                            &books::Movement {
                                id: &movement.id,
                                kind: &movement.kind,
                                shop_id: &shop_id,
                                provider_id: &confirmed.provider_id,
                                destination_ref: confirmed.destination_ref.as_deref(),
                            },
                            amount,
                        ),
                    )?;
                    let order_id: String = order_parts::table
                        .find(&movement.part_id)
                        .select(order_parts::order_id)
                        .first(conn)?;
                    super::events::emit_movement(
                        conn,
                        &order_id,
                        movement,
                        &confirmed.provider_id,
                    )?;
                }
            }
            Err(message) => {
                diesel::update(pending)
                    .set((
                        part_movements::status.eq("failed"),
                        part_movements::failure_message.eq(message),
                        part_movements::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                let reason = format!("transfer_refused: {message}");
                let reason: String = reason.chars().take(300).collect();
                set_part(conn, &movement.part_id, Some(&reason), true)?;
            }
        }
        Ok(())
    })
}

/// What the provider made of a movement: its transfer or reversal, and the
/// payment or refund of it on the connected account.
struct Confirmed {
    provider_id: String,
    destination_ref: Option<String>,
}

async fn call_provider(provider: &dyn Provider, call: &Call) -> Result<Confirmed, ProviderError> {
    let m = &call.movement;
    let metadata = [
        ("order_id".to_owned(), call.order_id.clone()),
        ("part_id".to_owned(), m.part_id.clone()),
        ("movement_id".to_owned(), m.id.clone()),
    ]
    .into();
    if m.kind == "transfer" {
        let transfer = provider
            .create_transfer(
                &NewTransfer {
                    amount: Money::new(m.amount_minor, call.currency),
                    destination: call.destination.clone(),
                    source_transaction: call.charge_id.clone(),
                    transfer_group: Some(call.order_id.clone()),
                    metadata,
                },
                &IdempotencyKey::derive("transfer", &m.id),
            )
            .await?;
        assert_eq!(
            transfer.amount.minor, m.amount_minor,
            "the provider moved what we asked"
        );
        Ok(Confirmed {
            provider_id: transfer.id,
            destination_ref: transfer.destination_payment,
        })
    } else {
        let transfer_id = call
            .transfer_id
            .as_deref()
            .ok_or_else(|| ProviderError::Unexpected {
                message: format!("reversal {} names no succeeded transfer", m.id),
            })?;
        let reversal = provider
            .reverse_transfer(
                transfer_id,
                m.amount_minor,
                &metadata,
                &IdempotencyKey::derive("reversal", &m.id),
            )
            .await?;
        Ok(Confirmed {
            provider_id: reversal.id,
            destination_ref: reversal.destination_payment_refund,
        })
    }
}

/// Brings one part's transfers in line with what its seller is owed.
///
/// # Errors
/// The provider is unreachable (the movement stays pending; the sweep
/// repeats it) or the database failed.
#[tracing::instrument(skip(pool, provider))]
pub async fn settle_part(
    pool: &DbPool,
    provider: &dyn Provider,
    part_id: &str,
) -> Result<(), AppError> {
    for _ in 0..STEPS_PER_PART_MAX {
        let id = part_id.to_owned();
        let step = match db::run(pool, move |conn| next_step(conn, &id)).await {
            // Another process wrote this part's pending movement first: take it up.
            Err(AppError::Conflict { .. }) => continue,
            other => other?,
        };
        let call = match step {
            Step::Settled | Step::Held => return Ok(()),
            Step::Call(call) => call,
        };
        let outcome = match call_provider(provider, &call).await {
            Ok(confirmed) => Ok(confirmed),
            Err(error) if error.is_transient() => return Err(error.into()),
            Err(error) => {
                tracing::warn!(%error, part_id, movement = call.movement.id, "provider refused a movement; part held");
                Err(error.to_string())
            }
        };
        let refused = outcome.is_err();
        db::run(pool, move |conn| finish(conn, &call.movement, outcome)).await?;
        if refused {
            return Ok(());
        }
    }
    Ok(())
}

/// Settles every part of an order; returns the first error after trying all.
///
/// # Errors
/// As [`settle_part`].
pub async fn settle_order(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
) -> Result<(), AppError> {
    let id = order_id.to_owned();
    let parts = db::run(pool, move |conn| store::parts_of(conn, &id)).await?;
    // A part not marked has nothing to move: whatever changes what its seller
    // is owed (payment, refund, dispute) marks it in the same transaction, and
    // it stays marked while a movement is pending or held. Every provider
    // event about an order drives this, several per order, and looking at a
    // settled part cost a write transaction.
    //
    // The parts pay different sellers, each under its own movement keys:
    // their provider calls overlap instead of queueing one after another.
    let settled = futures_util::future::join_all(
        parts
            .iter()
            .filter(|part| part.needs_settlement)
            .map(|part| async move {
                let settled = settle_part(pool, provider, &part.id).await;
                if let Err(error) = &settled {
                    tracing::warn!(%error, part_id = part.id, "part not settled yet; the sweep retries");
                }
                settled
            }),
    )
    .await;
    settled
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}

/// Settles up to `limit` parts marked as needing it; returns how many were
/// looked at and the first error met.
pub async fn settle_due(
    pool: &DbPool,
    provider: &dyn Provider,
    limit: i64,
) -> (usize, Option<AppError>) {
    let listed = db::run(pool, move |conn| {
        Ok(order_parts::table
            .filter(order_parts::needs_settlement.eq(true))
            .select(order_parts::id)
            .order(order_parts::updated_at.asc())
            .limit(limit)
            .load(conn)?)
    })
    .await;
    super::sweep_each::each_id(listed, |id| async move {
        settle_part(pool, provider, &id).await
    })
    .await
}
