//! The extractors that turn `Authorization: Bearer …` into a [`Caller`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::api_keys::effective_expiry;
use super::schema::{api_keys, sessions, users};
use super::tokens::{self, Bearer};
use super::{Caller, Role, UserId};
use crate::db::{DbConnection, DbPool};
use crate::error::AppError;
use crate::http::RequestId;

/// Which credential authenticated the request.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Session { session_id: String },
    ApiKey,
}

/// The outcome of authenticating a request, before the TOTP gate.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub caller: Caller,
    pub credential: Credential,
    /// Staff who have not enrolled TOTP may only enrol (and log out).
    pub totp_enrollment_pending: bool,
}

impl Authenticated {
    /// The caller, unless the TOTP gate holds them back.
    pub(crate) fn into_caller(self) -> Result<Caller, AppError> {
        if self.totp_enrollment_pending {
            return Err(super::totp_enrollment_required());
        }
        Ok(self.caller)
    }
}

/// Finds the live credential behind a bearer value; `None` for anything unknown,
/// expired or revoked, or of a disabled account (the caller cannot tell
/// which, and need not).
///
/// # Errors
/// The database failed, or a stored role is not one we know (a bug).
pub(crate) fn resolve_bearer(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<Authenticated>, AppError> {
    let found = match tokens::classify(token) {
        None => None,
        Some(Bearer::Session) => sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq(tokens::digest(token)))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            // Disabling revokes the sessions too; this holds if a row was missed.
            .filter(users::disabled_at.is_null())
            .select((
                sessions::id,
                users::id,
                users::email,
                users::role,
                users::totp_enrolled_at,
            ))
            .first::<(String, String, String, String, Option<NaiveDateTime>)>(conn)
            .optional()?
            .map(|(session_id, user_id, email, role, enrolled)| {
                (
                    Credential::Session { session_id },
                    user_id,
                    email,
                    role,
                    enrolled,
                )
            }),
        Some(Bearer::ApiKey { prefix }) => {
            type KeyRow = (
                String,
                String,
                NaiveDateTime,
                Option<NaiveDateTime>,
                Option<NaiveDateTime>,
                String,
                String,
                String,
                Option<NaiveDateTime>,
            );
            let found = api_keys::table
                .inner_join(users::table)
                .filter(api_keys::prefix.eq(prefix))
                .filter(api_keys::revoked_at.is_null())
                // A disabled account's keys are refused, not revoked: they
                // work again once an operator enables it.
                .filter(users::disabled_at.is_null())
                .select((
                    api_keys::secret_hash,
                    api_keys::id,
                    api_keys::created_at,
                    api_keys::expires_at,
                    api_keys::last_used_at,
                    users::id,
                    users::email,
                    users::role,
                    users::totp_enrolled_at,
                ))
                .first::<KeyRow>(conn)
                .optional()?
                .filter(|(secret_hash, ..)| {
                    tokens::digests_equal(secret_hash, &tokens::digest(token))
                });
            match found {
                None => None,
                Some((
                    _,
                    key_id,
                    created_at,
                    expires_at,
                    last_used_at,
                    user_id,
                    email,
                    role,
                    enrolled,
                )) => {
                    // Only the holder of the real key learns it expired.
                    let expiry = Role::parse(&role)
                        .and_then(|role| effective_expiry(role, created_at, expires_at));
                    if expiry.is_some_and(|at| at <= now) {
                        return Err(AppError::UnauthenticatedWith {
                            code: "api_key_expired",
                            message: "this API key has expired; create a new one".into(),
                        });
                    }
                    note_key_use(conn, &key_id, last_used_at, now);
                    Some((Credential::ApiKey, user_id, email, role, enrolled))
                }
            }
        }
    };
    let Some((credential, user_id, email, role, enrolled)) = found else {
        return Ok(None);
    };
    let role = Role::parse(&role)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown role {role:?} stored")))?;
    Ok(Some(Authenticated {
        totp_enrollment_pending: role.is_staff() && enrolled.is_none(),
        caller: Caller {
            user_id: UserId(user_id),
            email,
            role,
        },
        credential,
    }))
}

/// How stale a key's `last_used_at` may get: its owner wants to tell a key
/// in use from a forgotten one, not count requests, and a write on every
/// request of a busy integration would contend with real writes.
pub const API_KEY_LAST_USED_RESOLUTION_S: i64 = 60;

/// Records that key `key_id` authenticated a request at `now`, unless it
/// already did within [`API_KEY_LAST_USED_RESOLUTION_S`].
fn note_key_use(
    conn: &mut DbConnection,
    key_id: &str,
    last_used_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) {
    let fresh_after = now - chrono::TimeDelta::seconds(API_KEY_LAST_USED_RESOLUTION_S);
    if last_used_at.is_some_and(|at| at > fresh_after) {
        return;
    }
    // Conditional, so concurrent requests of one key write it once.
    let written = diesel::update(
        api_keys::table.find(key_id).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.le(fresh_after)),
        ),
    )
    .set(api_keys::last_used_at.eq(now))
    .execute(conn);
    // A bookkeeping write that fails must not refuse a valid key.
    if let Err(error) = written {
        tracing::warn!(%error, key_id, "could not record the API key's last use");
    }
}

/// The per-request memo, so several extractors in one handler cost one query.
#[derive(Clone)]
struct Memo(Option<Authenticated>);

/// The bearer value of the request; `Ok(None)` when there is no `Authorization`.
fn bearer(req: &HttpRequest) -> Result<Option<String>, AppError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AppError::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(AppError::Unauthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AppError::Unauthenticated);
    }
    if token.len() > tokens::BEARER_CHARS_MAX {
        return Err(AppError::Unauthenticated);
    }
    Ok(Some(token.to_owned()))
}

/// Authenticates the request: `Ok(None)` without credentials, 401 for bad ones.
async fn authenticate(req: &HttpRequest) -> Result<Option<Authenticated>, AppError> {
    if let Some(Memo(memo)) = req.extensions().get::<Memo>() {
        return Ok(memo.clone());
    }
    let Some(token) = bearer(req)? else {
        return Ok(None);
    };
    let pool = req
        .app_data::<web::Data<DbPool>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no database pool in app data")))?
        .clone();
    let now = crate::db::now();
    let found = crate::db::run(&pool, move |conn| resolve_bearer(conn, &token, now)).await?;
    let authenticated = found.ok_or(AppError::Unauthenticated)?;
    req.extensions_mut()
        .insert(Memo(Some(authenticated.clone())));
    Ok(Some(authenticated))
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            authenticate(&req)
                .await?
                .ok_or(AppError::Unauthenticated)?
                .into_caller()
        })
    }
}

/// The caller if the request carries credentials, `None` if it carries none.
/// Bad credentials are still a 401: a client that sent a token meant to use it.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(&req).await? {
                None => Ok(MaybeCaller(None)),
                Some(authenticated) => Ok(MaybeCaller(Some(authenticated.into_caller()?))),
            }
        })
    }
}

/// Like [`Caller`] but past the TOTP gate: only for enrolling and logging out.
impl FromRequest for Authenticated {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await?.ok_or(AppError::Unauthenticated) })
    }
}

/// Where a request came from, for audit rows: the peer address and request id.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's IP: the TCP peer, or the forwarded client when the peer is
    /// a trusted proxy (`server.trusted_proxies`).
    pub ip: Option<String>,
    /// The request's id, as echoed in `X-Request-Id`.
    pub request_id: Option<String>,
}

impl FromRequest for RequestContext {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(RequestContext {
            ip: crate::http::client_addr::client_ip(req).map(|ip| ip.to_string()),
            request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
        }))
    }
}

/// A browser's session: the caller behind a session token that the web layer
/// keeps in a cookie instead of an `Authorization` header.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub caller: Caller,
    pub session_id: String,
    /// Staff who have not enrolled a second factor yet.
    pub totp_enrollment_pending: bool,
}

/// The live session behind `token`; `None` for anything else (unknown,
/// expired, revoked, or an API key: keys never ride in cookies).
///
/// # Errors
/// A database failure.
pub fn browser_session(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<BrowserSession>, AppError> {
    if token.len() > tokens::BEARER_CHARS_MAX
        || !matches!(tokens::classify(token), Some(Bearer::Session))
    {
        return Ok(None);
    }
    Ok(
        resolve_bearer(conn, token, now)?.and_then(|found| match found.credential {
            Credential::Session { session_id } => Some(BrowserSession {
                caller: found.caller,
                session_id,
                totp_enrollment_pending: found.totp_enrollment_pending,
            }),
            Credential::ApiKey => None,
        }),
    )
}
