//! Provider events in: verified on the raw bytes, stored once by event id in
//! the same transaction as the job that processes them, acknowledged at once;
//! processed by the job queue at the marketplace's pace.
//!
//! Delivery is at-least-once and unordered, so processing never trusts the
//! event's copy of an object that has a state: it fetches the object's current
//! state from the provider and applies that through the idempotent domain
//! functions (orders, disputes, shops). Event types without a handler yet are
//! stored and acknowledged.

pub mod group_commit;
mod http;
pub mod replay;
pub mod schema;
pub mod signature;

use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;

pub use http::{routes, WebhookSecrets};
use schema::webhook_events;

use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::payments::Provider;

/// The job kind that processes one stored event.
pub const EVENT_JOB: &str = "webhook_event";
/// Longest event id we store.
const EVENT_ID_CHARS_MAX: usize = 255;

/// Which endpoint received an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The platform's own objects: `POST /webhooks/stripe`.
    Platform,
    /// Connected accounts' objects (the event names the `account`): `POST /webhooks/stripe/connect`.
    Connect,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Connect => "connect",
        }
    }
}

/// The parts of a provider event we store and dispatch on.
#[derive(Debug, Deserialize)]
pub struct EventEnvelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    /// The connected account the event is about; absent for the platform's own.
    #[serde(default)]
    pub account: Option<String>,
    pub data: EventData,
}

/// An event's `data`: the object as the provider saw it when it sent the event.
#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// What ingestion did with a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    Duplicate,
}

fn bad_event(message: impl Into<String>) -> AppError {
    AppError::bad_request("invalid_event", message, None)
}

/// Decodes a verified delivery's body into the envelope [`ingest`] stores: a
/// pure function of the bytes (and the endpoint), so it can be fuzzed alone.
///
/// # Errors
/// As [`ingest`]: 400 `invalid_event` or `wrong_endpoint`.
pub fn decode_event(source: Source, payload: &[u8]) -> Result<EventEnvelope, AppError> {
    decode_text(source, payload_text(payload)?)
}

/// The body as text: it is stored as text and decoded again from it, and
/// `serde_json::from_slice` does not check the UTF-8 of what it skips (an
/// invalid byte in an unknown field passed it, found by fuzzing).
fn payload_text(payload: &[u8]) -> Result<&str, AppError> {
    std::str::from_utf8(payload).map_err(|_| bad_event("the body is not UTF-8"))
}

fn decode_text(source: Source, payload: &str) -> Result<EventEnvelope, AppError> {
    let event: EventEnvelope = serde_json::from_str(payload)
        .map_err(|e| bad_event(format!("the body is not a provider event: {e}")))?;
    // Ids and the type are stored, logged and shown to operators: only the
    // provider's own alphabet gets in (a control character in an account id
    // once did, found by fuzzing).
    let provider_id = |id: &str, prefix: &str| {
        id.starts_with(prefix)
            && id.len() <= EVENT_ID_CHARS_MAX
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let kind_ok = !event.kind.is_empty()
        && event.kind.len() <= 100
        && event
            .kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    if !provider_id(&event.id, "evt_") || !kind_ok || !event.data.object.is_object() {
        return Err(bad_event("an event has an evt_ id, a type and data.object"));
    }
    if event
        .account
        .as_deref()
        .is_some_and(|account| !provider_id(account, "acct_"))
    {
        return Err(bad_event("an event's account is an acct_ id"));
    }
    if (source == Source::Connect) != event.account.is_some() {
        return Err(AppError::bad_request(
            "wrong_endpoint",
            "connected-account events go to /webhooks/stripe/connect, platform events to /webhooks/stripe",
            None,
        ));
    }
    Ok(event)
}

/// A decoded delivery, ready to store.
pub(crate) struct StoredEvent {
    source: Source,
    envelope: EventEnvelope,
    payload: String,
}

/// Stores a verified event and its processing job, once per event id.
///
/// # Errors
/// 400 `invalid_event` for a body that is not an event; 400
/// `wrong_endpoint` for a connected account's event at the platform endpoint
/// or the reverse.
pub fn ingest(
    conn: &mut DbConnection,
    source: Source,
    payload: &[u8],
) -> Result<Ingested, AppError> {
    store_one(conn, &StoredEvent::decode(source, payload)?)
}

impl StoredEvent {
    /// Checks and decodes a verified delivery (nothing is written).
    pub(crate) fn decode(source: Source, payload: &[u8]) -> Result<Self, AppError> {
        let text = payload_text(payload)?;
        Ok(Self {
            source,
            envelope: decode_text(source, text)?,
            payload: text.to_owned(),
        })
    }
}

/// Stores one event (and its job) in its own transaction.
fn store_one(conn: &mut DbConnection, event: &StoredEvent) -> Result<Ingested, AppError> {
    let mut stored =
        db::write_transaction(conn, |conn| store_events(conn, std::slice::from_ref(event)))?;
    Ok(stored.remove(0))
}

/// Stores each event not stored before, with its job, in the caller's
/// transaction; one outcome per event, in order. An event id seen twice in
/// `events` is stored once (the second is a duplicate).
///
/// `ON CONFLICT DO NOTHING` rather than catching the unique violation: on
/// PostgreSQL a failed statement aborts the whole transaction, and with it
/// every other event of the batch.
fn store_events(
    conn: &mut DbConnection,
    events: &[StoredEvent],
) -> Result<Vec<Ingested>, AppError> {
    use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
    let now = db::now();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let envelope = &event.envelope;
        let inserted = diesel::sql_query(
            "INSERT INTO webhook_events
               (id, source, event_type, account, provider_created, livemode, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Text, _>(&envelope.id)
        .bind::<Text, _>(event.source.as_str())
        .bind::<Text, _>(&envelope.kind)
        .bind::<Nullable<Text>, _>(envelope.account.as_deref())
        .bind::<BigInt, _>(envelope.created)
        .bind::<Bool, _>(envelope.livemode)
        .bind::<Text, _>(&event.payload)
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
        if inserted == 1 {
            crate::jobs::enqueue(conn, EVENT_JOB, &envelope.id)?;
            outcomes.push(Ingested::Stored);
        } else {
            outcomes.push(Ingested::Duplicate);
        }
    }
    Ok(outcomes)
}

fn object_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

/// Whether an error means "not one of ours" (an object of another
/// integration, or an order that no longer exists): acknowledged, not retried.
fn not_ours(error: &AppError) -> bool {
    matches!(error, AppError::NotFound { .. })
}

/// Processes one stored event (the job handler). Idempotent.
///
/// # Errors
/// The failure text: the job is retried with backoff, then dead.
pub async fn process(
    pool: &DbPool,
    provider: &dyn Provider,
    event_id: &str,
) -> Result<(), AppError> {
    let id = event_id.to_owned();
    let (kind, payload): (String, String) = db::run(pool, move |conn| {
        Ok(webhook_events::table
            .find(&id)
            .select((webhook_events::event_type, webhook_events::payload))
            .first(conn)?)
    })
    .await?;
    let event: EventEnvelope = serde_json::from_str(&payload)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored event {event_id}: {e}")))?;
    let object = &event.data.object;
    let handled = match kind.as_str() {
        "payment_intent.succeeded"
        | "payment_intent.payment_failed"
        | "payment_intent.canceled"
        | "payment_intent.processing" => match object_str(object, "id") {
            Some(intent_id) => apply_intent(pool, provider, intent_id).await,
            None => Ok(()),
        },
        "charge.succeeded" | "charge.failed" => match object_str(object, "payment_intent") {
            Some(intent_id) => apply_intent(pool, provider, intent_id).await,
            None => Ok(()),
        },
        kind if kind.starts_with("charge.dispute.") => match object_str(object, "id") {
            Some(dispute_id) => {
                crate::orders::disputes::sync_dispute(pool, provider, dispute_id).await
            }
            None => Ok(()),
        },
        "account.updated" => match object_str(object, "id") {
            Some(account_id) => apply_account(pool, provider, account_id).await,
            None => Ok(()),
        },
        "capability.updated" => match object_str(object, "account") {
            Some(account_id) => apply_account(pool, provider, account_id).await,
            None => Ok(()),
        },
        kind if kind.starts_with("payout.") => {
            match (event.account.as_deref(), object_str(object, "id")) {
                (Some(account), Some(payout_id)) => {
                    crate::payouts::sync_payout(pool, provider, account, payout_id).await
                }
                _ => Ok(()),
            }
        }
        "refund.created" | "refund.updated" | "charge.refund.updated" => {
            match object_str(object, "id") {
                Some(refund_id) => sync_refund(pool, provider, refund_id).await,
                None => Ok(()),
            }
        }
        // The charge lists its refunds; each is applied as its own event would.
        "charge.refunded" => {
            let ids: Vec<&str> = object
                .get("refunds")
                .and_then(|r| r.get("data"))
                .and_then(Value::as_array)
                .map(|refunds| refunds.iter().filter_map(|r| object_str(r, "id")).collect())
                .unwrap_or_default();
            let mut outcome = Ok(());
            for id in ids {
                outcome = outcome.and(sync_refund(pool, provider, id).await);
            }
            outcome
        }
        // Our transfers are confirmed by the provider's answer to our call; an
        // event about one drives its order's settlement, which finishes a
        // movement whose answer was lost (same key, same transfer).
        kind if kind.starts_with("transfer.") => match object_str(object, "transfer_group") {
            Some(order_id) if order_id.starts_with("ord_") => {
                crate::orders::settlement::settle_order(pool, provider, order_id).await
            }
            _ => Ok(()),
        },
        "balance.available" => match event.account.as_deref() {
            Some(account) => crate::payouts::funds::sync_available(pool, provider, account)
                .await
                .map(|_| ()),
            // The platform's own funds: its cash account does not split them.
            None => Ok(()),
        },
        _ => Ok(()),
    };
    match handled {
        Err(error) if not_ours(&error) => {
            tracing::info!(event_id, kind, %error, "event is about nothing of ours; acknowledged");
        }
        other => other?,
    }
    let id = event_id.to_owned();
    db::run(pool, move |conn| {
        diesel::update(webhook_events::table.find(&id))
            .set(webhook_events::processed_at.eq(db::now()))
            .execute(conn)?;
        Ok(())
    })
    .await
}

async fn apply_intent(
    pool: &DbPool,
    provider: &dyn Provider,
    intent_id: &str,
) -> Result<(), AppError> {
    let intent = provider.retrieve_payment_intent(intent_id).await?;
    crate::orders::payment::apply_intent(pool, provider, &intent).await
}

async fn sync_refund(
    pool: &DbPool,
    provider: &dyn Provider,
    refund_id: &str,
) -> Result<(), AppError> {
    crate::orders::provider_refunds::sync_refund(pool, provider, refund_id).await
}

async fn apply_account(
    pool: &DbPool,
    provider: &dyn Provider,
    account_id: &str,
) -> Result<(), AppError> {
    let account = provider.retrieve_account(account_id).await?;
    db::run(pool, move |conn| {
        crate::sellers::shops::apply_account_update(conn, &account)
    })
    .await?;
    Ok(())
}

/// Most pages one backfill reads per account (100 events each).
const BACKFILL_PAGES_MAX: usize = 1000;

/// What a backfill found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BackfillReport {
    pub accounts: usize,
    pub seen: usize,
    pub stored: usize,
    pub duplicates: usize,
}

/// Reads the provider's events created since `since` (unix seconds) — the
/// platform's and every shop's connected account's — and ingests each through
/// the same idempotent path as a delivery: missed events are stored and
/// processed, the others are duplicates.
///
/// # Errors
/// The provider or the database failed (a rerun continues where it stopped:
/// what was stored is a duplicate next time).
pub async fn backfill(
    pool: &DbPool,
    provider: &dyn Provider,
    since: i64,
) -> Result<BackfillReport, AppError> {
    let shops = db::run(pool, |conn| crate::sellers::shops::list_shops(conn, None)).await?;
    let mut accounts: Vec<Option<String>> = vec![None];
    accounts.extend(
        shops
            .into_iter()
            .filter_map(|s| s.provider_account_id)
            .map(Some),
    );
    let mut report = BackfillReport {
        accounts: accounts.len(),
        ..BackfillReport::default()
    };
    for account in &accounts {
        let mut after: Option<String> = None;
        for _ in 0..BACKFILL_PAGES_MAX {
            let page = provider
                .list_events(account.as_deref(), since, after.as_deref(), 100)
                .await?;
            for event in &page.data {
                report.seen += 1;
                let source = if event.get("account").is_some_and(|a| !a.is_null()) {
                    Source::Connect
                } else {
                    Source::Platform
                };
                let bytes = serde_json::to_vec(event).expect("JSON serializes");
                match db::run(pool, move |conn| ingest(conn, source, &bytes)).await? {
                    Ingested::Stored => report.stored += 1,
                    Ingested::Duplicate => report.duplicates += 1,
                }
            }
            after = page
                .data
                .last()
                .and_then(|e| e.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if !page.has_more || after.is_none() {
                break;
            }
        }
    }
    Ok(report)
}
