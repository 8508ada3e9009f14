//! API keys: long-lived bearer credentials for server-to-server use by sellers
//! and staff. The key is shown once; only its digest and public prefix are kept.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::schema::{api_keys, sessions, users};
use super::throttle::{email_at, LoginThrottle, Scope};
use super::totp_keys::TotpKeys;
use super::{tokens, totp, Caller, RequestContext, Role};
use crate::config::AuthSettings;
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;
use crate::http::text::{display_unfit, Lines};

/// Longest key name.
pub const API_KEY_NAME_CHARS_MAX: usize = 100;
/// Live (unrevoked) keys one user may hold.
pub const API_KEYS_PER_USER_MAX: i64 = 25;
/// Who may hold API keys (operators too, as everywhere); not buyers.
pub(crate) const API_KEY_ROLES: [Role; 3] = [Role::Seller, Role::Finance, Role::Support];

/// Longest (and default) life of a staff key: a leaked one stops working
/// within this, and `resolve_bearer` enforces it on keys from before expiry existed.
pub const STAFF_API_KEY_DAYS_MAX: u32 = 90;
/// Longest life a seller may ask for (a seller key without one does not expire).
pub const API_KEY_DAYS_MAX: u32 = 365;

/// What a client asks for.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub expires_in_days: Option<u32>,
    /// The session the request came with; `None` for an API key.
    pub session_id: Option<String>,
    /// The step up's code (staff).
    pub totp_code: Option<String>,
}

/// When a key of `role` created at `created_at` with `expires_at` stops
/// working: its own expiry, and for staff at most 90 days after creation.
pub(crate) fn effective_expiry(
    role: Role,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    let staff_max = role
        .is_staff()
        .then(|| created_at + TimeDelta::days(i64::from(STAFF_API_KEY_DAYS_MAX)));
    match (expires_at, staff_max) {
        (Some(own), Some(max)) => Some(own.min(max)),
        (own, max) => own.or(max),
    }
}

/// A new key: the only time `key` is ever shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key: String,
    pub created_at: DateTime<Utc>,
    /// After this the key answers 401 `api_key_expired`; `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key last authenticated a request, to the minute; `null`:
    /// never (or not since this was tracked).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The key's life in days: staff 1 to 90 (default 90), sellers 1 to 365 or none.
fn parse_expiry(role: Role, days: Option<u32>) -> Result<Option<u32>, AppError> {
    let max = if role.is_staff() {
        STAFF_API_KEY_DAYS_MAX
    } else {
        API_KEY_DAYS_MAX
    };
    let days = match days {
        None if role.is_staff() => return Ok(Some(STAFF_API_KEY_DAYS_MAX)),
        None => return Ok(None),
        Some(days) => days,
    };
    if !(1..=max).contains(&days) {
        return Err(AppError::unprocessable(
            "invalid_expiry",
            format!("expires_in_days must be between 1 and {max} for a {role} key"),
            Some("expires_in_days".into()),
        ));
    }
    Ok(Some(days))
}

fn step_up_required(message: &str) -> AppError {
    AppError::ForbiddenWith {
        code: "step_up_required",
        message: message.into(),
    }
}

/// The second factor a staff member gives to create a key: the request's
/// session was signed in with a TOTP code (it started after enrolment, and a
/// login after enrolment needs a code), and `code` is a fresh one (used once,
/// as at login; wrong codes count as failed logins for the account here).
fn step_up(
    conn: &mut DbConnection,
    caller: &Caller,
    request: &NewApiKey,
    settings: &AuthSettings,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let Some(session_id) = &request.session_id else {
        return Err(step_up_required(
            "staff create API keys from a session signed in with a TOTP code, not with an API key",
        ));
    };
    let (session_started, enrolled_at, stored): (
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<String>,
    ) = sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .select((
            sessions::created_at,
            users::totp_enrolled_at,
            users::totp_secret,
        ))
        .first(conn)?;
    let (Some(enrolled_at), Some(stored)) = (enrolled_at, stored) else {
        return Err(super::totp_enrollment_required());
    };
    if session_started <= enrolled_at {
        return Err(step_up_required(
            "this session was signed in before the second factor was enrolled: sign in again with a TOTP code",
        ));
    }
    let Some(code) = request
        .totp_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return Err(AppError::unprocessable(
            "totp_required",
            "creating a staff API key needs totp_code: a current code of your authenticator",
            Some("totp_code".into()),
        ));
    };
    let throttle = LoginThrottle::from_settings(settings);
    let at = email_at(&caller.email, context.ip.as_deref());
    if let Some(retry_after_s) = throttle.retry_after(conn, Scope::EmailAtAddress, &at, now)? {
        return Err(AppError::RateLimited { retry_after_s });
    }
    let keys = TotpKeys::load(conn, settings)?;
    if !totp::accept_login_code(conn, &keys, caller.user_id.as_str(), &stored, code, now)? {
        throttle.record_failure(conn, Scope::EmailAtAddress, &at, now)?;
        return Err(AppError::unprocessable(
            "totp_invalid",
            "the code does not match, or was already used; wait for the next one",
            Some("totp_code".into()),
        ));
    }
    Ok(())
}

fn parse_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > API_KEY_NAME_CHARS_MAX
        || display_unfit(name, Lines::Single).is_some()
    {
        return Err(AppError::unprocessable(
            "invalid_name",
            format!(
                "name must be 1 to {API_KEY_NAME_CHARS_MAX} characters, without control, format or line separator characters"
            ),
            Some("name".into()),
        ));
    }
    Ok(name.to_owned())
}

/// Creates a key for the caller; audited as `api_key.create`. Staff keys
/// expire within 90 days and need the step up (see [`NewApiKey`]).
///
/// # Errors
/// 403 for buyers; 422 `invalid_name` (param `name`), `invalid_expiry`
/// (param `expires_in_days`); for staff 403 `step_up_required`, 422
/// `totp_required` / `totp_invalid` (param `totp_code`), 429 after repeated
/// wrong codes; 409 `too_many_api_keys` past 25 live keys; database errors.
pub fn create_api_key(
    conn: &mut DbConnection,
    caller: &Caller,
    request: &NewApiKey,
    settings: &AuthSettings,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<ApiKeyCreated, AppError> {
    caller.require(&API_KEY_ROLES)?;
    let name = parse_name(&request.name)?;
    let days = parse_expiry(caller.role, request.expires_in_days)?;
    if caller.role.is_staff() {
        step_up(conn, caller, request, settings, context, now)?;
    }
    insert_key(conn, caller, name, days, context, now)
}

/// Issues a key without asking for a second factor: for tools that already
/// hold the database (the load bench), never for a request. The role and
/// expiry rules are those of [`create_api_key`]; audited as `api_key.create`.
///
/// # Errors
/// As [`create_api_key`], without the step up's.
pub fn issue_api_key(
    conn: &mut DbConnection,
    caller: &Caller,
    name: &str,
    expires_in_days: Option<u32>,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<ApiKeyCreated, AppError> {
    caller.require(&API_KEY_ROLES)?;
    let name = parse_name(name)?;
    let days = parse_expiry(caller.role, expires_in_days)?;
    insert_key(conn, caller, name, days, context, now)
}

fn insert_key(
    conn: &mut DbConnection,
    caller: &Caller,
    name: String,
    days: Option<u32>,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<ApiKeyCreated, AppError> {
    let expires_at = days.map(|days| now + TimeDelta::days(i64::from(days)));
    write_transaction(conn, |conn| {
        let live: i64 = api_keys::table
            .filter(api_keys::user_id.eq(caller.user_id.as_str()))
            .filter(api_keys::revoked_at.is_null())
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            )
            .count()
            .get_result(conn)?;
        if live >= API_KEYS_PER_USER_MAX {
            return Err(AppError::Conflict {
                code: "too_many_api_keys",
                message: format!(
                    "at most {API_KEYS_PER_USER_MAX} API keys may be live; revoke one first"
                ),
            });
        }
        let (key, prefix) = tokens::new_api_key();
        let id = format!("key_{}", uuid::Uuid::new_v4().simple());
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::id.eq(&id),
                api_keys::user_id.eq(caller.user_id.as_str()),
                api_keys::name.eq(&name),
                api_keys::prefix.eq(&prefix),
                api_keys::secret_hash.eq(tokens::digest(&key)),
                api_keys::created_at.eq(now),
                api_keys::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        record_audit_at(
            conn,
            AuditEntry::new("api_key.create", id.as_str())
                .actor(&caller.user_id)
                .context(context)
                .after(json!({
                    "name": name,
                    "prefix": prefix,
                    "expires_at": expires_at.map(|at| at.and_utc()),
                })),
            now,
        )?;
        Ok(ApiKeyCreated {
            id,
            name,
            prefix,
            key,
            created_at: now.and_utc(),
            expires_at: expires_at.map(|at| at.and_utc()),
        })
    })
}

/// The caller's live keys, newest first.
///
/// # Errors
/// 403 for buyers; database errors.
pub fn list_api_keys(
    conn: &mut DbConnection,
    caller: &Caller,
) -> Result<Vec<ApiKeyView>, AppError> {
    caller.require(&API_KEY_ROLES)?;
    type Row = (
        String,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = api_keys::table
        .filter(api_keys::user_id.eq(caller.user_id.as_str()))
        .filter(api_keys::revoked_at.is_null())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            api_keys::created_at,
            api_keys::expires_at,
            api_keys::last_used_at,
        ))
        .limit(API_KEYS_PER_USER_MAX)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, prefix, created_at, expires_at, last_used_at)| ApiKeyView {
                id,
                name,
                prefix,
                created_at: created_at.and_utc(),
                expires_at: effective_expiry(caller.role, created_at, expires_at)
                    .map(|at| at.and_utc()),
                last_used_at: last_used_at.map(|at| at.and_utc()),
            },
        )
        .collect())
}

/// Revokes one of the caller's keys; audited as `api_key.revoke`.
///
/// # Errors
/// 403 for buyers; 404 for a key that is not the caller's or already revoked
/// (the same answer, so ids of others' keys cannot be probed); database errors.
pub fn revoke_api_key(
    conn: &mut DbConnection,
    caller: &Caller,
    key_id: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    caller.require(&API_KEY_ROLES)?;
    write_transaction(conn, |conn| {
        let revoked = diesel::update(
            api_keys::table
                .find(key_id)
                .filter(api_keys::user_id.eq(caller.user_id.as_str()))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?;
        if revoked == 0 {
            return Err(AppError::NotFound {
                resource: "api key",
            });
        }
        record_audit_at(
            conn,
            AuditEntry::new("api_key.revoke", key_id)
                .actor(&caller.user_id)
                .context(context),
            now,
        )
    })
}
