//! Delivering events to webhook endpoints: the dispatcher (fan-out from the
//! feed into one delivery per event and endpoint, then sending what is due),
//! the sender (Standard Webhooks, through an address check no DNS answer can
//! dodge) and the delivery log.
//!
//! Decisions:
//! - Nothing happens in the fact's transaction: the dispatcher reads the feed
//!   after an endpoint's cursor (`events_through_seq`) and, in one
//!   transaction, inserts the deliveries and moves the cursor, so an event
//!   reaches an endpoint's queue exactly once. Several processes may run it:
//!   an endpoint's row is locked (`SKIP LOCKED`) while its events fan out,
//!   and a due delivery is claimed with a lease before it is sent.
//! - Standard Webhooks semantics: `webhook-id` is the event's id on every
//!   attempt (receivers deduplicate by it); the body is fixed at fan-out and
//!   only `webhook-timestamp` and the signature change between attempts.
//! - The address a delivery connects to is the one checked: names are
//!   resolved by our own resolver, which drops refused addresses, so a DNS
//!   answer that changes between the check and the connection (rebinding)
//!   cannot reach a private address. No proxy, no redirects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};

use super::endpoints::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use super::endpoints::{self, Actor, EndpointRow, SecretKeys};
use super::feed::{self, Audience, FeedEvent, FeedQuery};
use crate::config::{AuthSettings, OutgoingWebhookSettings};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::http::metrics::WebhookDeliveryStats;

/// Most bytes of an answer read (the rest is not waited for).
pub const ANSWER_BYTES_MAX: usize = 4096;
/// Most bytes of an answer kept in the log.
pub const EXCERPT_BYTES_MAX: usize = 512;
/// Events fanned out to one endpoint per transaction.
const FAN_OUT_PAGE: i64 = 500;
/// Deliveries claimed per pass at most.
const CLAIM_BATCH: i64 = 128;
/// Attempts in flight at once across endpoints; a pass claims only what fits,
/// so a slow receiver holds its own deliveries, not the queue.
const IN_FLIGHT_MAX: usize = 256;
/// Attempts recorded per transaction at most.
const RECORD_BATCH: usize = 256;
/// The wait between passes for a while after one found work: events keep
/// coming in a stream, and waiting the full poll interval for each would add
/// half of it to every delivery's lag.
const BUSY_POLL: Duration = Duration::from_millis(10);
/// How long after a pass found work the dispatcher keeps polling at [`BUSY_POLL`].
const BUSY_FOR: Duration = Duration::from_secs(1);
/// The longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// Events one replay may queue.
pub const REPLAY_EVENTS_MAX: usize = 10_000;
/// Deliveries one page of the log shows at most.
pub const DELIVERIES_PAGE_MAX: i64 = 100;

// ---------------------------------------------------------------- fan-out

/// The body every attempt of one event's delivery sends.
fn body_of(kind: &str, occurred_at: NaiveDateTime, data: &Value) -> String {
    json!({"type": kind, "timestamp": db::rfc3339(occurred_at), "data": data}).to_string()
}

fn insert_delivery(
    conn: &mut DbConnection,
    endpoint_id: &str,
    event_id: &str,
    event_seq: Option<i64>,
    kind: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let id = format!("wd_{}", uuid::Uuid::new_v4().simple());
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(&id),
            webhook_deliveries::endpoint_id.eq(endpoint_id),
            webhook_deliveries::event_id.eq(event_id),
            webhook_deliveries::event_seq.eq(event_seq),
            webhook_deliveries::event_type.eq(kind),
            webhook_deliveries::body.eq(body),
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::failures.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

fn audience_of(endpoint: &EndpointRow) -> Audience {
    match &endpoint.shop_id {
        Some(shop) => Audience::Shops(vec![shop.clone()]),
        None => Audience::Platform,
    }
}

/// The endpoint's row, locked for this transaction; `None` when another
/// process holds it (PostgreSQL) or it is gone.
fn lock_endpoint(conn: &mut DbConnection, id: &str) -> Result<Option<EndpointRow>, AppError> {
    if let DbConnection::Postgresql(pg) = conn {
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = Text)]
            #[allow(dead_code)] // only its presence matters
            id: String,
        }
        let locked = diesel::sql_query(
            "SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind::<Text, _>(id)
        .get_result::<Locked>(pg)
        .optional()?;
        if locked.is_none() {
            return Ok(None);
        }
    }
    Ok(webhook_endpoints::table
        .find(id)
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?)
}

/// One delivery of each of `events` to an endpoint, in the caller's transaction.
fn queue_deliveries(
    conn: &mut DbConnection,
    endpoint_id: &str,
    events: &[FeedEvent],
    now: NaiveDateTime,
) -> Result<(), AppError> {
    for event in events {
        let body = body_of(&event.kind, event.occurred_at, &event.data);
        insert_delivery(
            conn,
            endpoint_id,
            &event.id,
            Some(event.seq),
            &event.kind,
            &body,
            now,
        )?;
    }
    Ok(())
}

/// Moves every enabled endpoint's cursor over the events committed since,
/// queueing one delivery each; returns how many were queued.
///
/// # Errors
/// A database failure.
pub fn fan_out(conn: &mut DbConnection) -> Result<usize, AppError> {
    use super::schema::events;
    let newest: i64 = events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    let behind: Vec<String> = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::events_through_seq.lt(newest))
        .select(webhook_endpoints::id)
        .load(conn)?;
    let mut queued = 0;
    for id in behind {
        queued += db::write_transaction(conn, |conn| {
            let Some(endpoint) = lock_endpoint(conn, &id)? else {
                return Ok::<_, AppError>(0);
            };
            if !endpoint.enabled {
                return Ok(0);
            }
            let page = feed::read(
                conn,
                &audience_of(&endpoint),
                &FeedQuery {
                    after: endpoint.events_through_seq,
                    types: endpoint.filter()?,
                    limit: FAN_OUT_PAGE,
                },
            )?;
            if page.data.is_empty() {
                return Ok(0);
            }
            queue_deliveries(conn, &endpoint.id, &page.data, db::now())?;
            diesel::update(webhook_endpoints::table.find(&endpoint.id))
                .set(webhook_endpoints::events_through_seq.eq(page.next_after))
                .execute(conn)?;
            Ok(page.data.len())
        })?;
    }
    Ok(queued)
}

// ---------------------------------------------------------------- claiming

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub event_id: String,
    pub body: String,
    pub url: String,
    pub endpoint_id: String,
    /// The secrets that sign it (the previous one too during its grace).
    pub secrets: Vec<String>,
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Claims up to `limit` due deliveries of enabled endpoints until `lease`
/// ends (another process takes over one whose sender died).
///
/// # Errors
/// A database failure, or a secret that does not open.
pub fn claim(
    conn: &mut DbConnection,
    auth: &AuthSettings,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Due>, AppError> {
    let now = db::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    // Placeholders in the order they appear: SQLite numbers `$n` by first
    // appearance, not by n.
    let sql = |locking: &str| {
        format!(
            "UPDATE webhook_deliveries SET locked_until = $1, updated_at = $2
             WHERE id IN (SELECT d.id FROM webhook_deliveries d
                          JOIN webhook_endpoints e ON e.id = d.endpoint_id
                          WHERE d.status = 'pending' AND d.next_attempt_at <= $2
                            AND (d.locked_until IS NULL OR d.locked_until < $2)
                            AND e.enabled = TRUE
                          ORDER BY d.next_attempt_at LIMIT $3 {locking})
             RETURNING id"
        )
    };
    let claimed: Vec<ClaimedId> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(sql("FOR UPDATE OF d SKIP LOCKED"))
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
        DbConnection::Sqlite(_) => db::write_transaction(conn, |conn| {
            let DbConnection::Sqlite(lite) = conn else {
                unreachable!("matched above")
            };
            diesel::sql_query(sql(""))
                .bind::<Timestamp, _>(until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(lite)
        })?,
    };
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // The keys only when something is due: an idle pass stays one query.
    let keys = SecretKeys::load(conn, auth)?;
    let ids: Vec<String> = claimed.into_iter().map(|c| c.id).collect();
    let rows: Vec<(String, String, String, EndpointRow)> = webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::body,
            EndpointRow::as_select(),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, event_id, body, endpoint)| {
            Ok(Due {
                id,
                event_id,
                body,
                url: endpoint.url.clone(),
                endpoint_id: endpoint.id.clone(),
                secrets: keys.signing_secrets(&endpoint, now)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- sending

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// `None`: delivered (2xx). Otherwise `timeout`, `connect`,
    /// `refused_address`, `dns`, `status`, `request`, `invalid_url`.
    pub error_kind: Option<&'static str>,
    pub excerpt: Option<String>,
    /// A 429's or 503's `Retry-After`, capped.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    fn failed(kind: &'static str, started: Instant, detail: Option<String>) -> Self {
        Self {
            status_code: None,
            latency_ms: elapsed_ms(started),
            error_kind: Some(kind),
            excerpt: detail,
            retry_after: None,
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// The error our resolver gives for a name with no allowed address.
#[derive(Debug)]
struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to refused addresses", self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// Resolves `host` and keeps only allowed addresses.
///
/// # Errors
/// The name does not resolve (`dns`), or resolves only to refused addresses.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ResolveError::Unresolved)?
        .collect();
    if found.is_empty() {
        return Err(ResolveError::Unresolved);
    }
    // Every address must pass: a name answering one public and one private
    // address would otherwise reach the private one on a retry.
    if found
        .iter()
        .any(|a| !endpoints::address_allowed(a.ip(), allow_private))
    {
        return Err(ResolveError::Refused);
    }
    Ok(found)
}

/// Why a name gave no address to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    Unresolved,
    Refused,
}

/// reqwest's resolver: [`resolve_checked`], so the connection goes to a
/// checked address only.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            match resolve_checked(&host, 0, allow_private).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(ResolveError::Refused) => {
                    Err(Box::new(RefusedAddress(host)) as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(ResolveError::Unresolved) => Err(format!("{host} does not resolve").into()),
            }
        })
    }
}

/// The HTTP client deliveries use: our resolver, no proxy, no redirects,
/// the web's root certificates, the configured timeout.
///
/// # Errors
/// The TLS configuration could not be built.
pub fn client(settings: &OutgoingWebhookSettings) -> anyhow::Result<reqwest::Client> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .dns_resolver(Arc::new(CheckedResolver {
            allow_private: settings.allow_private_addresses,
        }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .user_agent("Bazaar-Webhooks/1")
        .build()?)
}

fn caused_by_refusal(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<RefusedAddress>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    if !matches!(response.status().as_u16(), 429 | 503) {
        return None;
    }
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(RETRY_AFTER_MAX))
}

/// One attempt: signs `due` now and POSTs it; never follows a redirect,
/// reads at most [`ANSWER_BYTES_MAX`] of the answer.
pub async fn send(
    client: &reqwest::Client,
    settings: &OutgoingWebhookSettings,
    due: &Due,
) -> Outcome {
    let started = Instant::now();
    // The form again (the URL may predate a configuration change), and an IP
    // literal, which no resolver sees.
    if let Err(error) = endpoints::check_url(&due.url, settings.allow_private_addresses) {
        let kind = if error.code() == "refused_address" {
            "refused_address"
        } else {
            "invalid_url"
        };
        return Outcome::failed(kind, started, None);
    }
    let timestamp = chrono::Utc::now().timestamp();
    let signature =
        match super::signing::signature_header(&due.secrets, &due.event_id, timestamp, &due.body) {
            Ok(signature) => signature,
            Err(error) => {
                tracing::error!(%error, delivery = %due.id, "webhook not signed");
                return Outcome::failed("signing", started, None);
            }
        };
    let sent = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &due.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(due.body.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => {
            let kind = if caused_by_refusal(&error) {
                "refused_address"
            } else if error.is_timeout() {
                "timeout"
            } else if error.is_connect() {
                "connect"
            } else {
                "request"
            };
            return Outcome::failed(kind, started, None);
        }
    };
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let mut answer = Vec::new();
    let mut timed_out = false;
    while answer.len() < ANSWER_BYTES_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => {
                timed_out = error.is_timeout();
                break;
            }
        }
    }
    answer.truncate(EXCERPT_BYTES_MAX);
    let excerpt = (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned());
    let delivered = (200..300).contains(&status);
    Outcome {
        status_code: Some(status),
        latency_ms: elapsed_ms(started),
        // A 2xx whose body was slow still counts: the receiver said yes.
        error_kind: if delivered {
            None
        } else if timed_out {
            Some("timeout")
        } else {
            Some("status")
        },
        excerpt,
        retry_after,
    }
}

// ---------------------------------------------------------------- recording

/// The wait before the retry after failure number `failures` (1-based), with
/// ± 20 % jitter, or `None` when the schedule is spent.
fn retry_delay(schedule: &[Duration], failures: usize) -> Option<Duration> {
    let base = *schedule.get(failures.checked_sub(1)?)?;
    let jitter: f64 = rand::random_range(0.8..=1.2);
    Some(base.mul_f64(jitter))
}

/// What recording an attempt did to the endpoint, for the caller's log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    WillRetry,
    Failed,
    /// Failed, and its endpoint was disabled (410, or failing for too long).
    EndpointDisabled,
    /// Someone else recorded it first (its lease had ended).
    Stale,
}

/// Records one attempt of a claimed delivery and decides what follows: done,
/// a retry at the schedule's next step (later if `Retry-After` says so),
/// failed for good, or the endpoint disabled.
///
/// # Errors
/// A database failure.
pub fn record(
    conn: &mut DbConnection,
    settings: &OutgoingWebhookSettings,
    delivery_id: &str,
    outcome: &Outcome,
) -> Result<Recorded, AppError> {
    db::write_transaction(conn, |conn| {
        let Some((endpoint_id, status, attempts, failures)) = webhook_deliveries::table
            .find(delivery_id)
            .select((
                webhook_deliveries::endpoint_id,
                webhook_deliveries::status,
                webhook_deliveries::attempts,
                webhook_deliveries::failures,
            ))
            .first::<(String, String, i32, i32)>(conn)
            .optional()?
        else {
            return Ok(Recorded::Stale);
        };
        if status != "pending" {
            return Ok(Recorded::Stale);
        }
        let now = db::now();
        let attempt = attempts + 1;
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::delivery_id.eq(delivery_id),
                webhook_attempts::attempt.eq(attempt),
                webhook_attempts::at.eq(now),
                webhook_attempts::status_code.eq(outcome.status_code.map(i32::from)),
                webhook_attempts::latency_ms.eq(outcome.latency_ms),
                webhook_attempts::error_kind.eq(outcome.error_kind),
                webhook_attempts::response_excerpt.eq(outcome.excerpt.as_deref()),
            ))
            .execute(conn)?;
        let target = webhook_deliveries::table.find(delivery_id);
        let endpoint = webhook_endpoints::table.find(&endpoint_id);
        if outcome.error_kind.is_none() {
            diesel::update(target)
                .set((
                    webhook_deliveries::status.eq("delivered"),
                    webhook_deliveries::attempts.eq(attempt),
                    webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                    webhook_deliveries::updated_at.eq(now),
                ))
                .execute(conn)?;
            diesel::update(endpoint)
                .set(webhook_endpoints::failing_since.eq(None::<NaiveDateTime>))
                .execute(conn)?;
            return Ok(Recorded::Delivered);
        }
        let failures = failures + 1;
        let gone = outcome.status_code == Some(410);
        let delay = retry_delay(
            &settings.retry_schedule,
            usize::try_from(failures).unwrap_or(usize::MAX),
        )
        .map(|d| outcome.retry_after.map_or(d, |after| d.max(after)));
        let (status, next) = match delay {
            Some(delay) if !gone => (
                "pending",
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
            ),
            _ => ("failed", now),
        };
        diesel::update(target)
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::attempts.eq(attempt),
                webhook_deliveries::failures.eq(failures),
                webhook_deliveries::next_attempt_at.eq(next),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)?;
        let failing_since: Option<NaiveDateTime> = webhook_endpoints::table
            .find(&endpoint_id)
            .select(webhook_endpoints::failing_since)
            .first(conn)?;
        let failing_since = failing_since.unwrap_or(now);
        diesel::update(endpoint)
            .set(webhook_endpoints::failing_since.eq(Some(failing_since)))
            .execute(conn)?;
        let failing_for = (now - failing_since).to_std().unwrap_or_default();
        let reason = if gone {
            Some("the endpoint answered 410 Gone".to_owned())
        } else if failing_for >= settings.disable_after_failing {
            Some(format!(
                "every attempt failed for {} hours",
                settings.disable_after_failing.as_secs() / 3600
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            let disabled = diesel::update(endpoint.filter(webhook_endpoints::enabled.eq(true)))
                .set((
                    webhook_endpoints::enabled.eq(false),
                    webhook_endpoints::disabled_reason.eq(&reason),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .execute(conn)?;
            if disabled > 0 {
                tell_owner_disabled(conn, &endpoint_id, &reason)?;
                return Ok(Recorded::EndpointDisabled);
            }
        }
        Ok(if status == "failed" {
            Recorded::Failed
        } else {
            Recorded::WillRetry
        })
    })
}

/// Records a batch of attempts in one transaction: one commit for a pass's
/// worth of outcomes, where a commit each made recording the bottleneck
/// (SQLite's single writer above all). Each attempt is recorded under its own
/// savepoint, so one that fails leaves the others recorded; the failed one is
/// claimed again when its lease ends.
///
/// # Errors
/// The transaction could not begin or commit (nothing is recorded).
pub fn record_all(
    conn: &mut DbConnection,
    settings: &OutgoingWebhookSettings,
    outcomes: &[(String, Outcome)],
) -> Result<Vec<Result<Recorded, AppError>>, AppError> {
    db::write_transaction(conn, |conn| {
        Ok::<_, AppError>(
            outcomes
                .iter()
                .map(|(id, outcome)| record(conn, settings, id, outcome))
                .collect(),
        )
    })
}

/// Queues the email that tells an endpoint's owner it was disabled, in the
/// transaction that disables it.
fn tell_owner_disabled(
    conn: &mut DbConnection,
    endpoint_id: &str,
    reason: &str,
) -> Result<(), AppError> {
    let endpoint: EndpointRow = webhook_endpoints::table
        .find(endpoint_id)
        .select(EndpointRow::as_select())
        .first(conn)?;
    let Some(to) = endpoints::owner_email(conn, &endpoint)? else {
        return Ok(());
    };
    let message = crate::notify::Message::WebhookEndpointDisabled(
        crate::notify::messages::WebhookEndpointDisabled {
            endpoint_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            shop_id: endpoint.shop_id.clone(),
            reason: reason.to_owned(),
        },
    );
    let cause = format!(
        "webhook_endpoint.disabled:{}:{}",
        endpoint.id,
        db::rfc3339(endpoint.updated_at)
    );
    crate::notify::enqueue(conn, &cause, &to, &message)?;
    Ok(())
}

// ---------------------------------------------------------------- the dispatcher

/// One pass's database work: fan out what was committed since, then claim
/// up to `limit` due deliveries.
async fn claim_pass(
    pool: &DbPool,
    auth: &AuthSettings,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Due>, AppError> {
    let auth = auth.clone();
    let limit = i64::try_from(limit).unwrap_or(CLAIM_BATCH).min(CLAIM_BATCH);
    blocking(pool, move |conn| {
        fan_out(conn)?;
        claim(conn, &auth, limit, lease)
    })
    .await
}

async fn blocking<T, F>(pool: &DbPool, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("webhook dispatcher task: {e}")))?
}

/// Records attempts as they end, each transaction taking every outcome that
/// arrived while the previous one committed.
async fn record_outcomes(
    pool: DbPool,
    settings: OutgoingWebhookSettings,
    mut outcomes: tokio::sync::mpsc::UnboundedReceiver<(String, Outcome)>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let ended = std::mem::take(&mut batch);
        let settings = settings.clone();
        let recorded = blocking(&pool, move |conn| {
            let results = record_all(conn, &settings, &ended)?;
            for ((id, _), result) in ended.iter().zip(results) {
                if let Err(error) = result {
                    tracing::warn!(%error, delivery = %id, "webhook attempt not recorded; it is retried when its lease ends");
                }
            }
            Ok(())
        })
        .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, "webhook attempts not recorded; they are retried when their leases end");
        }
    }
}

/// The dispatcher: one per process, until the process ends. Passes (fan out,
/// claim) run back to back while they find work, every [`BUSY_POLL`] for
/// [`BUSY_FOR`] after one did, and every `poll_interval` when idle. Each
/// claimed delivery is sent on its own task, at most [`IN_FLIGHT_MAX`] at
/// once, while the next pass claims more; outcomes are recorded in batches by
/// one recorder. A claimed delivery's lease keeps other passes and processes
/// off it until it is recorded. `client` is [`client`]'s.
pub fn spawn(
    pool: DbPool,
    client: reqwest::Client,
    settings: OutgoingWebhookSettings,
    auth: AuthSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let lease = settings.timeout * 2 + Duration::from_secs(30);
        let (ended, outcomes) = tokio::sync::mpsc::unbounded_channel();
        // Aborting this task drops the recorder and the senders with their sets.
        let mut recorder = tokio::task::JoinSet::new();
        recorder.spawn(record_outcomes(pool.clone(), settings.clone(), outcomes));
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_MAX));
        let mut sending = tokio::task::JoinSet::new();
        let mut found_work_at: Option<Instant> = None;
        loop {
            while sending.try_join_next().is_some() {}
            if slots.available_permits() == 0 {
                // Every slot taken: wait for one to free before claiming.
                drop(Arc::clone(&slots).acquire_owned().await);
            }
            let found = match claim_pass(&pool, &auth, slots.available_permits(), lease).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "webhook dispatch failed; the next pass retries");
                    Vec::new()
                }
            };
            if found.is_empty() {
                let streaming = found_work_at.is_some_and(|at| at.elapsed() < BUSY_FOR);
                let wait = if streaming {
                    BUSY_POLL.min(settings.poll_interval)
                } else {
                    settings.poll_interval
                };
                tokio::time::sleep(wait).await;
                continue;
            }
            found_work_at = Some(Instant::now());
            for due in found {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break; // never closed
                };
                let (client, settings, ended) = (client.clone(), settings.clone(), ended.clone());
                sending.spawn(async move {
                    let outcome = send(&client, &settings, &due).await;
                    drop(slot);
                    // Fails only while the dispatcher itself is being dropped;
                    // the lease then brings the delivery back.
                    let _ = ended.send((due.id, outcome));
                });
            }
        }
    })
}

// ---------------------------------------------------------------- the log and its actions

/// One attempt in the delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, Queryable)]
pub struct AttemptView {
    /// 1 for the first.
    pub attempt: i32,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub at: NaiveDateTime,
    /// The answer's status; `null` when none came.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// `null` on success; `timeout`, `connect`, `refused_address`, `dns`,
    /// `status`, `request`, `invalid_url`.
    pub error_kind: Option<String>,
    /// The answer's first 512 bytes.
    pub response_excerpt: Option<String>,
}

/// One event's delivery to one endpoint, with every attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `wd_…`.
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` of every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// When the next attempt is due (pending only).
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    pub attempts: Vec<AttemptView>,
}

#[derive(Queryable)]
struct DeliveryRow {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    status: String,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

fn delivery_columns() -> (
    webhook_deliveries::id,
    webhook_deliveries::endpoint_id,
    webhook_deliveries::event_id,
    webhook_deliveries::event_type,
    webhook_deliveries::status,
    webhook_deliveries::next_attempt_at,
    webhook_deliveries::created_at,
) {
    (
        webhook_deliveries::id,
        webhook_deliveries::endpoint_id,
        webhook_deliveries::event_id,
        webhook_deliveries::event_type,
        webhook_deliveries::status,
        webhook_deliveries::next_attempt_at,
        webhook_deliveries::created_at,
    )
}

fn with_attempts(
    conn: &mut DbConnection,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<DeliveryView>, AppError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let attempts: Vec<(String, AttemptView)> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order((webhook_attempts::delivery_id, webhook_attempts::attempt))
        .select((
            webhook_attempts::delivery_id,
            (
                webhook_attempts::attempt,
                webhook_attempts::at,
                webhook_attempts::status_code,
                webhook_attempts::latency_ms,
                webhook_attempts::error_kind,
                webhook_attempts::response_excerpt,
            ),
        ))
        .load(conn)?;
    let mut by_delivery: std::collections::HashMap<String, Vec<AttemptView>> =
        std::collections::HashMap::new();
    for (delivery, attempt) in attempts {
        by_delivery.entry(delivery).or_default().push(attempt);
    }
    Ok(rows
        .into_iter()
        .map(|r| DeliveryView {
            attempts: by_delivery.remove(&r.id).unwrap_or_default(),
            next_attempt_at: (r.status == "pending").then_some(r.next_attempt_at),
            id: r.id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            status: r.status,
            created_at: r.created_at,
        })
        .collect())
}

/// An endpoint's deliveries, newest first, each with its attempts;
/// optionally only those of one `status`.
///
/// # Errors
/// 404 for an endpoint the actor may not manage.
pub fn deliveries(
    conn: &mut DbConnection,
    actor: &Actor,
    endpoint_id: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryView>, AppError> {
    endpoints::endpoint_for(conn, actor, endpoint_id)?;
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .order((
            webhook_deliveries::created_at.desc(),
            webhook_deliveries::event_seq.desc(),
            webhook_deliveries::id,
        ))
        .limit(limit.clamp(1, DELIVERIES_PAGE_MAX))
        .select(delivery_columns())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    let rows = query.load(conn)?;
    with_attempts(conn, rows)
}

fn delivery_view(conn: &mut DbConnection, id: &str) -> Result<DeliveryView, AppError> {
    let row = webhook_deliveries::table
        .find(id)
        .select(delivery_columns())
        .first(conn)?;
    Ok(with_attempts(conn, vec![row])?.remove(0))
}

/// Sends a delivery again from the start of the schedule (same
/// `webhook-id`), whatever it became.
///
/// # Errors
/// 404 for a delivery of an endpoint the actor may not manage.
pub fn redeliver(
    conn: &mut DbConnection,
    actor: &Actor,
    delivery_id: &str,
) -> Result<DeliveryView, AppError> {
    db::write_transaction(conn, |conn| {
        let endpoint_id: String = webhook_deliveries::table
            .find(delivery_id)
            .select(webhook_deliveries::endpoint_id)
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound {
                resource: "webhook_delivery",
            })?;
        endpoints::endpoint_for(conn, actor, &endpoint_id).map_err(|_| AppError::NotFound {
            resource: "webhook_delivery",
        })?;
        let now = db::now();
        diesel::update(webhook_deliveries::table.find(delivery_id))
            .set((
                webhook_deliveries::status.eq("pending"),
                webhook_deliveries::failures.eq(0),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)?;
        if actor.operator {
            crate::auth::record_audit(
                conn,
                crate::auth::AuditEntry::new("webhook_delivery.redeliver", delivery_id)
                    .actor(&actor.user_id)
                    .context(&actor.context),
            )?;
        }
        delivery_view(conn, delivery_id)
    })
}

fn enabled_or_conflict(endpoint: &EndpointRow) -> Result<(), AppError> {
    if endpoint.enabled {
        Ok(())
    } else {
        Err(AppError::Conflict {
            code: "endpoint_disabled",
            message: "the endpoint is disabled; enable it first (PATCH enabled: true)".into(),
        })
    }
}

/// Queues a `webhook_endpoint.test` event for this endpoint only (never in
/// the feed).
///
/// # Errors
/// 404; 409 `endpoint_disabled`.
pub fn send_test(
    conn: &mut DbConnection,
    actor: &Actor,
    endpoint_id: &str,
) -> Result<DeliveryView, AppError> {
    db::write_transaction(conn, |conn| {
        let endpoint = endpoints::endpoint_for(conn, actor, endpoint_id)?;
        enabled_or_conflict(&endpoint)?;
        let now = db::now();
        let event_id = format!("ev_{}", uuid::Uuid::new_v4().simple());
        let kind = super::types::EventType::EndpointTest.as_str();
        let body = body_of(
            kind,
            now,
            &json!({
                "endpoint_id": endpoint.id,
                "shop_id": endpoint.shop_id,
                "message": "A test event, sent on request. Answer 2xx to acknowledge it.",
            }),
        );
        let id = insert_delivery(conn, &endpoint.id, &event_id, None, kind, &body, now)?;
        delivery_view(conn, &id)
    })
}

/// Queues every event of `[from, to]` the endpoint would have received (its
/// audience and types, up to its cursor) again, with their own ids.
/// Returns how many.
///
/// # Errors
/// 404; 409 `endpoint_disabled`; 422 for a bad period or more than
/// [`REPLAY_EVENTS_MAX`] events.
pub fn replay(
    conn: &mut DbConnection,
    actor: &Actor,
    endpoint_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<usize, AppError> {
    use super::schema::events;
    if from > to {
        return Err(AppError::unprocessable(
            "invalid_value",
            "from must not be after to",
            Some("from".to_owned()),
        ));
    }
    db::write_transaction(conn, |conn| {
        let endpoint = endpoints::endpoint_for(conn, actor, endpoint_id)?;
        enabled_or_conflict(&endpoint)?;
        let first: Option<i64> = events::table
            .filter(events::occurred_at.ge(from))
            .select(diesel::dsl::min(events::seq))
            .first(conn)?;
        let Some(first) = first else {
            return Ok(0);
        };
        let audience = audience_of(&endpoint);
        let types = endpoint.filter()?;
        let now = db::now();
        let mut after = first - 1;
        let mut queued = Vec::new();
        'pages: loop {
            let page = feed::read(
                conn,
                &audience,
                &FeedQuery {
                    after,
                    types: types.clone(),
                    limit: feed::PAGE_MAX,
                },
            )?;
            for event in page.data {
                if event.occurred_at > to || event.seq > endpoint.events_through_seq {
                    break 'pages;
                }
                queued.push(event);
                if queued.len() > REPLAY_EVENTS_MAX {
                    return Err(AppError::unprocessable(
                        "too_many_events",
                        format!(
                            "at most {REPLAY_EVENTS_MAX} events per replay; shorten the period"
                        ),
                        Some("to".to_owned()),
                    ));
                }
            }
            if !page.has_more {
                break;
            }
            after = page.next_after;
        }
        queue_deliveries(conn, &endpoint.id, &queued, now)?;
        if actor.operator {
            crate::auth::record_audit(
                conn,
                crate::auth::AuditEntry::new("webhook_endpoint.replay", endpoint_id)
                    .actor(&actor.user_id)
                    .context(&actor.context)
                    .after(json!({"from": db::rfc3339(from), "to": db::rfc3339(to), "events": queued.len()})),
            )?;
        }
        Ok(queued.len())
    })
}

// ---------------------------------------------------------------- metrics

/// What `/metrics` shows of deliveries, read from the database (so every
/// process reports the same, whichever sent them).
///
/// # Errors
/// No connection, or a database failure.
pub fn metrics_stats(pool: &DbPool) -> Result<WebhookDeliveryStats, AppError> {
    let mut conn = pool.get()?;
    stats(&mut conn)
}

/// Reads [`WebhookDeliveryStats`].
///
/// # Errors
/// A database failure.
pub fn stats(conn: &mut DbConnection) -> Result<WebhookDeliveryStats, AppError> {
    let by_endpoint: Vec<(String, String, i64)> = webhook_deliveries::table
        .group_by((webhook_deliveries::endpoint_id, webhook_deliveries::status))
        .select((
            webhook_deliveries::endpoint_id,
            webhook_deliveries::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let pending_rows = webhook_deliveries::table.filter(webhook_deliveries::status.eq("pending"));
    let pending: i64 = pending_rows.count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = pending_rows
        .select(diesel::dsl::min(webhook_deliveries::created_at))
        .first(conn)?;
    #[allow(clippy::cast_precision_loss)] // milliseconds of an age: far below 2^52
    let oldest_pending_age_s = oldest.map_or(0.0, |at| {
        (db::now() - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    Ok(WebhookDeliveryStats {
        by_endpoint,
        pending,
        oldest_pending_age_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_with_a_fifth_of_jitter_then_stop() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        for _ in 0..50 {
            let first = retry_delay(&schedule, 1).unwrap();
            assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6));
            let second = retry_delay(&schedule, 2).unwrap();
            assert!(second >= Duration::from_secs(240) && second <= Duration::from_secs(360));
        }
        assert_eq!(retry_delay(&schedule, 3), None);
        assert_eq!(retry_delay(&schedule, 0), None);
    }
}
