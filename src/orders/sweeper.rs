//! The sweep: what no request is waiting for, done at the marketplace's own
//! pace — checkouts that died before their PaymentIntent finished, unpaid
//! orders expired, sellers' money moved where a request could
//! not finish (provider down, shop reactivated), refunds left pending sent.
//! Every step is idempotent and conditional, so several processes may sweep
//! one database at once.

use std::sync::Arc;
use std::time::Duration;

use crate::db::DbPool;
use crate::payments::Provider;

use super::{checkout, payment, refunds, settlement};

/// Most items of each kind one sweep handles: the rest wait for the next one.
pub const SWEEP_BATCH_MAX: i64 = 100;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub checkouts_finished: usize,
    pub orders_expiry_checked: usize,
    pub parts_settled: usize,
    pub refunds_retried: usize,
    pub errors: usize,
}

/// One pass over everything due at `now`.
pub async fn sweep_once(
    pool: &DbPool,
    provider: &dyn Provider,
    now: chrono::NaiveDateTime,
) -> SweepReport {
    let mut report = SweepReport::default();
    // Before expiry: an order whose checkout died before its PaymentIntent
    // gets one (and is paid, if the checkout's payment method went through).
    let (finished, error) = checkout::finish_unfinished(pool, provider, now, SWEEP_BATCH_MAX).await;
    report.checkouts_finished = finished;
    report.errors += usize::from(error.is_some());
    let (expired, error) = payment::expire_due(pool, provider, now, SWEEP_BATCH_MAX).await;
    report.orders_expiry_checked = expired;
    report.errors += usize::from(error.is_some());
    let (retried, error) = refunds::retry_pending(pool, provider, SWEEP_BATCH_MAX).await;
    report.refunds_retried = retried;
    report.errors += usize::from(error.is_some());
    let (settled, error) = settlement::settle_due(pool, provider, SWEEP_BATCH_MAX).await;
    report.parts_settled = settled;
    report.errors += usize::from(error.is_some());
    report
}

/// Sweeps every `interval` until the process ends.
pub fn spawn(
    pool: DbPool,
    provider: Arc<dyn Provider>,
    clock: crate::payments::Clock,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let report = sweep_once(&pool, provider.as_ref(), clock.now()).await;
            if report.errors > 0 {
                tracing::warn!(?report, "sweep finished with errors; the next one retries");
            } else if report != SweepReport::default() {
                tracing::debug!(?report, "sweep");
            }
        }
    })
}
