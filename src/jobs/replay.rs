//! Replaying dead jobs on a person's word, audited: the functions behind
//! `POST /v1/jobs/{id}/replay`, `POST /v1/jobs/replay` and the console's
//! Replay buttons.

use crate::auth::{record_audit, AuditEntry, RequestContext, UserId};
use crate::db::DbConnection;
use crate::error::AppError;

use super::{list, replay, Job, JOBS_PAGE_MAX};

/// Puts the dead job `id` back in the queue and writes its `job.replay`
/// audit row, in the caller's transaction.
///
/// # Errors
/// As [`replay`]: 404 for no such job, 409 `job_not_dead`; a database failure.
pub fn replay_audited(
    conn: &mut DbConnection,
    id: &str,
    actor: &UserId,
    context: &RequestContext,
) -> Result<Job, AppError> {
    let job = replay(conn, id)?;
    record_audit(
        conn,
        AuditEntry::new("job.replay", &job.id)
            .actor(actor)
            .context(context)
            .before(serde_json::json!({"status": "dead", "last_error": job.last_error}))
            .after(serde_json::json!({"status": "queued"})),
    )?;
    Ok(job)
}

/// Puts every dead job back in the queue, at most [`JOBS_PAGE_MAX`] per
/// call, one audit row each; returns them and whether more dead ones remain.
/// Run it in a write transaction.
///
/// # Errors
/// A database failure.
pub fn replay_all_dead(
    conn: &mut DbConnection,
    actor: &UserId,
    context: &RequestContext,
) -> Result<(Vec<Job>, bool), AppError> {
    let page = usize::try_from(JOBS_PAGE_MAX).unwrap_or(usize::MAX);
    let dead = list(conn, "dead", JOBS_PAGE_MAX + 1)?;
    // `list` caps its page at JOBS_PAGE_MAX: count what is left afterwards.
    let mut replayed = Vec::with_capacity(dead.len().min(page));
    for job in dead.into_iter().take(page) {
        replayed.push(replay_audited(conn, &job.id, actor, context)?);
    }
    let more = count(conn, "dead")? > 0;
    Ok((replayed, more))
}

/// How many jobs are in `status`.
///
/// # Errors
/// A database failure.
pub fn count(conn: &mut DbConnection, status: &str) -> Result<i64, AppError> {
    use diesel::prelude::*;
    Ok(super::schema::jobs::table
        .filter(super::schema::jobs::status.eq(status))
        .count()
        .get_result(conn)?)
}
