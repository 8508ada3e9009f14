//! Disabling an account and enabling it again (operators). A disabled
//! account's sessions are revoked at once, its API keys are refused by
//! `resolve_bearer` for as long as it stays disabled, and signing in is
//! refused with `account_disabled` after the right password.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::directory::{summary_of, UserSummary};
use super::schema::users;
use super::sessions::end_sessions;
use super::{Caller, RequestContext, UserId};
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;
use crate::http::text::{display_unfit, unfit_message, Lines};

/// Longest reason an operator may give.
pub const DISABLE_REASON_CHARS_MAX: usize = 500;

/// The reason, trimmed: required, one line, at most 500 characters.
fn parse_reason(raw: &str) -> Result<String, AppError> {
    let reason = raw.trim();
    let refuse = |message: String| {
        Err(AppError::unprocessable(
            "invalid_reason",
            message,
            Some("reason".into()),
        ))
    };
    if reason.is_empty() {
        return refuse("give the reason for disabling the account".into());
    }
    if reason.chars().count() > DISABLE_REASON_CHARS_MAX {
        return refuse(format!(
            "the reason must be at most {DISABLE_REASON_CHARS_MAX} characters"
        ));
    }
    if let Some(c) = display_unfit(reason, Lines::Single) {
        return refuse(unfit_message("reason", c));
    }
    Ok(reason.to_owned())
}

fn account_deleted() -> AppError {
    AppError::Conflict {
        code: "account_deleted",
        message: "this account was deleted by its owner; there is nothing to disable or enable"
            .into(),
    }
}

/// An operator disables `target` for `reason`: its live sessions are
/// revoked, its API keys and sign-ins refused until it is enabled again.
/// Audited as `user.disable` (before and after). Disabling a disabled
/// account changes nothing.
///
/// # Errors
/// 403 unless `actor` may (`policy::DISABLE_USER`); 409
/// `cannot_disable_self` or `account_deleted`; 404 for an unknown user; 422
/// `invalid_reason` (param `reason`); database errors.
pub fn disable_user(
    conn: &mut DbConnection,
    actor: &Caller,
    target: &UserId,
    reason: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<UserSummary, AppError> {
    actor.require(super::policy::DISABLE_USER)?;
    if actor.user_id == *target {
        return Err(AppError::Conflict {
            code: "cannot_disable_self",
            message: "operators cannot disable their own account; ask another operator".into(),
        });
    }
    let reason = parse_reason(reason)?;
    write_transaction(conn, |conn| {
        let before = summary_of(conn, target.as_str())?;
        if before.deleted_at.is_some() {
            return Err(account_deleted());
        }
        if before.disabled_at.is_some() {
            return Ok(before);
        }
        diesel::update(users::table.find(target.as_str()))
            .set((
                users::disabled_at.eq(now),
                users::disabled_reason.eq(&reason),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        let sessions_ended = end_sessions(conn, target.as_str(), None, now)?;
        record_audit_at(
            conn,
            AuditEntry::new("user.disable", target.as_str())
                .actor(&actor.user_id)
                .context(context)
                .before(json!({"disabled": false}))
                .after(json!({
                    "disabled": true,
                    "reason": reason,
                    "sessions_ended": sessions_ended,
                })),
            now,
        )?;
        summary_of(conn, target.as_str())
    })
}

/// An operator enables `target` again: it may sign in, and its API keys
/// (not its revoked sessions) work again. Audited as `user.enable` with
/// the reason it was disabled for. Enabling an enabled account changes
/// nothing.
///
/// # Errors
/// 403 unless `actor` may (`policy::DISABLE_USER`); 409 `account_deleted`;
/// 404 for an unknown user; database errors.
pub fn enable_user(
    conn: &mut DbConnection,
    actor: &Caller,
    target: &UserId,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<UserSummary, AppError> {
    actor.require(super::policy::DISABLE_USER)?;
    write_transaction(conn, |conn| {
        let before = summary_of(conn, target.as_str())?;
        if before.deleted_at.is_some() {
            return Err(account_deleted());
        }
        let Some(disabled_at) = before.disabled_at else {
            return Ok(before);
        };
        let reason: Option<String> = users::table
            .find(target.as_str())
            .select(users::disabled_reason)
            .first(conn)?;
        diesel::update(users::table.find(target.as_str()))
            .set((
                users::disabled_at.eq(None::<NaiveDateTime>),
                users::disabled_reason.eq(None::<String>),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        record_audit_at(
            conn,
            AuditEntry::new("user.enable", target.as_str())
                .actor(&actor.user_id)
                .context(context)
                .before(json!({
                    "disabled": true,
                    "disabled_at": disabled_at,
                    "reason": reason,
                }))
                .after(json!({"disabled": false})),
            now,
        )?;
        summary_of(conn, target.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_short_and_one_line() {
        assert_eq!(parse_reason("  fraud  ").unwrap(), "fraud");
        for bad in ["", "   ", "a\u{202E}b", "line\nbreak"] {
            assert_eq!(parse_reason(bad).unwrap_err().code(), "invalid_reason");
        }
        let long = "x".repeat(DISABLE_REASON_CHARS_MAX + 1);
        assert_eq!(parse_reason(&long).unwrap_err().code(), "invalid_reason");
        assert!(parse_reason(&"x".repeat(DISABLE_REASON_CHARS_MAX)).is_ok());
    }
}
