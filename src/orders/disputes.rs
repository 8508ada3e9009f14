//! Disputes (chargebacks) of an order's charge. When one opens, the provider
//! takes the disputed amount (and its fee) from the platform; the sellers of
//! the order give back their share of it in proportion to what each holds, by
//! their parts' settlement (transfer reversals). The dispute fee is borne by
//! the platform, or recovered from the sellers of parts whose fee rule makes
//! the seller bear the provider's fees — first, then the seller's share of the
//! disputed amount, both within what the seller held before the dispute
//! ([`split::seller_dispute_shares`]). A won dispute gives it all back.
//!
//! Applying a dispute is idempotent and order-free: each recovery is keyed by
//! (part, cause, dispute id), and the outcome only moves from open to won/lost.

use diesel::prelude::*;

use super::events::{self, Seen};
use super::model::OrderStatus;
use super::schema::{disputes, order_parts, orders, part_recoveries};
use super::split::{self, PartAmounts};
use super::store::{self, part_balance, DisputeRow, OrderRecord, RecoveryRow};
use super::{books, settlement};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::ledger;
use crate::money::allocate;
use crate::money::Money;
use crate::payments::{Dispute, Provider};

fn insert_recovery(
    conn: &mut DbConnection,
    part_id: &str,
    kind: &str,
    dispute_id: &str,
    seller_minor: i64,
) -> Result<(), AppError> {
    if seller_minor == 0 {
        return Ok(());
    }
    diesel::insert_into(part_recoveries::table)
        .values(&RecoveryRow {
            part_id: part_id.to_owned(),
            cause_kind: kind.to_owned(),
            cause_id: dispute_id.to_owned(),
            seller_minor,
            created_at: db::now(),
        })
        .execute(conn)?;
    diesel::update(order_parts::table.find(part_id))
        .set((
            order_parts::needs_settlement.eq(true),
            order_parts::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

fn recovered_for(record: &OrderRecord, part_id: &str, kind: &str, dispute_id: &str) -> Option<i64> {
    record
        .recoveries
        .iter()
        .find(|r| r.part_id == part_id && r.cause_kind == kind && r.cause_id == dispute_id)
        .map(|r| r.seller_minor)
}

/// Takes the disputed amount (and the fee, by policy) back from the sellers,
/// once per dispute.
fn recover(
    conn: &mut DbConnection,
    record: &OrderRecord,
    dispute: &Dispute,
) -> Result<(), AppError> {
    let already = record
        .recoveries
        .iter()
        .any(|r| r.cause_id == dispute.id && r.cause_kind.starts_with("dispute"));
    if already {
        return Ok(());
    }
    let amounts: Vec<PartAmounts> = record
        .parts
        .iter()
        .map(|p| PartAmounts {
            subtotal: p.subtotal_minor,
            seller_amount: p.seller_amount_minor,
            refunded: p.refunded_minor,
        })
        .collect();
    let holds: Vec<i64> = record
        .parts
        .iter()
        .map(|p| {
            part_balance(p, &record.recoveries, &record.movements)
                .owed
                .max(0)
        })
        .collect();
    if amounts.iter().all(|a| a.subtotal == a.refunded) {
        return Ok(());
    }
    let disputed = dispute
        .amount
        .minor
        .min(record.order.total_minor - record.order.refunded_minor);
    let pieces = split::dispute_pieces(disputed, &amounts, &holds)?;
    let piece_weights: Vec<u64> = pieces
        .iter()
        .map(|(piece, _)| piece.unsigned_abs())
        .collect();
    let fee_pieces = if dispute.fee > 0 && piece_weights.iter().any(|w| *w > 0) {
        allocate(dispute.fee, &piece_weights)?
    } else {
        vec![0; pieces.len()]
    };
    for (((part, (_, seller)), fee_piece), held) in record
        .parts
        .iter()
        .zip(&pieces)
        .zip(&fee_pieces)
        .zip(&holds)
    {
        let (amount_share, fee_share) = split::seller_dispute_shares(
            *seller,
            *fee_piece,
            *held,
            part.processing_fee_payer == "seller",
        );
        insert_recovery(conn, &part.id, "dispute", &dispute.id, amount_share)?;
        insert_recovery(conn, &part.id, "dispute_fee", &dispute.id, fee_share)?;
    }
    Ok(())
}

/// Gives the sellers back what this dispute took, once.
fn return_recovered(
    conn: &mut DbConnection,
    record: &OrderRecord,
    dispute_id: &str,
) -> Result<(), AppError> {
    for part in &record.parts {
        if recovered_for(record, &part.id, "dispute_won", dispute_id).is_some() {
            continue;
        }
        let taken = recovered_for(record, &part.id, "dispute", dispute_id).unwrap_or(0)
            + recovered_for(record, &part.id, "dispute_fee", dispute_id).unwrap_or(0);
        insert_recovery(conn, &part.id, "dispute_won", dispute_id, -taken)?;
    }
    Ok(())
}

/// The ledger entries of a dispute so far (each posted once, by its cause).
fn post_dispute(
    conn: &mut DbConnection,
    record: &OrderRecord,
    dispute: &Dispute,
    outcome: &str,
) -> Result<(), AppError> {
    let parts: Vec<books::DisputedPart<'_>> = record
        .parts
        .iter()
        .map(|part| books::DisputedPart {
            shop_id: &part.shop_id,
            amount: recovered_for(record, &part.id, "dispute", &dispute.id).unwrap_or(0),
            fee: recovered_for(record, &part.id, "dispute_fee", &dispute.id).unwrap_or(0),
        })
        .collect();
    ledger::post(
        conn,
        &books::dispute_opened(&dispute.id, dispute.amount, &parts),
    )?;
    if dispute.fee > 0 {
        let fee = Money::new(dispute.fee, dispute.amount.currency);
        ledger::post(conn, &books::dispute_fee(&dispute.id, fee, &parts))?;
    }
    match outcome {
        "won" => ledger::post(
            conn,
            &books::dispute_won(&dispute.id, dispute.amount, dispute.fee_returned, &parts),
        )?,
        "lost" => {
            let recovered: i64 = parts.iter().map(|p| p.amount).sum();
            // Nothing lost when the sellers gave back the whole amount.
            recovered < dispute.amount.minor
                && ledger::post(
                    conn,
                    &books::dispute_lost(&dispute.id, dispute.amount, &parts),
                )?
        }
        _ => false,
    };
    Ok(())
}

/// The order whose charge is disputed.
fn order_of_dispute(
    conn: &mut DbConnection,
    dispute: &Dispute,
) -> Result<Option<String>, AppError> {
    let mut query = orders::table.select(orders::id).into_boxed();
    query = match &dispute.payment_intent {
        Some(intent) => query.filter(
            orders::charge_id
                .eq(dispute.charge.clone())
                .or(orders::payment_intent_id.eq(intent.clone())),
        ),
        None => query.filter(orders::charge_id.eq(dispute.charge.clone())),
    };
    Ok(query.first(conn).optional()?)
}

/// What applying a dispute came to.
enum Applied {
    /// Recorded on this order.
    Recorded(String),
    /// Its order is not marked paid yet (the dispute's event overtook the
    /// payment's); nothing was written. The order's PaymentIntent, if known.
    AwaitingPayment {
        order_id: String,
        intent_id: Option<String>,
    },
}

fn apply(conn: &mut DbConnection, dispute: &Dispute) -> Result<Applied, AppError> {
    db::write_transaction(conn, |conn| {
        // The dispute's events (created, funds withdrawn, updated, closed)
        // arrive together; each applies the whole dispute, one at a time.
        db::serialize_on(conn, &format!("dispute:{}", dispute.id))?;
        let order_id = order_of_dispute(conn, dispute)?.ok_or(AppError::NotFound {
            resource: "order for this dispute",
        })?;
        let record = store::load_order(conn, &order_id)?.ok_or_else(store::order_not_found)?;
        if record.status != OrderStatus::Paid {
            // What each seller gives back depends on what it is owed, fixed
            // when the order is paid.
            return Ok(Applied::AwaitingPayment {
                order_id,
                intent_id: record.order.payment_intent_id.clone(),
            });
        }
        let now = db::now();
        let stored = record.disputes.iter().find(|d| d.id == dispute.id);
        let was_decided = stored.is_some_and(|d| matches!(d.outcome.as_str(), "won" | "lost"));
        let outcome = match stored.map(|d| d.outcome.as_str()) {
            // A decided dispute stays decided, whatever stale event comes later.
            Some(decided @ ("won" | "lost")) => decided,
            _ if dispute.is_won() => "won",
            _ if dispute.is_lost() => "lost",
            _ => "open",
        };
        let first_recorded = stored.is_none();
        match stored {
            None => {
                diesel::insert_into(disputes::table)
                    .values(&DisputeRow {
                        id: dispute.id.clone(),
                        order_id: order_id.clone(),
                        charge_id: dispute.charge.clone(),
                        amount_minor: dispute.amount.minor,
                        fee_minor: dispute.fee,
                        provider_status: dispute.status.clone(),
                        outcome: outcome.to_owned(),
                        created_at: now,
                        updated_at: now,
                        evidence_due_by: dispute.evidence_due_by,
                    })
                    .execute(conn)?;
            }
            Some(_) => {
                diesel::update(disputes::table.find(&dispute.id))
                    .set((
                        disputes::provider_status.eq(&dispute.status),
                        disputes::fee_minor.eq(dispute.fee),
                        disputes::outcome.eq(outcome),
                        disputes::updated_at.eq(now),
                        disputes::evidence_due_by.eq(dispute.evidence_due_by),
                    ))
                    .execute(conn)?;
            }
        }
        // Funds leave the platform when a dispute opens, whatever its outcome later.
        recover(conn, &record, dispute)?;
        let record = store::load_order(conn, &order_id)?.ok_or_else(store::order_not_found)?;
        post_dispute(conn, &record, dispute, outcome)?;
        if outcome == "won" {
            return_recovered(conn, &record, &dispute.id)?;
        }
        let takes: Vec<super::emails::DisputeTake<'_>> = record
            .parts
            .iter()
            .map(|part| super::emails::DisputeTake {
                part_id: &part.id,
                shop_id: &part.shop_id,
                amount_minor: recovered_for(&record, &part.id, "dispute", &dispute.id).unwrap_or(0),
                fee_minor: recovered_for(&record, &part.id, "dispute_fee", &dispute.id)
                    .unwrap_or(0),
            })
            .collect();
        super::emails::dispute_changed(
            conn,
            &order_id,
            &dispute.id,
            dispute.amount,
            outcome,
            &takes,
        )?;
        // Each dispute opens once and closes once, whatever events repeat;
        // one first seen already decided does both.
        if first_recorded {
            events::emit_order(conn, &order_id, EventType::DisputeOpened, Seen::ByEveryShop)?;
        }
        if !was_decided && outcome != "open" {
            events::emit_order(conn, &order_id, EventType::DisputeClosed, Seen::ByEveryShop)?;
        }
        Ok(Applied::Recorded(order_id))
    })
}

/// Applies a dispute's current state to its order and moves the sellers' money.
///
/// # Errors
/// 404 when no order has the disputed charge; provider errors while settling.
#[tracing::instrument(skip(pool, provider, dispute), fields(dispute = %dispute.id))]
pub async fn apply_dispute(
    pool: &DbPool,
    provider: &dyn Provider,
    dispute: &Dispute,
) -> Result<(), AppError> {
    let d = dispute.clone();
    let order_id = match db::run(pool, move |conn| apply(conn, &d)).await? {
        Applied::Recorded(order_id) => order_id,
        // The dispute's event overtook the payment's (both come at once when a
        // charge is disputed at its creation). Rather than wait on the job
        // queue's retries, which a slow payment event can outlast, the payment
        // is applied from the provider's intent first, then the dispute.
        Applied::AwaitingPayment {
            order_id,
            intent_id,
        } => {
            let intent_id = dispute.payment_intent.clone().or(intent_id);
            if let Some(intent_id) = intent_id {
                let intent = provider.retrieve_payment_intent(&intent_id).await?;
                super::payment::apply_intent(pool, provider, &intent).await?;
            }
            let d = dispute.clone();
            match db::run(pool, move |conn| apply(conn, &d)).await? {
                Applied::Recorded(order_id) => order_id,
                Applied::AwaitingPayment { .. } => {
                    // Retried by the job queue until the payment succeeds.
                    return Err(AppError::Unavailable {
                        message: format!(
                            "order {order_id} is not paid yet; the dispute is applied after it"
                        ),
                    });
                }
            }
        }
    };
    settlement::settle_order(pool, provider, &order_id).await
}

/// A dispute's status and outcome as recorded here, if it is known.
///
/// # Errors
/// A database failure.
pub fn local_state(
    conn: &mut DbConnection,
    dispute_id: &str,
) -> Result<Option<(String, String)>, AppError> {
    Ok(disputes::table
        .find(dispute_id)
        .select((disputes::provider_status, disputes::outcome))
        .first(conn)
        .optional()?)
}

/// Fetches a dispute from the provider (the authority on its state) and applies it.
///
/// # Errors
/// As [`apply_dispute`]; 404 for a dispute the provider does not know.
pub async fn sync_dispute(
    pool: &DbPool,
    provider: &dyn Provider,
    dispute_id: &str,
) -> Result<(), AppError> {
    let dispute = provider.retrieve_dispute(dispute_id).await?;
    apply_dispute(pool, provider, &dispute).await
}
