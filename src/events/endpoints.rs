//! Webhook endpoints: registration, their secrets (sealed at rest, shown
//! once), who may manage which, and the addresses deliveries may go to.
//!
//! An endpoint is platform-wide (operators; every event, the platform's
//! payload) or one shop's (its owner; the events that shop sees, in its view).
//! It receives the events committed after its creation: `events_through_seq`
//! starts at the newest event's number and the dispatcher
//! ([`super::delivery`]) moves it on.
//!
//! Decisions:
//! - Secrets are sealed with AES-256-GCM under the TOTP secrets' keys
//!   (`auth.totp_encryption_keys`, or the development key the TOTP code keeps
//!   in `web_secrets`): one key set to configure and rotate, not two. The
//!   endpoint's id is the associated data, so a sealed secret copied onto
//!   another endpoint does not open. Signing needs the secret itself (HMAC),
//!   so it is encrypted, not hashed.
//! - A disabled endpoint is not fanned out to: when enabled again it receives
//!   events from then on (the period in between can be replayed).
//! - This module reads `shops` and `users` with plain SQL rather than
//!   importing `sellers` or `auth`'s directory: those modules emit events, and
//!   imports point one way.

use std::net::IpAddr;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde::Serialize;

use super::types::TypeFilter;
use crate::auth::{record_audit, AuditEntry, RequestContext, SealingKeys, UserId};
use crate::config::AuthSettings;
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// The tables of this file and of [`super::delivery`] (see the migration
/// `..._webhook_endpoints`).
pub mod schema {
    diesel::table! {
        webhook_endpoints (id) {
            id -> Text,
            shop_id -> Nullable<Text>,
            created_by -> Text,
            url -> Text,
            description -> Text,
            types -> Text,
            enabled -> Bool,
            disabled_reason -> Nullable<Text>,
            secret_sealed -> Text,
            previous_secret_sealed -> Nullable<Text>,
            previous_secret_until -> Nullable<Timestamp>,
            events_through_seq -> BigInt,
            failing_since -> Nullable<Timestamp>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        webhook_deliveries (id) {
            id -> Text,
            endpoint_id -> Text,
            event_id -> Text,
            event_seq -> Nullable<BigInt>,
            event_type -> Text,
            body -> Text,
            status -> Text,
            attempts -> Integer,
            failures -> Integer,
            next_attempt_at -> Timestamp,
            locked_until -> Nullable<Timestamp>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        webhook_attempts (delivery_id, attempt) {
            delivery_id -> Text,
            attempt -> Integer,
            at -> Timestamp,
            status_code -> Nullable<Integer>,
            latency_ms -> BigInt,
            error_kind -> Nullable<Text>,
            response_excerpt -> Nullable<Text>,
        }
    }

    diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
    diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
    diesel::allow_tables_to_appear_in_same_query!(
        webhook_endpoints,
        webhook_deliveries,
        webhook_attempts
    );
}

use schema::{webhook_deliveries, webhook_endpoints};

/// Longest URL an endpoint may have.
pub const URL_CHARS_MAX: usize = 2048;
/// Longest description.
pub const DESCRIPTION_CHARS_MAX: usize = 500;
/// Endpoints one owner (a shop, or the platform) may have.
pub const ENDPOINTS_PER_OWNER_MAX: i64 = 16;

/// An endpoint as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointRow {
    pub id: String,
    pub shop_id: Option<String>,
    pub created_by: String,
    pub url: String,
    pub description: String,
    pub types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret_sealed: String,
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub events_through_seq: i64,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl EndpointRow {
    /// Its type filter (stored as a JSON array of patterns checked on the way in).
    ///
    /// # Errors
    /// 500 for a stored value that is not such an array.
    pub fn filter(&self) -> Result<TypeFilter, AppError> {
        let patterns: Vec<String> = serde_json::from_str(&self.types)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("endpoint {} types: {e}", self.id)))?;
        TypeFilter::parse(&patterns, "types")
    }

    /// The answer's shape.
    ///
    /// # Errors
    /// As [`EndpointRow::filter`].
    pub fn view(&self) -> Result<EndpointView, AppError> {
        Ok(EndpointView {
            id: self.id.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            types: self.filter()?.patterns().to_vec(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            shop_id: self.shop_id.clone(),
            previous_secret_until: self.previous_secret_until,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A webhook endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// `we_…`.
    pub id: String,
    pub url: String,
    pub description: String,
    /// Event type filters (`order.*`, `payout.paid`); empty: every type.
    pub types: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled (`410 Gone`, failing for days, or by hand).
    pub disabled_reason: Option<String>,
    /// The shop whose events it receives; `null`: platform-wide.
    pub shop_id: Option<String>,
    /// Until when the secret before the last rotation still signs too.
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    pub previous_secret_until: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// The answer to creating an endpoint or rotating its secret: the only time
/// the secret is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// Who asks: operators manage every endpoint, a seller those of its shops.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: UserId,
    pub operator: bool,
    pub context: RequestContext,
}

/// What creating or changing an endpoint says (absent: unchanged, or the
/// default on creation).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    pub types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn invalid_url(message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_url", message, Some("url".to_owned()))
}

/// Whether deliveries may go to `ip`: a public unicast address, or any
/// address when `allow_private` (tests, local development).
pub fn address_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

/// Not private, loopback, link-local, unspecified, shared (CGNAT),
/// multicast, broadcast, documentation or reserved.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                // NAT64 and IPv4-compatible forms reach IPv4 addresses we cannot judge.
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)
                || v6.segments()[..6].iter().all(|s| *s == 0))
        }
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(v4) => v4.is_loopback(),
        url::Host::Ipv6(v6) => v6.is_loopback(),
    }
}

/// Checks an endpoint URL's form: https (http only to loopback, and only when
/// private addresses are allowed), a host, no credentials, no fragment, and
/// an IP literal host only if allowed. The name's addresses are checked by
/// [`super::delivery::resolve_checked`], at registration and at every delivery.
///
/// # Errors
/// 422 `invalid_url` (param `url`).
pub fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, AppError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.chars().count() > URL_CHARS_MAX {
        return Err(invalid_url(format!(
            "url must be 1 to {URL_CHARS_MAX} characters"
        )));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid_url(format!("url is not a URL: {e}")))?;
    let host = url
        .host()
        .ok_or_else(|| invalid_url("url must name a host"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private && is_loopback_host(&host) => {}
        "http" => return Err(invalid_url("url must be https")),
        other => return Err(invalid_url(format!("url must be https, not {other}"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_url(
            "url must not carry credentials (they would be stored and shown in clear)",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid_url("url must not have a #fragment"));
    }
    let literal = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = literal {
        if !address_allowed(ip, allow_private) {
            return Err(AppError::unprocessable(
                "refused_address",
                format!("{ip} is a private, loopback or reserved address; webhooks go to public addresses only"),
                Some("url".to_owned()),
            ));
        }
    }
    Ok(url)
}

fn check_description(description: &str) -> Result<String, AppError> {
    let description = description.trim();
    if description.chars().count() > DESCRIPTION_CHARS_MAX
        || description.chars().any(char::is_control)
    {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!("description is plain text of at most {DESCRIPTION_CHARS_MAX} characters"),
            Some("description".to_owned()),
        ));
    }
    Ok(description.to_owned())
}

// ---------------------------------------------------------------- secrets

/// The keys endpoint secrets are sealed and opened with: the TOTP secrets'
/// (see `auth::totp_keys`), each secret bound to its endpoint.
pub struct SecretKeys {
    keys: SealingKeys,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeys")
            .field("keys", &self.keys)
            .finish()
    }
}

fn associated_data(endpoint_id: &str) -> String {
    format!("bazaar webhook secret v1\0{endpoint_id}")
}

impl SecretKeys {
    /// The configured keys (the first seals), then the development key if one
    /// was made; without configured keys, the development key (made now if needed).
    ///
    /// # Errors
    /// A database failure, or a malformed key.
    pub fn load(conn: &mut DbConnection, settings: &AuthSettings) -> Result<Self, AppError> {
        SealingKeys::load(conn, settings).map(|keys| Self { keys })
    }

    /// `secret` sealed for `endpoint_id`: `v1:<key id>:<nonce hex>:<sealed hex>`.
    ///
    /// # Errors
    /// The cipher failed (it does not, for these sizes).
    pub fn seal(&self, endpoint_id: &str, secret: &str) -> Result<String, AppError> {
        self.keys.seal(&associated_data(endpoint_id), secret)
    }

    /// The secret sealed as `stored` on `endpoint_id`.
    ///
    /// # Errors
    /// 500 when no listed key opens it (named by id, never the key).
    pub fn open(&self, endpoint_id: &str, stored: &str) -> Result<String, AppError> {
        self.keys
            .open(
                &associated_data(endpoint_id),
                stored,
                &format!("the webhook secret of {endpoint_id}"),
            )
            .map(|unsealed| unsealed.plaintext)
    }

    /// The secrets that sign for `endpoint` at `now`: its current one, and the
    /// previous one while its grace lasts.
    ///
    /// # Errors
    /// As [`SecretKeys::open`].
    pub fn signing_secrets(
        &self,
        endpoint: &EndpointRow,
        now: NaiveDateTime,
    ) -> Result<Vec<String>, AppError> {
        let mut secrets = vec![self.open(&endpoint.id, &endpoint.secret_sealed)?];
        if let (Some(previous), Some(until)) = (
            &endpoint.previous_secret_sealed,
            endpoint.previous_secret_until,
        ) {
            if now < until {
                secrets.push(self.open(&endpoint.id, previous)?);
            }
        }
        Ok(secrets)
    }
}

// ---------------------------------------------------------------- access

#[derive(QueryableByName)]
struct OwnerRow {
    #[diesel(sql_type = Text)]
    owner_user_id: String,
}

/// The owner of shop `shop_id`, if the shop exists.
fn shop_owner(conn: &mut DbConnection, shop_id: &str) -> Result<Option<String>, AppError> {
    Ok(
        diesel::sql_query("SELECT owner_user_id FROM shops WHERE id = $1")
            .bind::<Text, _>(shop_id)
            .get_result::<OwnerRow>(conn)
            .optional()?
            .map(|r| r.owner_user_id),
    )
}

#[derive(QueryableByName)]
struct EmailRow {
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
}

/// Who hears that an endpoint was disabled: the shop's owner, or the
/// operator who created a platform endpoint. `None` when that account is gone.
///
/// # Errors
/// A database failure.
pub fn owner_email(
    conn: &mut DbConnection,
    endpoint: &EndpointRow,
) -> Result<Option<String>, AppError> {
    let user = match &endpoint.shop_id {
        Some(shop) => match shop_owner(conn, shop)? {
            Some(owner) => owner,
            None => return Ok(None),
        },
        None => endpoint.created_by.clone(),
    };
    Ok(diesel::sql_query("SELECT email FROM users WHERE id = $1")
        .bind::<Text, _>(&user)
        .get_result::<EmailRow>(conn)
        .optional()?
        .and_then(|r| r.email))
}

/// Checks that `actor` may manage endpoints of `shop_id` (`None`: the
/// platform's). Others' shops answer 404 (ids cannot be probed).
fn check_owner(
    conn: &mut DbConnection,
    actor: &Actor,
    shop_id: Option<&str>,
) -> Result<(), AppError> {
    match shop_id {
        None if actor.operator => Ok(()),
        None => Err(AppError::unprocessable(
            "missing_field",
            "shop_id: a seller's endpoint receives one of its shops' events",
            Some("shop_id".to_owned()),
        )),
        Some(shop) => match shop_owner(conn, shop)? {
            Some(owner) if actor.operator || owner == actor.user_id.as_str() => Ok(()),
            _ => Err(AppError::NotFound { resource: "shop" }),
        },
    }
}

/// The endpoint, if `actor` may manage it; 404 otherwise.
///
/// # Errors
/// 404 `not_found`, or a database failure.
pub fn endpoint_for(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<EndpointRow, AppError> {
    let row = webhook_endpoints::table
        .find(id)
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound {
            resource: "webhook_endpoint",
        })?;
    let allowed = actor.operator
        || match &row.shop_id {
            Some(shop) => shop_owner(conn, shop)?.as_deref() == Some(actor.user_id.as_str()),
            None => false,
        };
    if allowed {
        Ok(row)
    } else {
        Err(AppError::NotFound {
            resource: "webhook_endpoint",
        })
    }
}

fn audit(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    subject: &str,
    before: Option<&EndpointView>,
    after: Option<&EndpointView>,
) -> Result<(), AppError> {
    // Sellers' own integrations are theirs; staff changes are audited.
    if !actor.operator {
        return Ok(());
    }
    let mut entry = AuditEntry::new(action, subject)
        .actor(&actor.user_id)
        .context(&actor.context);
    if let Some(before) = before {
        entry = entry.before(serde_json::to_value(before).unwrap_or_default());
    }
    if let Some(after) = after {
        entry = entry.after(serde_json::to_value(after).unwrap_or_default());
    }
    record_audit(conn, entry)
}

// ---------------------------------------------------------------- writes

fn newest_seq(conn: &mut DbConnection) -> Result<i64, AppError> {
    use super::schema::events;
    Ok(events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

fn find(conn: &mut DbConnection, id: &str) -> Result<EndpointRow, AppError> {
    Ok(webhook_endpoints::table
        .find(id)
        .select(EndpointRow::as_select())
        .first(conn)?)
}

/// Registers an endpoint for `shop_id` (`None`: platform-wide); `url` was
/// checked by the caller (its form and its addresses). Answers its one
/// showing of the secret.
///
/// # Errors
/// 422 for bad fields or too many endpoints; 404 for a shop not the actor's.
pub fn create(
    conn: &mut DbConnection,
    keys: &SecretKeys,
    actor: &Actor,
    shop_id: Option<&str>,
    url: &url::Url,
    change: &EndpointChange,
) -> Result<EndpointWithSecret, AppError> {
    let description = check_description(change.description.as_deref().unwrap_or(""))?;
    let types = TypeFilter::parse(change.types.as_deref().unwrap_or(&[]), "types")?;
    db::write_transaction(conn, |conn| {
        check_owner(conn, actor, shop_id)?;
        let mut same_owner = webhook_endpoints::table.into_boxed();
        same_owner = match shop_id {
            Some(shop) => same_owner.filter(webhook_endpoints::shop_id.eq(shop)),
            None => same_owner.filter(webhook_endpoints::shop_id.is_null()),
        };
        let existing: i64 = same_owner.count().get_result(conn)?;
        if existing >= ENDPOINTS_PER_OWNER_MAX {
            return Err(AppError::unprocessable(
                "too_many_endpoints",
                format!("at most {ENDPOINTS_PER_OWNER_MAX} webhook endpoints per shop or for the platform"),
                None,
            ));
        }
        let id = format!("we_{}", uuid::Uuid::new_v4().simple());
        let secret = super::signing::new_secret();
        let now = db::now();
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::id.eq(&id),
                webhook_endpoints::shop_id.eq(shop_id),
                webhook_endpoints::created_by.eq(actor.user_id.as_str()),
                webhook_endpoints::url.eq(url.as_str()),
                webhook_endpoints::description.eq(&description),
                webhook_endpoints::types
                    .eq(serde_json::to_string(types.patterns()).unwrap_or_default()),
                webhook_endpoints::enabled.eq(change.enabled.unwrap_or(true)),
                webhook_endpoints::secret_sealed.eq(keys.seal(&id, &secret)?),
                webhook_endpoints::events_through_seq.eq(newest_seq(conn)?),
                webhook_endpoints::created_at.eq(now),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        let endpoint = find(conn, &id)?.view()?;
        audit(
            conn,
            actor,
            "webhook_endpoint.create",
            &id,
            None,
            Some(&endpoint),
        )?;
        Ok(EndpointWithSecret { endpoint, secret })
    })
}

/// The endpoints `actor` may manage: a seller's are its shops'; an operator
/// sees all, or one shop's (`shop_id`), or the platform's (`platform_only`).
///
/// # Errors
/// A database failure.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    shop_id: Option<&str>,
) -> Result<Vec<EndpointView>, AppError> {
    let mut query = webhook_endpoints::table
        .select(EndpointRow::as_select())
        .order((webhook_endpoints::created_at.desc(), webhook_endpoints::id))
        .into_boxed();
    if let Some(shop) = shop_id {
        check_owner(conn, actor, Some(shop))?;
        query = query.filter(webhook_endpoints::shop_id.eq(shop));
    } else if !actor.operator {
        let owned =
            diesel::sql_query("SELECT id AS owner_user_id FROM shops WHERE owner_user_id = $1")
                .bind::<Text, _>(actor.user_id.as_str())
                .load::<OwnerRow>(conn)?
                .into_iter()
                .map(|r| r.owner_user_id)
                .collect::<Vec<_>>();
        query = query.filter(webhook_endpoints::shop_id.eq_any(owned));
    }
    query.load(conn)?.iter().map(EndpointRow::view).collect()
}

/// Changes an endpoint's url, description, types or enabled state. Enabling
/// it again clears its disabled reason and its failing streak, and it
/// receives events from now on. `url` was checked by the caller.
///
/// # Errors
/// 404, 422 for bad fields.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    url: Option<&url::Url>,
    change: &EndpointChange,
) -> Result<EndpointView, AppError> {
    let description = change
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let types = change
        .types
        .as_deref()
        .map(|t| TypeFilter::parse(t, "types"))
        .transpose()?;
    db::write_transaction(conn, |conn| {
        let before = endpoint_for(conn, actor, id)?;
        let now = db::now();
        let target = webhook_endpoints::table.find(id);
        if let Some(url) = url {
            diesel::update(target)
                .set(webhook_endpoints::url.eq(url.as_str()))
                .execute(conn)?;
        }
        if let Some(description) = &description {
            diesel::update(target)
                .set(webhook_endpoints::description.eq(description))
                .execute(conn)?;
        }
        if let Some(types) = &types {
            diesel::update(target)
                .set(
                    webhook_endpoints::types
                        .eq(serde_json::to_string(types.patterns()).unwrap_or_default()),
                )
                .execute(conn)?;
        }
        match change.enabled {
            Some(true) if !before.enabled => {
                diesel::update(target)
                    .set((
                        webhook_endpoints::enabled.eq(true),
                        webhook_endpoints::disabled_reason.eq(None::<String>),
                        webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
                        webhook_endpoints::events_through_seq.eq(newest_seq(conn)?),
                    ))
                    .execute(conn)?;
            }
            Some(false) if before.enabled => {
                diesel::update(target)
                    .set((
                        webhook_endpoints::enabled.eq(false),
                        webhook_endpoints::disabled_reason.eq("disabled by hand"),
                    ))
                    .execute(conn)?;
            }
            _ => {}
        }
        diesel::update(target)
            .set(webhook_endpoints::updated_at.eq(now))
            .execute(conn)?;
        let after = find(conn, id)?.view()?;
        audit(
            conn,
            actor,
            "webhook_endpoint.update",
            id,
            Some(&before.view()?),
            Some(&after),
        )?;
        Ok(after)
    })
}

/// Deletes an endpoint with its deliveries and their log.
///
/// # Errors
/// 404, or a database failure.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    use schema::webhook_attempts;
    db::write_transaction(conn, |conn| {
        let before = endpoint_for(conn, actor, id)?;
        let deliveries = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .select(webhook_deliveries::id);
        diesel::delete(
            webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)),
        )
        .execute(conn)?;
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
            .execute(conn)?;
        diesel::delete(webhook_endpoints::table.find(id)).execute(conn)?;
        audit(
            conn,
            actor,
            "webhook_endpoint.delete",
            id,
            Some(&before.view()?),
            None,
        )
    })
}

/// A new secret; the current one keeps signing for `grace` as well (a
/// secret rotated twice within its grace drops the oldest).
///
/// # Errors
/// 404, or a database failure.
pub fn rotate_secret(
    conn: &mut DbConnection,
    keys: &SecretKeys,
    actor: &Actor,
    id: &str,
    grace: std::time::Duration,
) -> Result<EndpointWithSecret, AppError> {
    db::write_transaction(conn, |conn| {
        let before = endpoint_for(conn, actor, id)?;
        let secret = super::signing::new_secret();
        let now = db::now();
        let until = now + chrono::Duration::from_std(grace).unwrap_or_default();
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::secret_sealed.eq(keys.seal(id, &secret)?),
                webhook_endpoints::previous_secret_sealed.eq(Some(&before.secret_sealed)),
                webhook_endpoints::previous_secret_until.eq(Some(until)),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        let endpoint = find(conn, id)?.view()?;
        audit(
            conn,
            actor,
            "webhook_endpoint.rotate_secret",
            id,
            Some(&before.view()?),
            Some(&endpoint),
        )?;
        Ok(EndpointWithSecret { endpoint, secret })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_unless_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!address_allowed(ip, false), "{private}");
            assert!(address_allowed(ip, true), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(address_allowed(public.parse().unwrap(), false), "{public}");
        }
    }

    #[test]
    fn urls_must_be_https_except_to_loopback_when_allowed() {
        assert!(check_url("https://example.com/hooks", false).is_ok());
        assert!(check_url("http://example.com/hooks", false).is_err());
        assert!(check_url("http://127.0.0.1:9/hooks", false).is_err());
        assert!(check_url("http://127.0.0.1:9/hooks", true).is_ok());
        assert!(check_url("http://example.com/hooks", true).is_err());
        assert!(check_url("https://10.0.0.1/hooks", false).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("ftp://example.com/", false).is_err());
    }

    #[test]
    fn sealed_secrets_open_on_their_endpoint_only() {
        let keys = SecretKeys {
            keys: SealingKeys::from_hex(&[
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            ]),
        };
        let sealed = keys.seal("we_1", "whsec_abc").unwrap();
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(keys.open("we_1", &sealed).unwrap(), "whsec_abc");
        assert!(keys.open("we_2", &sealed).is_err());
        // Sealed for we_1 by the format's first implementation (fixed nonce):
        // the stored format did not change when the sealing moved to auth.
        let stored = "v1:61433cf2:0badc0ffee0ddf00d1234567:\
                      3d45f4be3fdd264300969b761fc88463e580aaf18b3c2279eb";
        assert_eq!(keys.open("we_1", stored).unwrap(), "whsec_abc");
    }
}
