//! Uploads nobody uses are deleted after `media.unused_after_hours`.
//!
//! A seller may upload a picture and never save the product (or replace a
//! product's picture, or the shop's logo): without this sweep those files
//! would stay on disk for ever. An upload is in use while a product (on sale,
//! draft or archived) or a shop's logo names its key; past the retention it
//! is unused only if neither does, and then its files go first and its row
//! after, so a crash in between leaves a row whose files are gone, which the
//! next sweep finishes, never files that no row accounts for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::media_images;
use super::store::ImageStore;
use super::MediaImage;
use crate::catalog::schema::products;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::sellers::schema::shops;

/// Most uploads one sweep looks at; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 200;
/// How often the running server sweeps.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnusedReport {
    /// Uploads deleted (files and row).
    pub deleted: usize,
    /// Uploads whose files could not be deleted (kept for the next sweep).
    pub errors: usize,
}

/// Uploads made before `uploaded_before` that no product and no shop names,
/// oldest first (at most [`SWEEP_BATCH`]).
///
/// # Errors
/// A database failure.
pub fn unused_uploads(
    conn: &mut DbConnection,
    uploaded_before: NaiveDateTime,
) -> Result<Vec<MediaImage>, AppError> {
    let old: Vec<MediaImage> = media_images::table
        .filter(media_images::created_at.lt(uploaded_before))
        .order((media_images::created_at.asc(), media_images::key.asc()))
        .limit(SWEEP_BATCH)
        .select(MediaImage::as_select())
        .load(conn)?;
    let mut unused = Vec::new();
    for image in old {
        // Keys are 32 hex digits: nothing in them is a LIKE wildcard.
        let pattern = format!("%{}%", image.key);
        let on_a_product: bool = diesel::select(diesel::dsl::exists(
            products::table.filter(products::images.like(&pattern)),
        ))
        .get_result(conn)?;
        let a_logo: bool = diesel::select(diesel::dsl::exists(
            shops::table.filter(shops::logo_url.like(&pattern)),
        ))
        .get_result(conn)?;
        if !on_a_product && !a_logo {
            unused.push(image);
        }
    }
    Ok(unused)
}

/// Deletes the uploads unused at `now` that are older than `keep_for`.
pub async fn sweep_once(
    pool: &DbPool,
    store: &dyn ImageStore,
    now: NaiveDateTime,
    keep_for: chrono::Duration,
) -> UnusedReport {
    let mut report = UnusedReport::default();
    let cutoff = now - keep_for;
    let unused = match db::run(pool, move |conn| unused_uploads(conn, cutoff)).await {
        Ok(unused) => unused,
        Err(e) => {
            tracing::warn!(error = %e, "could not list unused uploads");
            report.errors += 1;
            return report;
        }
    };
    for image in unused {
        let width = u32::try_from(image.width).unwrap_or(0);
        let mut removed = true;
        for (slot, _) in super::images::plan(width) {
            let name = super::file_name(&image.key, width, slot);
            if let Err(e) = store.delete(&name).await {
                tracing::warn!(%name, error = %e, "could not delete an unused upload's file");
                removed = false;
            }
        }
        if !removed {
            report.errors += 1;
            continue;
        }
        let key = image.key.clone();
        let deleted = db::run(pool, move |conn| {
            diesel::delete(media_images::table.filter(media_images::key.eq(&key)))
                .execute(conn)
                .map_err(AppError::from)
        })
        .await;
        match deleted {
            Ok(_) => {
                tracing::info!(key = %image.key, owner = %image.owner_user_id, "unused upload deleted");
                report.deleted += 1;
            }
            Err(e) => {
                tracing::warn!(key = %image.key, error = %e, "could not delete an unused upload's row");
                report.errors += 1;
            }
        }
    }
    report
}

/// Sweeps every hour while the server runs.
pub fn spawn(
    pool: DbPool,
    store: std::sync::Arc<dyn ImageStore>,
    clock: crate::payments::Clock,
    keep_for: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let keep_for = chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::MAX);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SWEEP_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let report = sweep_once(&pool, store.as_ref(), clock.now(), keep_for).await;
            if report.errors > 0 {
                tracing::warn!(
                    ?report,
                    "media sweep finished with errors; the next one retries"
                );
            } else if report.deleted > 0 {
                tracing::info!(?report, "media sweep");
            }
        }
    })
}
