//! Dead letters: emails whose sending job ran out of retries. The outbox row
//! stays `queued`; its `email` job is `dead` until a person replays it
//! (`POST /v1/emails/{id}/replay`, `POST /v1/emails/replay`, the console's
//! Replay buttons), each replay audited as `email.replay`.

use diesel::prelude::*;

use super::schema::outbox;
use super::{list, EmailView, EMAILS_PAGE_MAX, EMAIL_JOB};
use crate::auth::{record_audit, AuditEntry, RequestContext, UserId};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::jobs::schema::jobs;

/// How many emails wait as dead letters.
///
/// # Errors
/// A database failure.
pub fn dead_count(conn: &mut DbConnection) -> Result<i64, AppError> {
    let dead_jobs = jobs::table
        .filter(jobs::kind.eq(EMAIL_JOB))
        .filter(jobs::status.eq("dead"))
        .select(jobs::subject);
    Ok(outbox::table
        .filter(outbox::status.eq("queued"))
        .filter(outbox::id.eq_any(dead_jobs))
        .count()
        .get_result(conn)?)
}

/// Emails as staff read the outbox: dead letters first (newest first),
/// then the others newest first; or only those in `status` (`dead`,
/// `queued`, `sent`, `withdrawn`).
///
/// # Errors
/// A database failure.
pub fn overview(
    conn: &mut DbConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<EmailView>, AppError> {
    let limit = limit.clamp(1, EMAILS_PAGE_MAX);
    if status.is_some() {
        return list(conn, None, status, limit);
    }
    let mut emails = list(conn, None, Some("dead"), limit)?;
    let left = limit - i64::try_from(emails.len()).unwrap_or(limit);
    if left > 0 {
        emails.extend(
            list(conn, None, None, limit)?
                .into_iter()
                .filter(|e| e.job_status.as_deref() != Some("dead") || e.status != "queued")
                .take(usize::try_from(left).unwrap_or(0)),
        );
    }
    Ok(emails)
}

/// Sends the dead email `id` again: its job back in the queue with its
/// attempts reset, and an `email.replay` audit row; in the caller's
/// transaction.
///
/// # Errors
/// 404 for no such email; 409 `email_not_dead` for one that is sent,
/// withdrawn, or still being tried; a database failure.
pub fn replay_audited(
    conn: &mut DbConnection,
    id: &str,
    actor: &UserId,
    context: &RequestContext,
) -> Result<EmailView, AppError> {
    let status: Option<String> = outbox::table
        .find(id)
        .select(outbox::status)
        .first(conn)
        .optional()?;
    let Some(status) = status else {
        return Err(AppError::NotFound { resource: "email" });
    };
    let job: Option<(String, String, Option<String>)> = jobs::table
        .filter(jobs::kind.eq(EMAIL_JOB))
        .filter(jobs::subject.eq(id))
        .select((jobs::id, jobs::status, jobs::last_error))
        .first(conn)
        .optional()?;
    let not_dead = || AppError::Conflict {
        code: "email_not_dead",
        message: "only dead emails are replayed; this one is sent, withdrawn or still being tried"
            .into(),
    };
    let Some((job_id, job_status, last_error)) = job else {
        return Err(not_dead());
    };
    if status != "queued" || job_status != "dead" {
        return Err(not_dead());
    }
    crate::jobs::replay(conn, &job_id).map_err(|error| match error.code() {
        "job_not_dead" => not_dead(),
        _ => error,
    })?;
    record_audit(
        conn,
        AuditEntry::new("email.replay", id)
            .actor(actor)
            .context(context)
            .before(serde_json::json!({
                "job_id": job_id,
                "job_status": "dead",
                "last_error": last_error,
            }))
            .after(serde_json::json!({"job_id": job_id, "job_status": "queued"})),
    )?;
    list_one(conn, id)
}

/// Sends every dead email again, at most [`EMAILS_PAGE_MAX`] per call, one
/// audit row each; returns them and whether more dead ones remain. Run it
/// in a write transaction.
///
/// # Errors
/// A database failure.
pub fn replay_all_dead(
    conn: &mut DbConnection,
    actor: &UserId,
    context: &RequestContext,
) -> Result<(Vec<EmailView>, bool), AppError> {
    let dead = list(conn, None, Some("dead"), EMAILS_PAGE_MAX)?;
    let mut replayed = Vec::with_capacity(dead.len());
    for email in dead {
        replayed.push(replay_audited(conn, &email.id, actor, context)?);
    }
    let more = dead_count(conn)? > 0;
    Ok((replayed, more))
}

fn list_one(conn: &mut DbConnection, id: &str) -> Result<EmailView, AppError> {
    super::view_of(conn, id)?.ok_or(AppError::NotFound { resource: "email" })
}
