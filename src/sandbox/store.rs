//! The sandbox's whole state: every object, the clock and ids, and which objects
//! changed since the journal last took them.
//!
//! One `Store` lives behind one mutex; every request locks it, runs to completion
//! synchronously and unlocks, so no request ever sees another one half-done.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Deref;
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::wire::{ApiError, ApiResult};

/// Most events kept; older ones are forgotten (Stripe keeps 30 days).
pub const EVENTS_KEPT_MAX: usize = 20_000;
/// Most idempotency records kept.
pub const IDEMPOTENCY_KEPT_MAX: usize = 20_000;
/// How long an idempotency key is remembered, in sandbox seconds (Stripe: 24 hours).
pub const IDEMPOTENCY_TTL_S: i64 = 86_400;
/// Largest `limit` on list endpoints.
pub const LIST_LIMIT_MAX: i64 = 100;
/// Length of the random part of an id.
const ID_RANDOM_LEN: usize = 24;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A connected account (or the platform itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub is_platform: bool,
    pub kind: String,
    pub country: String,
    pub default_currency: String,
    pub email: Option<String>,
    pub business_type: Option<String>,
    pub business_profile: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub requested: Vec<String>,
    pub onboarded: bool,
    pub disabled_reason: Option<String>,
    pub bank: Option<Bank>,
    pub manual_payouts: bool,
    pub next_payout_at: i64,
    /// Who the onboarding form named as the account's representative.
    #[serde(default)]
    pub representative: Option<Representative>,
}

/// The person the hosted onboarding form collected (Stripe's `individual` for an
/// individual, the company's representative otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    /// A `person_…` id, kept across updates as Stripe keeps a person's.
    pub id: String,
    pub created: i64,
    pub first_name: String,
    pub last_name: String,
    /// Date of birth: year, month (1–12), day (1–31).
    pub dob: (i32, u32, u32),
}

/// An account's external bank account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bank {
    pub id: String,
    pub account_number: String,
    pub routing_number: String,
    pub country: String,
    pub currency: String,
    /// Set when a payout to it failed; payouts stop until the bank account is replaced.
    #[serde(default)]
    pub errored: bool,
}

/// An account link's one-time token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub account: String,
    pub expires_at: i64,
    pub return_url: Option<String>,
    pub refresh_url: Option<String>,
    pub used: bool,
}

/// A PaymentIntent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub metadata: Map<String, Value>,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub automatic_payment_methods: bool,
    pub receipt_email: Option<String>,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<Value>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub client_secret: String,
}

/// A charge, or a `py_` payment received by a connected account from a transfer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub payment_intent: Option<String>,
    pub payment_method: Option<String>,
    pub txn: Option<String>,
    pub amount_refunded: i64,
    pub refunds: Vec<String>,
    pub dispute: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub decline_code: Option<String>,
    pub metadata: Map<String, Value>,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub source_transfer: Option<String>,
    pub available_on: i64,
    pub transferred: i64,
}

/// A refund of a charge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: Option<String>,
    pub reason: Option<String>,
    pub metadata: Map<String, Value>,
    pub txn: String,
}

/// A dispute on a charge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: Option<String>,
    pub status: String,
    pub reason: String,
    pub evidence: Map<String, Value>,
    pub submission_count: u64,
    pub metadata: Map<String, Value>,
    pub txns: Vec<String>,
}

/// A transfer from the platform to a connected account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub amount_reversed: i64,
    pub currency: String,
    pub destination: String,
    pub destination_payment: String,
    pub source_transaction: Option<String>,
    pub transfer_group: Option<String>,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
    pub txn: String,
    pub reversals: Vec<String>,
}

/// A (partial) reversal of a transfer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reversal {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub transfer: String,
    pub txn: String,
    pub destination_refund: String,
    pub metadata: Map<String, Value>,
}

/// A payout of an account's balance to its bank.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payout {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub arrival_date: i64,
    pub automatic: bool,
    pub status: String,
    pub method: String,
    pub destination: Option<String>,
    pub bank_number: Option<String>,
    pub description: Option<String>,
    pub statement_descriptor: Option<String>,
    pub metadata: Map<String, Value>,
    pub txn: String,
    pub failure_txn: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

/// A balance transaction: the only thing balances are computed from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Txn {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub available_on: i64,
    pub amount: i64,
    pub fee: i64,
    pub fee_details: Vec<(i64, String, String)>,
    pub currency: String,
    pub kind: String,
    pub reporting_category: String,
    pub source: Option<String>,
    pub description: Option<String>,
    /// The payout that settled this transaction (see `balances.rs`).
    pub payout: Option<String>,
    /// Whether its becoming available has been announced by `balance.available`.
    pub announced: bool,
}

impl Txn {
    /// Amount less fees.
    pub fn net(&self) -> i64 {
        self.amount - self.fee
    }
}

/// A webhook endpoint registered through the API (or from the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub url: String,
    pub secret: String,
    pub connect: bool,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

impl Endpoint {
    /// Whether an event of `kind`, for a connected account or not, goes to this endpoint.
    pub fn wants(&self, kind: &str, connected: bool) -> bool {
        self.connect == connected && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

/// A stored event: its full JSON as delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub seq: u64,
    pub account: String,
    pub created: i64,
    pub kind: String,
    pub body: Value,
}

/// A remembered idempotent response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idem {
    pub created: i64,
    pub route: String,
    pub params: Value,
    pub status: u16,
    pub body: Value,
}

/// One kind of object by id, remembering which ids changed (inserted, changed in
/// place or removed) until the journal takes them: the journal writes those
/// objects alone, never the whole state. Reads go through `Deref`; every write
/// goes through a method here, so none escapes the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Table<T> {
    rows: BTreeMap<String, T>,
    #[serde(skip)]
    changed: BTreeSet<String>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<T> Deref for Table<T> {
    type Target = BTreeMap<String, T>;

    fn deref(&self) -> &Self::Target {
        &self.rows
    }
}

impl<T> Table<T> {
    pub fn insert(&mut self, id: String, row: T) -> Option<T> {
        self.changed.insert(id.clone());
        self.rows.insert(id, row)
    }

    /// The row to change in place; it is written whether or not it is changed.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let row = self.rows.get_mut(id)?;
        if !self.changed.contains(id) {
            self.changed.insert(id.to_owned());
        }
        Some(row)
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let row = self.rows.remove(id)?;
        self.changed.insert(id.to_owned());
        Some(row)
    }
}

/// What changed in one table, as the journal stores it: per id, the object's
/// JSON, or `None` when it was removed.
pub type ChangedRows = Vec<(String, Option<String>)>;

/// A table as the journal sees it, whatever its objects' type.
pub trait Journaled {
    /// Takes the changed ids with their objects' JSON.
    fn take_changes(&mut self) -> serde_json::Result<ChangedRows>;
    /// Forgets the changes (a sandbox without a state file keeps none).
    fn forget_changes(&mut self);
    /// Counts every row as changed (a new state file is written whole).
    fn mark_all(&mut self);
    /// Puts a row read from the state file, unchanged.
    fn load(&mut self, id: String, json: &str) -> serde_json::Result<()>;
}

impl<T: Serialize + serde::de::DeserializeOwned> Journaled for Table<T> {
    fn take_changes(&mut self) -> serde_json::Result<ChangedRows> {
        let changed = std::mem::take(&mut self.changed);
        changed
            .into_iter()
            .map(|id| {
                let json = self.rows.get(&id).map(serde_json::to_string).transpose()?;
                Ok((id, json))
            })
            .collect()
    }

    fn forget_changes(&mut self) {
        self.changed.clear();
    }

    fn mark_all(&mut self) {
        self.changed = self.rows.keys().cloned().collect();
    }

    fn load(&mut self, id: String, json: &str) -> serde_json::Result<()> {
        self.rows.insert(id, serde_json::from_str(json)?);
        Ok(())
    }
}

/// The store's own values besides its objects, as the journal keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub owner: Option<String>,
    pub offset_s: i64,
    pub seq: u64,
    pub platform: String,
}

/// Everything one request changed: what the journal makes durable before the
/// request is answered.
#[derive(Debug, Default)]
pub struct Changes {
    /// Per table name, its changed rows.
    pub tables: Vec<(&'static str, ChangedRows)>,
    /// Set when the store's own values changed.
    pub meta: Option<Meta>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.meta.is_none() && self.tables.iter().all(|(_, rows)| rows.is_empty())
    }
}

/// The request being served, for events' `request` field.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Everything the sandbox knows.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    /// The marketplace database this state belongs to (its instance id), once
    /// one has used it: the money facts here are that database's, and no other's.
    #[serde(default)]
    pub owner: Option<String>,
    pub offset_s: i64,
    pub seq: u64,
    pub platform: String,
    pub accounts: Table<Account>,
    pub links: Table<Link>,
    pub intents: Table<Intent>,
    pub charges: Table<Charge>,
    pub refunds: Table<Refund>,
    pub disputes: Table<Dispute>,
    pub transfers: Table<Transfer>,
    pub reversals: Table<Reversal>,
    pub payouts: Table<Payout>,
    pub txns: Table<Txn>,
    pub events: Table<Event>,
    pub endpoints: Table<Endpoint>,
    pub idempotency: Table<Idem>,
    /// The time the current mutation happens at (sandbox clock).
    #[serde(skip)]
    pub now: i64,
    /// Endpoints from the configuration (not persisted: the configuration is).
    #[serde(skip)]
    pub config_endpoints: Vec<Endpoint>,
    /// Events emitted by the current request, waiting to be handed to delivery.
    #[serde(skip)]
    pub outbox: Vec<String>,
    #[serde(skip)]
    pub request: RequestInfo,
    #[serde(skip)]
    pub timing: Timing,
    /// The earliest `available_on` of the transactions not announced yet
    /// (`Some(None)`: there are none; `None`: not known, so the next look scans
    /// them). Every request looks, and scanning every transaction each time
    /// grew the sandbox's cost per request with its history.
    #[serde(skip)]
    pub funds_due_at: Option<Option<i64>>,
    /// `(created, key)` of every idempotency record: the oldest first, as
    /// [`Store::prune`] drops them. Rebuilt when it does not match the records.
    #[serde(skip)]
    pub idempotency_by_age: BTreeSet<(i64, String)>,
    /// `(seq, id)` of every event, oldest first; rebuilt likewise.
    #[serde(skip)]
    pub events_by_age: VecDeque<(u64, String)>,
    /// The store's own values as the journal last took them.
    #[serde(skip)]
    pub journaled_meta: Option<Meta>,
}

/// The configured durations the state machine runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub funds_delay_s: i64,
    pub payout_interval_s: i64,
    pub payout_transit_s: i64,
}

/// Seconds since the Unix epoch by the wall clock.
pub fn wall_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A random id with Stripe's prefix, e.g. `ch_3Kx…`.
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let random: String = (0..ID_RANDOM_LEN)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    format!("{prefix}_{random}")
}

impl Store {
    /// A fresh store with a platform account.
    pub fn fresh() -> Self {
        let mut store = Store {
            now: wall_now(),
            ..Store::default()
        };
        let id = new_id("acct");
        store.platform = id.clone();
        let seq = store.next_seq();
        let bank = Bank {
            id: new_id("ba"),
            account_number: "000123456789".into(),
            routing_number: "110000000".into(),
            country: "US".into(),
            currency: "usd".into(),
            errored: false,
        };
        store.accounts.insert(
            id.clone(),
            Account {
                id,
                seq,
                created: store.now,
                is_platform: true,
                kind: "standard".into(),
                country: "US".into(),
                default_currency: "usd".into(),
                email: None,
                business_type: Some("company".into()),
                business_profile: Map::new(),
                metadata: Map::new(),
                requested: vec!["card_payments".into(), "transfers".into()],
                onboarded: true,
                disabled_reason: None,
                bank: Some(bank),
                manual_payouts: true,
                next_payout_at: i64::MAX,
                representative: None,
            },
        );
        store
    }

    /// Reads a whole-state JSON file, as the sandbox wrote its state before
    /// it kept a journal (the journal takes such a file over once).
    pub fn load_json(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Every table with the name the journal stores it under.
    pub fn tables_mut(&mut self) -> [(&'static str, &mut dyn Journaled); 13] {
        [
            ("account", &mut self.accounts),
            ("link", &mut self.links),
            ("intent", &mut self.intents),
            ("charge", &mut self.charges),
            ("refund", &mut self.refunds),
            ("dispute", &mut self.disputes),
            ("transfer", &mut self.transfers),
            ("reversal", &mut self.reversals),
            ("payout", &mut self.payouts),
            ("txn", &mut self.txns),
            ("event", &mut self.events),
            ("endpoint", &mut self.endpoints),
            ("idempotency", &mut self.idempotency),
        ]
    }

    /// The store's own values besides its objects.
    pub fn meta(&self) -> Meta {
        Meta {
            owner: self.owner.clone(),
            offset_s: self.offset_s,
            seq: self.seq,
            platform: self.platform.clone(),
        }
    }

    /// Puts the journal's values back.
    pub fn restore_meta(&mut self, meta: Meta) {
        self.owner = meta.owner.clone();
        self.offset_s = meta.offset_s;
        self.seq = meta.seq;
        self.platform = meta.platform.clone();
        self.journaled_meta = Some(meta);
    }

    /// Takes what changed since the last call.
    pub fn take_changes(&mut self) -> serde_json::Result<Changes> {
        let mut tables = Vec::new();
        for (name, table) in self.tables_mut() {
            let rows = table.take_changes()?;
            if !rows.is_empty() {
                tables.push((name, rows));
            }
        }
        let meta = self.meta();
        let meta = (self.journaled_meta.as_ref() != Some(&meta)).then_some(meta);
        if let Some(meta) = &meta {
            self.journaled_meta = Some(meta.clone());
        }
        Ok(Changes { tables, meta })
    }

    /// Forgets what changed: nothing will be written.
    pub fn forget_changes(&mut self) {
        for (_, table) in self.tables_mut() {
            table.forget_changes();
        }
    }

    /// Counts everything as changed, for a state written whole.
    pub fn mark_all(&mut self) {
        for (_, table) in self.tables_mut() {
            table.mark_all();
        }
        self.journaled_meta = None;
    }

    /// The sandbox clock now.
    pub fn clock(&self) -> i64 {
        wall_now() + self.offset_s
    }

    /// A number that orders objects created in the same second.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The account a request acts as: `Stripe-Account` or the platform.
    pub fn acting(&self, header: Option<&str>) -> ApiResult<String> {
        match header {
            None => Ok(self.platform.clone()),
            Some(id) if self.accounts.contains_key(id) => Ok(id.to_owned()),
            Some(id) => Err(ApiError::new(
                403,
                "invalid_request_error",
                "account_invalid",
                format!(
                    "The provided key does not have access to account '{id}' (or that account does not exist)."
                ),
            )),
        }
    }

    /// Remembers an idempotent answer under `slot`.
    pub fn remember(&mut self, slot: String, record: Idem) {
        let created = record.created;
        if let Some(old) = self.idempotency.insert(slot.clone(), record) {
            self.idempotency_by_age.remove(&(old.created, slot.clone()));
        }
        self.idempotency_by_age.insert((created, slot));
    }

    /// Forgets idempotency records past their lifetime or beyond the cap (the
    /// oldest first; of equally old ones, the first key), and the oldest events
    /// beyond theirs. Runs on every request, so it walks only what it drops.
    pub fn prune(&mut self) {
        if self.idempotency_by_age.len() != self.idempotency.len() {
            self.idempotency_by_age = self
                .idempotency
                .iter()
                .map(|(k, r)| (r.created, k.clone()))
                .collect();
        }
        let horizon = self.now - IDEMPOTENCY_TTL_S;
        while let Some((created, _)) = self.idempotency_by_age.first() {
            if *created >= horizon && self.idempotency.len() <= IDEMPOTENCY_KEPT_MAX {
                break;
            }
            if let Some((_, key)) = self.idempotency_by_age.pop_first() {
                self.idempotency.remove(&key);
            }
        }
        if self.events_by_age.len() != self.events.len() {
            let mut by_age: Vec<(u64, String)> = self
                .events
                .values()
                .map(|e| (e.seq, e.id.clone()))
                .collect();
            by_age.sort_unstable();
            self.events_by_age = by_age.into();
        }
        while self.events.len() > EVENTS_KEPT_MAX {
            match self.events_by_age.pop_front() {
                Some((_, id)) => self.events.remove(&id),
                None => break,
            };
        }
    }
}

/// One item of a list: its ordering keys, its id and its JSON.
pub struct ListItem {
    pub created: i64,
    pub seq: u64,
    pub id: String,
    pub json: Value,
}

/// Pagination parameters common to every list endpoint.
pub struct Page {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

impl Page {
    /// Reads `limit`, `starting_after` and `ending_before`.
    pub fn from_params(p: &super::wire::Params) -> ApiResult<Page> {
        let limit = p.int("limit")?.unwrap_or(10);
        if !(1..=LIST_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::param(
                "parameter_invalid_integer",
                "limit",
                format!("Invalid limit: must be between 1 and {LIST_LIMIT_MAX}"),
            ));
        }
        Ok(Page {
            limit: usize::try_from(limit).unwrap_or(10),
            starting_after: p.str("starting_after")?,
            ending_before: p.str("ending_before")?,
        })
    }
}

/// Builds a Stripe list object, newest first.
pub fn list(mut items: Vec<ListItem>, page: &Page, url: &str) -> ApiResult<Value> {
    items.sort_by_key(|i| std::cmp::Reverse((i.created, i.seq)));
    let position = |id: &str, param: &str| {
        items
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| ApiError::no_such("object", id, Some(param)))
    };
    let (window, has_more): (Vec<&ListItem>, bool) = if let Some(after) = &page.starting_after {
        let start = position(after, "starting_after")? + 1;
        let rest: Vec<&ListItem> = items[start..].iter().collect();
        let more = rest.len() > page.limit;
        (rest.into_iter().take(page.limit).collect(), more)
    } else if let Some(before) = &page.ending_before {
        let end = position(before, "ending_before")?;
        let start = end.saturating_sub(page.limit);
        (items[start..end].iter().collect(), start > 0)
    } else {
        let more = items.len() > page.limit;
        (items.iter().take(page.limit).collect(), more)
    };
    Ok(json!({
        "object": "list",
        "data": window.into_iter().map(|i| i.json.clone()).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": url,
    }))
}

/// `null` for `None`, the string otherwise.
pub fn opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |v| json!(v))
}
