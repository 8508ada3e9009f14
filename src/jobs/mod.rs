//! A database-backed job queue: what the marketplace does at its own pace
//! after it has acknowledged something (today: processing provider events).
//!
//! A job is enqueued in the same transaction as the fact that asks for it.
//! Workers claim due jobs in batches — `FOR UPDATE SKIP LOCKED` on PostgreSQL,
//! so several processes never take the same job; on SQLite the claim runs in a
//! `BEGIN IMMEDIATE` transaction, so one writer claims at a time — with a lease:
//! a job whose worker died is claimable again once its lease ends. A failure is
//! retried with exponential backoff; after `attempts_max` attempts the job is
//! dead, listed for operators, and replayable. Handlers must be idempotent
//! (a job may run again after a crash between its work and its completion).

mod http;
mod replay;
pub mod schema;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use serde::Serialize;

pub use http::routes;
pub use replay::{count, replay_all_dead, replay_audited};
use schema::jobs;

pub use crate::config::JobSettings;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;

/// Longest error text kept on a job.
const ERROR_CHARS_MAX: usize = 1000;
/// Longest wait between two attempts of one job.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// Most jobs one list call returns.
pub const JOBS_PAGE_MAX: i64 = 100;

/// Jobs claimed per batch.
pub const BATCH_MAX: i64 = 50;

/// A job as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub run_after: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// A claimed job: what a handler needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Enqueues a job to run now, once per (kind, subject): enqueuing the same
/// pair again does nothing and returns `false`.
///
/// `ON CONFLICT DO NOTHING` rather than catching the unique violation, which
/// on PostgreSQL would abort the caller's whole transaction.
///
/// # Errors
/// A database failure.
pub fn enqueue(conn: &mut DbConnection, kind: &str, subject: &str) -> Result<bool, AppError> {
    let now = db::now();
    let inserted = diesel::sql_query(
        "INSERT INTO jobs (id, kind, subject, status, attempts, run_after, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, $4, $4)
         ON CONFLICT (kind, subject) DO NOTHING",
    )
    .bind::<Text, _>(format!("job_{}", uuid::Uuid::new_v4().simple()))
    .bind::<Text, _>(kind)
    .bind::<Text, _>(subject)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(inserted == 1)
}

/// Claims up to `limit` due jobs (queued and due, or running with an expired lease).
///
/// # Errors
/// A database failure.
pub fn claim(
    conn: &mut DbConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Claimed>, AppError> {
    let now = db::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    // SQLite (3.35+) has RETURNING too; only the row locking differs.
    let sql = |locking: &str| {
        format!(
            "UPDATE jobs SET status = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id IN (SELECT id FROM jobs
                          WHERE (status = 'queued' AND run_after <= $2)
                             OR (status = 'running' AND locked_until < $2)
                          ORDER BY run_after LIMIT $3 {locking})
             RETURNING id, kind, subject, attempts"
        )
    };
    let claimed = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(sql("FOR UPDATE SKIP LOCKED"))
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
        DbConnection::Sqlite(_) => db::write_transaction(conn, |conn| {
            let DbConnection::Sqlite(lite) = conn else {
                unreachable!("matched above")
            };
            diesel::sql_query(sql(""))
                .bind::<Timestamp, _>(until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(lite)
        })?,
    };
    Ok(claimed)
}

/// Marks a claimed job done.
///
/// # Errors
/// A database failure.
pub fn complete(conn: &mut DbConnection, id: &str) -> Result<(), AppError> {
    diesel::update(jobs::table.find(id))
        .set((
            jobs::status.eq("done"),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(None::<String>),
            jobs::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Returns every claimed job to the queue, to run at once. Only for a database
/// no worker uses yet (a restore's): its claims belong to the workers of the
/// installation it was copied from, which would otherwise hold each job for
/// the rest of its lease (`jobs.lease_ms`).
///
/// # Errors
/// A database failure.
pub fn release_claims(conn: &mut DbConnection) -> Result<usize, AppError> {
    let now = db::now();
    Ok(
        diesel::update(jobs::table.filter(jobs::status.eq("running")))
            .set((
                jobs::status.eq("queued"),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::run_after.eq(now),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?,
    )
}

/// The wait before attempt `attempts + 1`: `first × 2^(attempts − 1)`, capped.
pub fn backoff(first: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    first.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// Records a failed attempt: queued again after the backoff, or dead.
///
/// # Errors
/// A database failure.
pub fn fail(
    conn: &mut DbConnection,
    job: &Claimed,
    error: &str,
    settings: &JobSettings,
) -> Result<(), AppError> {
    let now = db::now();
    let error: String = error.chars().take(ERROR_CHARS_MAX).collect();
    let dead = i64::from(job.attempts) >= i64::from(settings.attempts_max);
    let wait = chrono::Duration::from_std(backoff(settings.backoff_first, job.attempts))
        .unwrap_or(chrono::Duration::seconds(60));
    diesel::update(jobs::table.find(&job.id))
        .set((
            jobs::status.eq(if dead { "dead" } else { "queued" }),
            jobs::run_after.eq(now + wait),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(&error),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    if dead {
        tracing::error!(
            job_id = job.id,
            kind = job.kind,
            subject = job.subject,
            error,
            "job is dead after its last attempt"
        );
    }
    Ok(())
}

/// Jobs in a status (`dead` for operators), oldest first.
///
/// # Errors
/// A database failure.
pub fn list(conn: &mut DbConnection, status: &str, limit: i64) -> Result<Vec<Job>, AppError> {
    Ok(jobs::table
        .filter(jobs::status.eq(status))
        .order((jobs::updated_at.asc(), jobs::id.asc()))
        .limit(limit.clamp(1, JOBS_PAGE_MAX))
        .select(Job::as_select())
        .load(conn)?)
}

/// Jobs as operators read the queue: dead ones first, then by when they
/// run next; all statuses, or only `status`.
///
/// # Errors
/// A database failure.
pub fn overview(
    conn: &mut DbConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Job>, AppError> {
    let mut query = jobs::table.select(Job::as_select()).into_boxed();
    if let Some(status) = status {
        query = query.filter(jobs::status.eq(status.to_owned()));
    }
    Ok(query
        .order((
            jobs::status.eq("dead").desc(),
            jobs::run_after.asc(),
            jobs::id.asc(),
        ))
        .limit(limit.clamp(1, JOBS_PAGE_MAX))
        .load(conn)?)
}

/// Puts a dead job back in the queue with its attempts reset.
///
/// # Errors
/// 404 for no such job; 409 `job_not_dead` for a job that is not dead.
pub fn replay(conn: &mut DbConnection, id: &str) -> Result<Job, AppError> {
    let now = db::now();
    let updated = diesel::update(jobs::table.find(id).filter(jobs::status.eq("dead")))
        .set((
            jobs::status.eq("queued"),
            jobs::attempts.eq(0),
            jobs::run_after.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    let job: Option<Job> = jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .optional()?;
    match (job, updated) {
        (None, _) => Err(AppError::NotFound { resource: "job" }),
        (Some(_), 0) => Err(AppError::Conflict {
            code: "job_not_dead",
            message: "only dead jobs are replayed; this one is still being worked on or is done"
                .into(),
        }),
        (Some(job), _) => Ok(job),
    }
}

/// Runs one claimed job; `Err` is the failure text kept on the job.
pub type Handler =
    Arc<dyn Fn(Claimed) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Claims one batch and runs its jobs, up to `settings.concurrency` at a
/// time, each completed (or failed) as soon as its handler returns; returns
/// how many jobs ran.
///
/// Jobs of one batch run concurrently as jobs of several workers or processes
/// always could: handlers are idempotent and never assume an order.
///
/// # Errors
/// The database failed while claiming.
pub async fn run_batch(
    pool: &DbPool,
    handler: &Handler,
    settings: &JobSettings,
) -> Result<usize, AppError> {
    let (limit, lease) = (BATCH_MAX, settings.lease);
    let claimed = db::run(pool, move |conn| claim(conn, limit, lease)).await?;
    let count = claimed.len();
    let concurrency = usize::try_from(settings.concurrency.max(1)).unwrap_or(1);
    let mut running = tokio::task::JoinSet::new();
    let mut first_error = None;
    for job in claimed {
        if running.len() >= concurrency {
            note_finished(running.join_next().await, &mut first_error);
        }
        running.spawn(run_one(
            pool.clone(),
            Arc::clone(handler),
            settings.clone(),
            job,
        ));
    }
    while let Some(finished) = running.join_next().await {
        note_finished(Some(finished), &mut first_error);
    }
    first_error.map_or(Ok(count), Err)
}

type Finished = Option<Result<Result<(), AppError>, tokio::task::JoinError>>;

fn note_finished(finished: Finished, first_error: &mut Option<AppError>) {
    let error = match finished {
        Some(Ok(Err(error))) => error,
        Some(Err(panicked)) => AppError::Internal(anyhow::anyhow!("job task: {panicked}")),
        _ => return,
    };
    // The job stays claimed until its lease ends, then runs again.
    tracing::warn!(%error, "could not record a job's outcome");
    first_error.get_or_insert(error);
}

async fn run_one(
    pool: DbPool,
    handler: Handler,
    settings: JobSettings,
    job: Claimed,
) -> Result<(), AppError> {
    let outcome = handler(job.clone()).await;
    db::run(&pool, move |conn| match outcome {
        Ok(()) => complete(conn, &job.id),
        Err(error) => {
            tracing::warn!(
                job_id = job.id,
                kind = job.kind,
                attempts = job.attempts,
                error,
                "job failed"
            );
            fail(conn, &job, &error, &settings)
        }
    })
    .await
}

/// A worker: runs batches until the queue is empty, then waits `poll_interval`.
pub fn spawn_worker(
    pool: DbPool,
    handler: Handler,
    settings: JobSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_batch(&pool, &handler, &settings).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "job worker could not claim; retrying"),
            }
            tokio::time::sleep(settings.poll_interval).await;
        }
    })
}
