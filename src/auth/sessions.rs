//! Logging in and out: password (and TOTP) check, throttling, session tokens.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::password::{self, PASSWORD_CHARS_MAX};
use super::schema::sessions;
use super::throttle::{email_at, LoginThrottle, Scope};
use super::totp_keys::TotpKeys;
use super::users::{load_by_email, UserRow, UserView};
use super::{tokens, totp, Email, RequestContext, UserId};
use crate::config::AuthSettings;
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;

/// A login request, as plain values.
#[derive(Clone)]
pub struct LoginAttempt {
    pub email: String,
    pub password: String,
    pub totp_code: Option<String>,
    /// The client address (throttled) and request id (audited).
    pub context: RequestContext,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("email", &self.email)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// A new session: the bearer token (shown once, stored only as a digest).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionCreated {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

fn invalid_credentials() -> AppError {
    AppError::UnauthenticatedWith {
        code: "invalid_credentials",
        message: "the email or the password is not correct".into(),
    }
}

fn totp_required() -> AppError {
    AppError::UnauthenticatedWith {
        code: "totp_required",
        message: "this account has a second factor: send totp_code with the current 6-digit code"
            .into(),
    }
}

/// How long a new session of `role` lasts: staff sessions
/// `auth.staff_session_ttl`, everyone else's `auth.session_ttl`. The web
/// sign-in gives its cookie the same life.
pub fn session_ttl(settings: &AuthSettings, role: super::Role) -> std::time::Duration {
    if role.is_staff() {
        settings.staff_session_ttl
    } else {
        settings.session_ttl
    }
}

fn account_disabled() -> AppError {
    AppError::ForbiddenWith {
        code: "account_disabled",
        message: "this account has been disabled by the marketplace; contact support".into(),
    }
}

fn totp_invalid() -> AppError {
    AppError::UnauthenticatedWith {
        code: "totp_invalid",
        message: "the second-factor code is wrong, expired or already used".into(),
    }
}

/// Logs in: checks the throttle, the password and, once enrolled, the TOTP code;
/// creates a session valid for [`session_ttl`] of the account's role. `now` is the clock, injected
/// so tests can move time.
///
/// Unknown emails spend the same time (a dummy hash is verified) and get the
/// same answer as a wrong password; both count against the client address,
/// the email at that address and the email alone (see [`super::throttle`]:
/// an account with a second factor is never locked from every address). A
/// success clears the email's failures.
///
/// # Errors
/// 429 `rate_limited` with the seconds to wait, even for the right password;
/// 401 `invalid_credentials`, `totp_required`, `totp_invalid`; 403
/// `account_disabled` (only after the right password); database errors.
pub fn login(
    conn: &mut DbConnection,
    attempt: LoginAttempt,
    settings: &AuthSettings,
    now: NaiveDateTime,
) -> Result<SessionCreated, AppError> {
    let throttle = LoginThrottle::from_settings(settings);
    let email = Email::parse(&attempt.email).ok();
    let context = &attempt.context;

    let user = match &email {
        Some(email) => load_by_email(conn, email)?,
        None => None,
    };
    let mut wait: Option<u64> = None;
    if let Some(ip) = &context.ip {
        wait = wait.max(throttle.retry_after(conn, Scope::Address, ip, now)?);
    }
    if let Some(email) = &email {
        let at = email_at(email.as_str(), context.ip.as_deref());
        wait = wait.max(throttle.retry_after(conn, Scope::EmailAtAddress, &at, now)?);
        // The owner steps up with its second factor instead of being locked out.
        let has_second_factor = user.as_ref().is_some_and(|u| u.totp_enrolled_at.is_some());
        if !has_second_factor {
            wait = wait.max(throttle.account_wide().retry_after(
                conn,
                Scope::Email,
                email.as_str(),
                now,
            )?);
        }
    }
    if let Some(retry_after_s) = wait {
        tracing::warn!(ip = ?context.ip, retry_after_s, "login refused: locked out");
        return Err(AppError::RateLimited { retry_after_s });
    }

    let password_ok = match &user {
        _ if attempt.password.chars().count() > PASSWORD_CHARS_MAX => false,
        Some(user) => password::verify(&attempt.password, &user.password_hash),
        None => {
            password::verify_dummy(&attempt.password);
            false
        }
    };
    let user = match user {
        Some(user) if password_ok => user,
        other => {
            let error = invalid_credentials();
            return Err(refuse(
                conn,
                &throttle,
                context,
                email.as_ref(),
                other.as_ref(),
                error,
                now,
            ));
        }
    };

    if user.disabled_at.is_some() {
        // Only the owner of the password learns it: a guesser still gets
        // `invalid_credentials` above, counted by the throttle as before.
        tracing::info!(user_id = %user.id, "login refused: account disabled");
        return Err(account_disabled());
    }

    if user.totp_enrolled_at.is_some() {
        let code = attempt
            .totp_code
            .as_deref()
            .map(str::trim)
            .filter(|code| !code.is_empty());
        let Some(code) = code else {
            // Not a guess: the client has yet to ask for the code. Counted as nothing.
            return Err(totp_required());
        };
        let stored = user.totp_secret.as_deref().unwrap_or_default();
        let keys = TotpKeys::load(conn, settings)?;
        if !totp::accept_login_code(conn, &keys, &user.id, stored, code, now)? {
            return Err(refuse(
                conn,
                &throttle,
                context,
                email.as_ref(),
                Some(&user),
                totp_invalid(),
                now,
            ));
        }
    }

    if user.email_verified_at.is_none() {
        // Only the owner of the password gets this far: it reveals nothing
        // to someone guessing which addresses have accounts.
        return Err(AppError::ForbiddenWith {
            code: "email_not_verified",
            message: "confirm your email address first: follow the link we emailed, or ask for a new one with POST /v1/email_verifications".into(),
        });
    }
    let view = user.view()?;
    write_transaction(conn, |conn| {
        if let Some(email) = &email {
            throttle.reset(conn, Scope::Email, email.as_str())?;
            let at = email_at(email.as_str(), context.ip.as_deref());
            throttle.reset(conn, Scope::EmailAtAddress, &at)?;
        }
        open_session(conn, view, settings, context, now)
    })
}

/// Creates a session for `user` (audited as `login.success`); the caller
/// holds a write transaction and has checked the credentials.
///
/// # Errors
/// A database failure; a session TTL out of range (a bug in the settings).
pub(super) fn open_session(
    conn: &mut DbConnection,
    user: UserView,
    settings: &AuthSettings,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<SessionCreated, AppError> {
    let ttl = TimeDelta::from_std(session_ttl(settings, user.role))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session ttl: {e}")))?;
    let token = tokens::new_session_token();
    let expires_at = now + ttl;
    let session_id = format!("ses_{}", uuid::Uuid::new_v4().simple());
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(&session_id),
            sessions::user_id.eq(user.id.as_str()),
            sessions::token_hash.eq(tokens::digest(&token)),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expires_at),
            sessions::ip.eq(&context.ip),
        ))
        .execute(conn)?;
    record_audit_at(
        conn,
        AuditEntry::new("login.success", user.id.as_str())
            .actor(&user.id)
            .context(context)
            .after(json!({"session_id": session_id, "expires_at": expires_at.and_utc()})),
        now,
    )?;
    Ok(SessionCreated {
        token,
        expires_at: expires_at.and_utc(),
        user,
    })
}

/// Ends every live session of `user_id` but `keep` (the one making the
/// change, if any); returns how many ended. The caller holds a write
/// transaction.
///
/// # Errors
/// A database failure.
pub(super) fn end_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    now: NaiveDateTime,
) -> Result<i64, AppError> {
    let live = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now));
    let ended = match keep {
        Some(keep) => diesel::update(live.filter(sessions::id.ne(keep)))
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
        None => diesel::update(live)
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
    };
    Ok(i64::try_from(ended).unwrap_or(i64::MAX))
}

/// Records a failed login (throttle rows, `login.failure`, and `login.lockout`
/// when this failure locks a scope) and returns `error`, or the database error
/// that prevented recording it.
fn refuse(
    conn: &mut DbConnection,
    throttle: &LoginThrottle,
    context: &RequestContext,
    email: Option<&Email>,
    user: Option<&UserRow>,
    error: AppError,
    now: NaiveDateTime,
) -> AppError {
    let subject = match (user, email) {
        (Some(user), _) => user.id.clone(),
        (None, Some(email)) => format!("email:{email}"),
        (None, None) => "email:(not an email address)".to_owned(),
    };
    let recorded = write_transaction(conn, |conn| {
        let mut locked = Vec::new();
        if let Some(ip) = &context.ip {
            if throttle.record_failure(conn, Scope::Address, ip, now)? {
                locked.push(format!("address:{ip}"));
            }
        }
        if let Some(email) = email {
            let at = email_at(email.as_str(), context.ip.as_deref());
            if throttle.record_failure(conn, Scope::EmailAtAddress, &at, now)? {
                locked.push(format!(
                    "email:{email} at {}",
                    context.ip.as_deref().unwrap_or("-")
                ));
            }
            let account_wide = throttle.account_wide();
            account_wide.record_failure(conn, Scope::Email, email.as_str(), now)?;
            let failures = account_wide.failures(conn, Scope::Email, email.as_str(), now)?;
            if failures == i64::from(account_wide.failures_max)
                && user.is_none_or(|u| u.totp_enrolled_at.is_none())
            {
                locked.push(format!("email:{email}"));
            }
            // The owner hears of it once per window, when the failures from
            // everywhere reach the per-address limit.
            if let Some(user) = user {
                if failures == i64::from(throttle.failures_max) {
                    tell_owner(conn, user, email, failures, context, throttle, now)?;
                }
            }
        }
        record_audit_at(
            conn,
            AuditEntry::new("login.failure", subject.as_str())
                .context(context)
                .after(json!({"reason": error.code()})),
            now,
        )?;
        for locked_subject in locked {
            record_audit_at(
                conn,
                AuditEntry::new("login.lockout", locked_subject)
                    .context(context)
                    .after(json!({
                        "failures": throttle.failures_max,
                        "lockout_s": throttle.window.num_seconds(),
                    })),
                now,
            )?;
        }
        Ok::<_, AppError>(())
    });
    match recorded {
        Ok(()) => error,
        Err(database) => database,
    }
}

/// Queues the email telling an account's owner that someone is guessing its
/// password (cause: the user and the window's start, so once per window).
fn tell_owner(
    conn: &mut DbConnection,
    user: &UserRow,
    email: &Email,
    failures: i64,
    context: &RequestContext,
    throttle: &LoginThrottle,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    use crate::notify::{messages::SignInAttempts, Message};
    let window_minutes = throttle.window.num_minutes().max(1);
    let bucket = now.and_utc().timestamp() / throttle.window.num_seconds().max(1);
    let message = Message::SignInAttempts(SignInAttempts {
        failures,
        window_minutes,
        last_address: context.ip.clone().unwrap_or_else(|| "unknown".into()),
        has_second_factor: user.totp_enrolled_at.is_some(),
    });
    crate::notify::enqueue(
        conn,
        &format!("sign_in_attempts:{}:{bucket}", user.id),
        email.as_str(),
        &message,
    )?;
    Ok(())
}

/// Revokes a session (logout); audited as `session.logout`.
///
/// # Errors
/// 404 when the session is already revoked; database errors.
pub fn logout(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &UserId,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    write_transaction(conn, |conn| {
        let revoked = diesel::update(
            sessions::table
                .find(session_id)
                .filter(sessions::user_id.eq(user_id.as_str()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
        if revoked == 0 {
            return Err(AppError::NotFound {
                resource: "session",
            });
        }
        record_audit_at(
            conn,
            AuditEntry::new("session.logout", session_id)
                .actor(user_id)
                .context(context),
            now,
        )
    })
}
