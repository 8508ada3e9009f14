//! Events older than `events.retention_days` leave the feed.
//!
//! The feed is a window, not an archive: integrators read it within days,
//! and the facts themselves stay in their own tables. A reader that falls
//! further behind sees `oldest_seq` move past its `after` and knows it
//! missed events.

use chrono::NaiveDateTime;

use super::feed;
use crate::db::{self, DbPool};
use crate::error::AppError;

/// How often the running server purges.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Events deleted per transaction: a short write lock each, however far
/// behind the purge is.
const PURGE_BATCH: i64 = 1000;

/// Deletes every event that occurred before `before`, batch by batch;
/// returns how many.
///
/// # Errors
/// A database failure (what was deleted before it stays deleted).
pub async fn purge_before(pool: &DbPool, before: NaiveDateTime) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let deleted = db::run(pool, move |conn| feed::purge(conn, before, PURGE_BATCH)).await?;
        total += deleted;
        if deleted == 0 {
            return Ok(total);
        }
    }
}

/// Purges events older than `keep_for` every hour, the first time at once.
/// Times are the database's (`occurred_at` is written with [`db::now`]), not
/// the sandbox's shifted clock.
pub fn spawn(pool: DbPool, keep_for: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let keep_for = chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::MAX);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PURGE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let before = db::now()
                .checked_sub_signed(keep_for)
                .unwrap_or(NaiveDateTime::MIN);
            match purge_before(&pool, before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "events past their retention purged"),
                Err(error) => {
                    tracing::warn!(%error, "events purge failed; the next one retries");
                }
            }
        }
    })
}
