//! The audit log: who did what to what, from where, with the state before and
//! after. Append-only: there is no update or delete here, and the database's
//! triggers refuse them from anywhere else.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{audit_log, users};
use super::{RequestContext, UserId};
use crate::db::DbConnection;
use crate::error::AppError;

/// The most rows one page of `GET /v1/audit_log` returns.
pub const AUDIT_PAGE_MAX: u32 = 100;
/// Longest action name (`user.role_change`, `shop.freeze`, …).
const ACTION_CHARS_MAX: usize = 64;
/// Longest subject (an id, an email, `address:…`).
const SUBJECT_CHARS_MAX: usize = 300;
/// Largest before/after JSON document, in bytes.
const STATE_JSON_BYTES_MAX: usize = 16 * 1024;

/// One fact for the audit log; build it with [`AuditEntry::new`] and the setters.
///
/// ```ignore
/// record_audit(conn, AuditEntry::new("shop.freeze", shop_id.as_str())
///     .actor(&caller.user_id)
///     .context(&ctx)
///     .before(json!({"frozen": false}))
///     .after(json!({"frozen": true})))?;
/// ```
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Option<UserId>,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    /// An entry for `action` (dotted, e.g. `user.role_change`) on `subject` (usually an id).
    pub fn new(action: impl Into<String>, subject: impl Into<String>) -> Self {
        Self {
            actor: None,
            action: action.into(),
            subject: subject.into(),
            ip: None,
            request_id: None,
            before: None,
            after: None,
        }
    }

    /// Who did it (none for the system or an anonymous caller).
    #[must_use]
    pub fn actor(mut self, actor: &UserId) -> Self {
        self.actor = Some(actor.clone());
        self
    }

    /// The request's client address and id.
    #[must_use]
    pub fn context(mut self, context: &RequestContext) -> Self {
        self.ip.clone_from(&context.ip);
        self.request_id.clone_from(&context.request_id);
        self
    }

    /// The state before the change.
    #[must_use]
    pub fn before(mut self, state: serde_json::Value) -> Self {
        self.before = Some(state);
        self
    }

    /// The state after the change.
    #[must_use]
    pub fn after(mut self, state: serde_json::Value) -> Self {
        self.after = Some(state);
        self
    }
}

/// Appends `entry` to the audit log, stamped now. Call it inside the write
/// transaction of the change it records, so both commit or neither does.
///
/// # Errors
/// The database failed, or the entry exceeds the log's limits (a bug in the caller:
/// action ≤ 64 characters, subject ≤ 300, each JSON document ≤ 16 KiB).
pub fn record_audit(conn: &mut DbConnection, entry: AuditEntry) -> Result<(), AppError> {
    record_audit_at(conn, entry, crate::db::now())
}

/// [`record_audit`] with the clock given, for domain functions that take `now`.
pub(crate) fn record_audit_at(
    conn: &mut DbConnection,
    entry: AuditEntry,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let bug = |what: String| AppError::Internal(anyhow::anyhow!("audit entry: {what}"));
    if entry.action.is_empty() || entry.action.chars().count() > ACTION_CHARS_MAX {
        return Err(bug(format!(
            "action {:?} is empty or too long",
            entry.action
        )));
    }
    if entry.subject.chars().count() > SUBJECT_CHARS_MAX {
        return Err(bug(format!("subject of {} is too long", entry.action)));
    }
    let render = |state: Option<serde_json::Value>| -> Result<Option<String>, AppError> {
        let Some(state) = state else { return Ok(None) };
        let text = serde_json::to_string(&state).map_err(|e| bug(e.to_string()))?;
        if text.len() > STATE_JSON_BYTES_MAX {
            return Err(bug(format!("state of {} is over 16 KiB", entry.action)));
        }
        Ok(Some(text))
    };
    let before_json = render(entry.before.clone())?;
    let after_json = render(entry.after.clone())?;
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(format!("aud_{}", uuid::Uuid::new_v4().simple())),
            audit_log::at.eq(at),
            audit_log::actor_user_id.eq(entry.actor.map(|id| id.0)),
            audit_log::action.eq(&entry.action),
            audit_log::subject.eq(&entry.subject),
            audit_log::ip.eq(entry.ip),
            audit_log::request_id.eq(entry.request_id),
            audit_log::before_json.eq(before_json),
            audit_log::after_json.eq(after_json),
        ))
        .execute(conn)?;
    Ok(())
}

/// One row of the audit log as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// The subject's state before, when the action changed one.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The subject's state after.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

type AuditRow = (
    String,
    NaiveDateTime,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn parse_state(text: Option<String>) -> Option<serde_json::Value> {
    // Written by record_audit as JSON; a row that is not would be shown as a string.
    text.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Which rows of the audit log to read; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The actor's email address (any case).
    pub actor: Option<String>,
    /// The action, exactly (`job.replay`).
    pub action: Option<String>,
    /// The subject, exactly (an id, an email, …).
    pub subject: Option<String>,
    /// Rows at or after this instant.
    pub from: Option<NaiveDateTime>,
    /// Rows before this instant.
    pub to: Option<NaiveDateTime>,
}

/// A page of the audit log, newest first: up to `limit` rows (1..=100) older than
/// the row `before` (an audit id), and the cursor for the next page, if any.
///
/// # Errors
/// 422 `invalid_value` for a `limit` out of range (param `limit`) or an unknown
/// `before` id (param `before`); database errors.
pub fn list_audit_log(
    conn: &mut DbConnection,
    limit: u32,
    before: Option<&str>,
) -> Result<(Vec<AuditRecord>, Option<String>), AppError> {
    list_audit_log_where(conn, &AuditFilter::default(), limit, before)
}

/// [`list_audit_log`] narrowed by `filter`: the same page and cursor, only
/// rows that match.
///
/// # Errors
/// As [`list_audit_log`]; 422 `invalid_value` for an actor email no account
/// has (param `actor`), or a period whose `from` is not before its `to`
/// (param `from`); database errors.
pub fn list_audit_log_where(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    limit: u32,
    before: Option<&str>,
) -> Result<(Vec<AuditRecord>, Option<String>), AppError> {
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!("limit must be between 1 and {AUDIT_PAGE_MAX}"),
            Some("limit".into()),
        ));
    }
    let mut query = audit_log::table
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::actor_user_id,
            audit_log::action,
            audit_log::subject,
            audit_log::ip,
            audit_log::request_id,
            audit_log::before_json,
            audit_log::after_json,
        ))
        .order((audit_log::at.desc(), audit_log::id.desc()))
        // One more than asked, to know whether another page follows.
        .limit(i64::from(limit) + 1)
        .into_boxed();
    if let Some(email) = filter.actor.as_deref() {
        let email = email.trim().to_ascii_lowercase();
        let actor: Option<String> = users::table
            .filter(users::email.eq(&email))
            .select(users::id)
            .first(conn)
            .optional()?;
        let actor = actor.ok_or_else(|| {
            AppError::unprocessable(
                "invalid_value",
                format!("no account has the email {email}"),
                Some("actor".into()),
            )
        })?;
        query = query.filter(audit_log::actor_user_id.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(subject) = &filter.subject {
        query = query.filter(audit_log::subject.eq(subject.clone()));
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from >= to {
            return Err(AppError::unprocessable(
                "invalid_value",
                "from must be before to",
                Some("from".into()),
            ));
        }
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::at.lt(to));
    }
    if let Some(cursor) = before {
        let cursor_at = audit_log::table
            .find(cursor)
            .select(audit_log::at)
            .first::<NaiveDateTime>(conn)
            .optional()?
            .ok_or_else(|| {
                AppError::unprocessable(
                    "invalid_value",
                    "before must be the id of an audit log entry",
                    Some("before".into()),
                )
            })?;
        query = query.filter(
            audit_log::at.lt(cursor_at).or(audit_log::at
                .eq(cursor_at)
                .and(audit_log::id.lt(cursor.to_owned()))),
        );
    }
    let mut rows: Vec<AuditRow> = query.load(conn)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|row| row.0.clone())
    } else {
        None
    };
    let records = rows
        .into_iter()
        .map(
            |(id, at, actor_user_id, action, subject, ip, request_id, before, after)| AuditRecord {
                id,
                at: at.and_utc(),
                actor_user_id,
                action,
                subject,
                ip,
                request_id,
                before: parse_state(before),
                after: parse_state(after),
            },
        )
        .collect();
    Ok((records, next))
}

/// The email addresses of the actors `ids`, by user id (ids without an
/// account are left out).
///
/// # Errors
/// A database failure.
pub fn actor_emails(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let rows: Vec<(String, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::email))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The accounts with these email addresses, by address (addresses without
/// an account are left out): to link a recipient to their account.
///
/// # Errors
/// A database failure.
pub fn accounts_by_email(
    conn: &mut DbConnection,
    emails: &[&str],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let rows: Vec<(String, String)> = users::table
        .filter(users::email.eq_any(emails))
        .select((users::email, users::id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
