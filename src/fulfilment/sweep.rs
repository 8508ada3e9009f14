//! Fulfilment's deadlines, judged by the provider's clock at each pass: parts
//! whose ship-by date is near get one reminder to their seller
//! (`orders.ship_soon_hours`), parts
//! past their ship-by date are marked late (their seller is told, their buyer
//! may cancel), parts shipped `release_after_days` ago that nobody confirmed
//! count as delivered (releasing the share under `on_delivery`), and
//! cancellations whose refund was never reserved are refunded. Each step is
//! conditional, so several processes may sweep one database at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{cancel, emails, shipments};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::orders::schema::{order_parts, orders};
use crate::orders::{settlement, OrderStatus};
use crate::payments::Provider;

/// Most items of each kind one pass handles: the rest wait for the next one.
pub const SWEEP_BATCH_MAX: i64 = 100;

/// Who the audit and the refund name when the sweep acts.
const SWEEP_ACTOR: &str = "system:fulfilment-sweep";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FulfilmentReport {
    pub parts_reminded: usize,
    pub parts_found_late: usize,
    pub parts_delivered_automatically: usize,
    pub cancellations_refunded: usize,
    pub errors: usize,
}

/// Marks parts late whose ship-by date passed unshipped; returns how many.
fn mark_late(conn: &mut db::DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let late: Vec<String> = order_parts::table
        .inner_join(orders::table)
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(order_parts::fulfilment_status.eq_any(["unfulfilled", "partially_shipped"]))
        .filter(order_parts::ship_by.lt(now))
        .filter(order_parts::late_notified_at.is_null())
        .select(order_parts::id)
        .limit(SWEEP_BATCH_MAX)
        .load(conn)?;
    let mut marked = 0;
    for part_id in late {
        db::write_transaction(conn, |conn| {
            let updated = diesel::update(
                order_parts::table
                    .find(&part_id)
                    .filter(order_parts::late_notified_at.is_null()),
            )
            .set(order_parts::late_notified_at.eq(now))
            .execute(conn)?;
            if updated == 1 {
                emails::part_late(conn, &part_id)?;
                marked += 1;
            }
            Ok::<_, AppError>(())
        })?;
    }
    Ok(marked)
}

/// How long before its ship-by date a part's seller is reminded when the
/// caller does not say (`orders.ship_soon_hours`' default).
pub const SHIP_SOON_DEFAULT_HOURS: i64 = 24;

/// Reminds the sellers of unshipped parts due to ship within `window` of
/// `now`, once per part (`ship_soon_notified_at`); returns how many. A part
/// already late is left to [`mark_late`]: a reminder would come too late.
fn remind_ship_soon(
    conn: &mut db::DbConnection,
    now: NaiveDateTime,
    window: chrono::Duration,
) -> Result<usize, AppError> {
    if window <= chrono::Duration::zero() {
        return Ok(0);
    }
    let due: Vec<String> = order_parts::table
        .inner_join(orders::table)
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .filter(order_parts::fulfilment_status.eq_any(["unfulfilled", "partially_shipped"]))
        .filter(order_parts::ship_by.ge(now))
        .filter(order_parts::ship_by.le(now + window))
        .filter(order_parts::ship_soon_notified_at.is_null())
        .select(order_parts::id)
        .limit(SWEEP_BATCH_MAX)
        .load(conn)?;
    let mut reminded = 0;
    for part_id in due {
        db::write_transaction(conn, |conn| {
            // Conditional, so two sweeps at once remind once.
            let updated = diesel::update(
                order_parts::table
                    .find(&part_id)
                    .filter(order_parts::ship_soon_notified_at.is_null()),
            )
            .set(order_parts::ship_soon_notified_at.eq(now))
            .execute(conn)?;
            if updated == 1 {
                emails::part_ship_soon(conn, &part_id)?;
                reminded += 1;
            }
            Ok::<_, AppError>(())
        })?;
    }
    Ok(reminded)
}

/// Shipped parts whose `release_after_days` have passed: `(order, part)`.
fn due_for_delivery(
    conn: &mut db::DbConnection,
    now: NaiveDateTime,
) -> Result<Vec<(String, String)>, AppError> {
    // Every part waits at least a day (release_after_days ≥ 1): older
    // shipments only are read, then each against its own days.
    let shipped: Vec<(String, String, Option<NaiveDateTime>, i32)> = order_parts::table
        .filter(order_parts::fulfilment_status.eq("shipped"))
        .filter(order_parts::shipped_at.le(now - chrono::Duration::days(1)))
        .select((
            order_parts::order_id,
            order_parts::id,
            order_parts::shipped_at,
            order_parts::release_after_days,
        ))
        .order(order_parts::shipped_at.asc())
        .limit(SWEEP_BATCH_MAX)
        .load(conn)?;
    Ok(shipped
        .into_iter()
        .filter(|(_, _, shipped_at, days)| {
            shipped_at.is_some_and(|at| at + chrono::Duration::days(i64::from(*days)) <= now)
        })
        .map(|(order, part, _, _)| (order, part))
        .collect())
}

/// One pass over everything due at `now` (the provider's clock), reminding
/// sellers [`SHIP_SOON_DEFAULT_HOURS`] before a ship-by date.
pub async fn sweep_once(
    pool: &DbPool,
    provider: &dyn Provider,
    now: NaiveDateTime,
) -> FulfilmentReport {
    let window = chrono::Duration::hours(SHIP_SOON_DEFAULT_HOURS);
    sweep_once_with(pool, provider, now, window).await
}

/// One pass over everything due at `now` (the provider's clock), reminding
/// sellers `ship_soon` before a ship-by date (zero: no reminders).
pub async fn sweep_once_with(
    pool: &DbPool,
    provider: &dyn Provider,
    now: NaiveDateTime,
    ship_soon: chrono::Duration,
) -> FulfilmentReport {
    let mut report = FulfilmentReport::default();
    match db::run(pool, move |conn| remind_ship_soon(conn, now, ship_soon)).await {
        Ok(reminded) => report.parts_reminded = reminded,
        Err(error) => {
            tracing::warn!(%error, "ship-soon reminders not sent; the next sweep retries");
            report.errors += 1;
        }
    }
    match db::run(pool, move |conn| mark_late(conn, now)).await {
        Ok(marked) => report.parts_found_late = marked,
        Err(error) => {
            tracing::warn!(%error, "late parts not marked; the next sweep retries");
            report.errors += 1;
        }
    }
    let due = db::run(pool, move |conn| due_for_delivery(conn, now)).await;
    for (order_id, part_id) in due.unwrap_or_else(|error| {
        tracing::warn!(%error, "parts due for delivery not read");
        report.errors += 1;
        Vec::new()
    }) {
        let (order, part) = (order_id.clone(), part_id.clone());
        let delivered = db::run(pool, move |conn| {
            shipments::deliver(conn, &order, &part, None, now)
        })
        .await;
        match &delivered {
            // Another process (or the buyer) got there first.
            Ok(()) | Err(AppError::Conflict { .. }) => {}
            Err(error) => {
                tracing::warn!(%error, part_id, "part not delivered automatically; the next sweep retries");
                report.errors += 1;
                continue;
            }
        }
        report.parts_delivered_automatically += usize::from(delivered.is_ok());
        if let Err(error) = settlement::settle_part(pool, provider, &part_id).await {
            tracing::warn!(%error, part_id, "released part not settled yet; the orders sweep retries");
        }
    }
    let cancellations = db::run(pool, move |conn| {
        cancel::unrefunded_cancellations(conn, SWEEP_BATCH_MAX)
    })
    .await;
    for (order_id, part_id) in cancellations.unwrap_or_else(|error| {
        tracing::warn!(%error, "cancelled parts not read");
        report.errors += 1;
        Vec::new()
    }) {
        let refunder = crate::orders::refunds::Refunder {
            user_id: SWEEP_ACTOR.into(),
            shops: None,
            context: crate::auth::RequestContext::default(),
        };
        match cancel::refund_canceled_part(pool, provider, &order_id, &part_id, refunder).await {
            Ok(_) => report.cancellations_refunded += 1,
            Err(error) => {
                tracing::warn!(%error, part_id, "cancelled part not refunded yet; the next sweep retries");
                report.errors += 1;
            }
        }
    }
    report
}

/// Sweeps every `interval` until the process ends, reminding sellers
/// `ship_soon` before a ship-by date.
pub fn spawn(
    pool: DbPool,
    provider: std::sync::Arc<dyn Provider>,
    clock: crate::payments::Clock,
    interval: std::time::Duration,
    ship_soon: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let ship_soon = chrono::Duration::from_std(ship_soon).unwrap_or(chrono::Duration::zero());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let report = sweep_once_with(&pool, provider.as_ref(), clock.now(), ship_soon).await;
            if report.errors > 0 {
                tracing::warn!(
                    ?report,
                    "fulfilment sweep finished with errors; the next one retries"
                );
            } else if report != FulfilmentReport::default() {
                tracing::debug!(?report, "fulfilment sweep");
            }
        }
    })
}
