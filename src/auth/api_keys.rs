//! API keys: long-lived bearer credentials for server-to-server use by sellers
//! and staff. The key is shown once; only its digest and public prefix are kept.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::schema::api_keys;
use super::{tokens, Caller, RequestContext, Role};
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;
use crate::http::text::{display_unfit, Lines};

/// Longest key name.
pub const API_KEY_NAME_CHARS_MAX: usize = 100;
/// Live (unrevoked) keys one user may hold.
pub const API_KEYS_PER_USER_MAX: i64 = 25;
/// Who may hold API keys (operators too, as everywhere); not buyers.
const API_KEY_ROLES: [Role; 3] = [Role::Seller, Role::Finance, Role::Support];

/// A new key: the only time `key` is ever shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
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

/// Creates a key for the caller; audited as `api_key.create`.
///
/// # Errors
/// 403 for buyers; 422 `invalid_name` (param `name`); 409 `too_many_api_keys`
/// past 25 live keys; database errors.
pub fn create_api_key(
    conn: &mut DbConnection,
    caller: &Caller,
    name: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<ApiKeyCreated, AppError> {
    caller.require(&API_KEY_ROLES)?;
    let name = parse_name(name)?;
    write_transaction(conn, |conn| {
        let live: i64 = api_keys::table
            .filter(api_keys::user_id.eq(caller.user_id.as_str()))
            .filter(api_keys::revoked_at.is_null())
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
            ))
            .execute(conn)?;
        record_audit_at(
            conn,
            AuditEntry::new("api_key.create", id.as_str())
                .actor(&caller.user_id)
                .context(context)
                .after(json!({"name": name, "prefix": prefix})),
            now,
        )?;
        Ok(ApiKeyCreated {
            id,
            name,
            prefix,
            key,
            created_at: now.and_utc(),
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
    let rows: Vec<(String, String, String, NaiveDateTime)> = api_keys::table
        .filter(api_keys::user_id.eq(caller.user_id.as_str()))
        .filter(api_keys::revoked_at.is_null())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            api_keys::created_at,
        ))
        .limit(API_KEYS_PER_USER_MAX)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, prefix, created_at)| ApiKeyView {
            id,
            name,
            prefix,
            created_at: created_at.and_utc(),
        })
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
