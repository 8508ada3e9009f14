//! The staff's view of accounts: finding users (by part of the address,
//! role, staleness; paged newest first) and one user's details (sign-ins,
//! live sessions, API keys, disabled state). `GET /v1/users/search`,
//! `GET /v1/users/{id}` and the console's user pages all call these.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::api_keys::effective_expiry;
use super::schema::{api_keys, sessions, users};
use super::{Caller, Role, UserId};
use crate::db::DbConnection;
use crate::error::AppError;

/// Users on one page when `limit` is not given.
pub const USERS_PAGE_DEFAULT: u32 = 50;
/// Most users on one page.
pub const USERS_PAGE_MAX: u32 = 200;
/// Longest address fragment searched for (an address is at most 254).
pub const EMAIL_FILTER_CHARS_MAX: usize = 254;
/// Most live sessions and most API keys one user's details list, newest
/// first (a user holds at most 25 live keys; revoked ones pile up).
pub const DETAILS_ROWS_MAX: i64 = 100;

/// A search of the users, as the API's query and the console's form give
/// it: every field optional, empty meaning "any".
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of the address, in any case.
    #[serde(default)]
    pub email_contains: Option<String>,
    /// `buyer`, `seller`, `operator`, `finance` or `support`.
    #[serde(default)]
    pub role: Option<String>,
    /// Only stale accounts: not deleted, not disabled, and nobody signed in
    /// for `auth.stale_after_days` (counted from creation if never).
    #[serde(default)]
    pub stale: bool,
    /// Users per page (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_after` of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// A position in the list: the last user seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    created_at: NaiveDateTime,
    id: String,
}

impl Cursor {
    fn of(user: &UserSummary) -> String {
        format!(
            "{}.{}",
            user.created_at.timestamp_micros(),
            user.id.as_str()
        )
    }

    fn parse(raw: &str) -> Result<Self, AppError> {
        let invalid = || {
            AppError::unprocessable(
                "invalid_cursor",
                "after must be the next_after of a previous page",
                Some("after".into()),
            )
        };
        let (micros, id) = raw.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let created_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(invalid)?
            .naive_utc();
        if id.is_empty() || id.len() > 64 {
            return Err(invalid());
        }
        Ok(Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// A search, parsed.
#[derive(Debug)]
struct Filter {
    email_contains: Option<String>,
    role: Option<Role>,
    stale: bool,
    limit: u32,
    after: Option<Cursor>,
}

/// A role named in a form or a query, or 422 `invalid_role` (param `role`).
///
/// # Errors
/// 422 `invalid_role` for a name that is not a role.
pub fn parse_role(raw: &str) -> Result<Role, AppError> {
    Role::parse(raw.trim()).ok_or_else(|| {
        AppError::unprocessable(
            "invalid_role",
            "choose a role: buyer, seller, operator, finance or support",
            Some("role".into()),
        )
    })
}

impl TryFrom<&UserSearch> for Filter {
    type Error = AppError;

    fn try_from(search: &UserSearch) -> Result<Self, AppError> {
        let email_contains = search
            .email_contains
            .as_deref()
            .map(|text| text.trim().to_lowercase())
            .filter(|text| !text.is_empty());
        if email_contains
            .as_ref()
            .is_some_and(|text| text.chars().count() > EMAIL_FILTER_CHARS_MAX)
        {
            return Err(AppError::unprocessable(
                "invalid_email_filter",
                format!("search for at most {EMAIL_FILTER_CHARS_MAX} characters of an address"),
                Some("email_contains".into()),
            ));
        }
        let role = match search.role.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(parse_role(raw)?),
        };
        let limit = search.limit.unwrap_or(USERS_PAGE_DEFAULT);
        if !(1..=USERS_PAGE_MAX).contains(&limit) {
            return Err(AppError::unprocessable(
                "invalid_limit",
                format!("limit must be between 1 and {USERS_PAGE_MAX}"),
                Some("limit".into()),
            ));
        }
        let after = match search.after.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Cursor::parse(raw)?),
        };
        Ok(Self {
            email_contains,
            role,
            stale: search.stale,
            limit,
            after,
        })
    }
}

/// A user as the staff's lists show them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// The newest session's creation; `null`: never signed in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Set while an operator keeps the account disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Set once the owner deleted the account (its address is replaced).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A page of users, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub data: Vec<UserSummary>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// A live session, as staff see it (never its token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionSummary {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The client address it was signed in from, if known.
    pub ip: Option<String>,
}

/// One of a user's API keys, as staff see it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserApiKey {
    pub name: String,
    /// The public part after `bzk_`.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working (staff keys at most 90 days); `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One user's account for staff: `GET /v1/users/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserDetails {
    #[serde(flatten)]
    pub user: UserSummary,
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Whether signing in needs a code of an authenticator app.
    pub totp_enrolled: bool,
    /// Why an operator disabled the account, while it is disabled.
    pub disabled_reason: Option<String>,
    /// Live sessions (not revoked, not expired), newest first.
    pub sessions: Vec<SessionSummary>,
    /// Every API key, revoked ones too, newest first.
    pub api_keys: Vec<UserApiKey>,
}

type SummaryRow = (
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

type Backend = <DbConnection as diesel::Connection>::Backend;

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// The instant before which an account without a sign-in since is stale.
pub(super) fn stale_cutoff(stale_after_days: u32, now: NaiveDateTime) -> NaiveDateTime {
    now - TimeDelta::days(i64::from(stale_after_days))
}

/// `text` as a LIKE pattern matching it anywhere, `\`, `%` and `_` escaped
/// (the query says `ESCAPE '\'`; MultiConnection has no `ilike`, and the
/// addresses are stored lowercase).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The newest session's creation of each of `ids`.
fn last_sign_ins(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<HashMap<String, NaiveDateTime>, AppError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Option<NaiveDateTime>)> = sessions::table
        .filter(sessions::user_id.eq_any(ids))
        .group_by(sessions::user_id)
        .select((sessions::user_id, diesel::dsl::max(sessions::created_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect())
}

fn summaries(conn: &mut DbConnection, rows: Vec<SummaryRow>) -> Result<Vec<UserSummary>, AppError> {
    let ids: Vec<String> = rows.iter().map(|row| row.0.clone()).collect();
    let last = last_sign_ins(conn, &ids)?;
    rows.into_iter()
        .map(|(id, email, role, created_at, disabled_at, deleted_at)| {
            let role = Role::parse(&role).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("unknown role {role:?} stored"))
            })?;
            Ok(UserSummary {
                last_sign_in_at: last.get(&id).copied().map(utc),
                id: UserId(id),
                email,
                role,
                created_at: utc(created_at),
                disabled_at: disabled_at.map(utc),
                deleted_at: deleted_at.map(utc),
            })
        })
        .collect()
}

/// Users matching `search`, newest first, a page at a time. Stale accounts
/// are those not deleted, not disabled, created before `stale_after_days`
/// ago and with no session created since.
///
/// # Errors
/// 403 unless `caller` may find users (`policy::FIND_USERS`); 422
/// `invalid_role`, `invalid_email_filter`, `invalid_limit`,
/// `invalid_cursor` (each naming its parameter); database errors.
pub fn search_users(
    conn: &mut DbConnection,
    caller: &Caller,
    search: &UserSearch,
    stale_after_days: u32,
    now: NaiveDateTime,
) -> Result<UserPage, AppError> {
    caller.require(super::policy::FIND_USERS)?;
    let filter = Filter::try_from(search)?;
    let mut query: users::BoxedQuery<'_, Backend> = users::table.into_boxed();
    if let Some(text) = &filter.email_contains {
        query = query.filter(users::email.like(contains_pattern(text)).escape('\\'));
    }
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if filter.stale {
        let cutoff = stale_cutoff(stale_after_days, now);
        let signed_in_since = sessions::table
            .filter(sessions::created_at.ge(cutoff))
            .select(sessions::user_id);
        query = query
            .filter(users::deleted_at.is_null())
            .filter(users::disabled_at.is_null())
            .filter(users::created_at.lt(cutoff))
            .filter(diesel::dsl::not(users::id.eq_any(signed_in_since)));
    }
    if let Some(after) = &filter.after {
        // `(created_at, id) < (t, x)` with a leading range the index serves.
        query = query.filter(
            users::created_at.le(after.created_at).and(
                users::created_at
                    .lt(after.created_at)
                    .or(users::id.lt(after.id.clone())),
            ),
        );
    }
    let limit = usize::try_from(filter.limit).expect("limit was checked small");
    let rows: Vec<SummaryRow> = query
        .order((users::created_at.desc(), users::id.desc()))
        .limit(i64::from(filter.limit) + 1)
        .select((
            users::id,
            users::email,
            users::role,
            users::created_at,
            users::disabled_at,
            users::deleted_at,
        ))
        .load(conn)?;
    let more = rows.len() > limit;
    let data = summaries(conn, rows.into_iter().take(limit).collect())?;
    let next_after = if more {
        data.last().map(Cursor::of)
    } else {
        None
    };
    Ok(UserPage { data, next_after })
}

/// One user's summary, by id.
///
/// # Errors
/// 404 for an unknown user; database errors.
pub(super) fn summary_of(conn: &mut DbConnection, id: &str) -> Result<UserSummary, AppError> {
    let row: SummaryRow = users::table
        .find(id)
        .select((
            users::id,
            users::email,
            users::role,
            users::created_at,
            users::disabled_at,
            users::deleted_at,
        ))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { resource: "user" })?;
    summaries(conn, vec![row])?
        .pop()
        .ok_or(AppError::NotFound { resource: "user" })
}

/// A user's account as staff see it: role, dates, second factor, disabled
/// state, live sessions and API keys.
///
/// # Errors
/// 403 unless `caller` may find users; 404 for an unknown user; database
/// errors.
pub fn user_details(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &UserId,
    now: NaiveDateTime,
) -> Result<UserDetails, AppError> {
    caller.require(super::policy::FIND_USERS)?;
    let user = summary_of(conn, id.as_str())?;
    let (email_verified_at, totp_enrolled_at, disabled_reason): (
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<String>,
    ) = users::table
        .find(id.as_str())
        .select((
            users::email_verified_at,
            users::totp_enrolled_at,
            users::disabled_reason,
        ))
        .first(conn)?;
    let sessions: Vec<(NaiveDateTime, NaiveDateTime, Option<String>)> = sessions::table
        .filter(sessions::user_id.eq(id.as_str()))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(DETAILS_ROWS_MAX)
        .select((sessions::created_at, sessions::expires_at, sessions::ip))
        .load(conn)?;
    type KeyRow = (
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let keys: Vec<KeyRow> = api_keys::table
        .filter(api_keys::user_id.eq(id.as_str()))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(DETAILS_ROWS_MAX)
        .select((
            api_keys::name,
            api_keys::prefix,
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::expires_at,
            api_keys::revoked_at,
        ))
        .load(conn)?;
    let role = user.role;
    Ok(UserDetails {
        email_verified_at: email_verified_at.map(utc),
        totp_enrolled: totp_enrolled_at.is_some(),
        disabled_reason: user.disabled_at.and(disabled_reason),
        sessions: sessions
            .into_iter()
            .map(|(created_at, expires_at, ip)| SessionSummary {
                created_at: utc(created_at),
                expires_at: utc(expires_at),
                ip,
            })
            .collect(),
        api_keys: keys
            .into_iter()
            .map(
                |(name, prefix, created_at, last_used_at, expires_at, revoked_at)| UserApiKey {
                    name,
                    prefix,
                    created_at: utc(created_at),
                    last_used_at: last_used_at.map(utc),
                    expires_at: effective_expiry(role, created_at, expires_at).map(utc),
                    revoked_at: revoked_at.map(utc),
                },
            )
            .collect(),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let user = UserSummary {
            id: UserId("usr_abc".into()),
            email: "a@example.com".into(),
            role: Role::Buyer,
            created_at: DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap(),
            last_sign_in_at: None,
            disabled_at: None,
            deleted_at: None,
        };
        let cursor = Cursor::parse(&Cursor::of(&user)).unwrap();
        assert_eq!(cursor.id, "usr_abc");
        assert_eq!(cursor.created_at, user.created_at.naive_utc());
        for bad in ["", "x", "12", "abc.usr_x", "12."] {
            assert_eq!(Cursor::parse(bad).unwrap_err().code(), "invalid_cursor");
        }
    }

    #[test]
    fn like_wildcards_in_the_search_match_themselves() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
