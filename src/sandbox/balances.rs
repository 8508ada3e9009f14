//! Balance transactions, balances, payouts (manual and on schedule) and the clock that
//! moves funds from pending to available and payouts from in transit to paid or failed.
//!
//! An automatic payout sweeps every available transaction of its account and currency
//! that no automatic payout has swept yet, including earlier manual payouts and failed
//! payouts' returns, so `GET /v1/balance_transactions?payout=po_…` lists exactly the
//! transactions whose nets sum to the payout's amount. A manual payout lists only its
//! own transaction.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::accounts::FAILING_BANK_NUMBERS;
use super::pricing::pricing;
use super::store::{list, new_id, opt, ListItem, Page, Payout, Store, Txn};
use super::wire::{ApiError, ApiResult, Params};

/// Largest clock step one request may take (a year).
pub const ADVANCE_MAX_S: i64 = 31_536_000;

/// A balance transaction to record.
pub struct NewTxn {
    pub account: String,
    pub amount: i64,
    pub fee: i64,
    pub fee_details: Vec<(i64, String, String)>,
    pub currency: String,
    pub kind: &'static str,
    pub category: &'static str,
    pub source: Option<String>,
    pub available_on: i64,
    pub description: Option<String>,
}

/// What the clock has to do next.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Funds,
    Schedule(String),
    Arrival(String),
}

impl Store {
    /// Records a balance transaction and returns its id.
    pub fn add_txn(&mut self, t: NewTxn) -> String {
        let id = new_id("txn");
        let seq = self.next_seq();
        // A transfer's payment to a connected account is announced by
        // `balance.available` even when its funds are available at once (its
        // charge's funds already were, as for a share released days after
        // the sale): the account's available balance grew, and Stripe tells
        // the account so. Other transactions available at once are not.
        let announce = t.available_on > self.now || t.kind == "payment";
        if announce {
            // Waiting funds: the clock must stop by when they become available.
            if let Some(due) = &mut self.funds_due_at {
                *due = Some(due.map_or(t.available_on, |d| d.min(t.available_on)));
            }
        }
        self.txns.insert(
            id.clone(),
            Txn {
                id: id.clone(),
                seq,
                account: t.account,
                created: self.now,
                available_on: t.available_on,
                amount: t.amount,
                fee: t.fee,
                fee_details: t.fee_details,
                currency: t.currency,
                kind: t.kind.to_owned(),
                reporting_category: t.category.to_owned(),
                source: t.source,
                description: t.description,
                payout: None,
                announced: !announce,
            },
        );
        id
    }

    /// The available balance of `account` in `currency` now.
    pub fn available(&self, account: &str, currency: &str) -> i64 {
        self.txns
            .values()
            .filter(|t| {
                t.account == account && t.currency == currency && t.available_on <= self.now
            })
            .map(Txn::net)
            .sum()
    }

    /// `GET /v1/balance`.
    pub fn balance_json(&self, account: &str) -> Value {
        let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        if let Some(a) = self.accounts.get(account) {
            sums.entry(a.default_currency.as_str()).or_default();
        }
        for t in self.txns.values().filter(|t| t.account == account) {
            let entry = sums.entry(t.currency.as_str()).or_default();
            if t.available_on <= self.now {
                entry.0 += t.net();
            } else {
                entry.1 += t.net();
            }
        }
        let part = |pick: fn(&(i64, i64)) -> i64| -> Vec<Value> {
            sums.iter()
                .map(|(c, s)| json!({"amount": pick(s), "currency": c, "source_types": {"card": pick(s)}}))
                .collect()
        };
        let mut balance = json!({
            "object": "balance",
            "available": part(|s| s.0),
            "livemode": false,
            "pending": part(|s| s.1),
        });
        if account == self.platform {
            balance["connect_reserved"] = sums
                .keys()
                .map(|c| json!({"amount": 0, "currency": c}))
                .collect();
        }
        balance
    }

    /// The balance transaction as the API shows it.
    pub fn txn_json(&self, id: &str) -> Value {
        let Some(t) = self.txns.get(id) else {
            return Value::Null;
        };
        let fee_details: Vec<Value> = t
            .fee_details
            .iter()
            .map(|(amount, kind, description)| {
                json!({"amount": amount, "application": null, "currency": t.currency, "description": description, "type": kind})
            })
            .collect();
        json!({
            "id": t.id,
            "object": "balance_transaction",
            "amount": t.amount,
            "available_on": t.available_on,
            "balance_type": "payments",
            "created": t.created,
            "currency": t.currency,
            "description": opt(&t.description),
            "exchange_rate": null,
            "fee": t.fee,
            "fee_details": fee_details,
            "net": t.net(),
            "reporting_category": t.reporting_category,
            "source": opt(&t.source),
            "status": if t.available_on <= self.now { "available" } else { "pending" },
            "type": t.kind,
        })
    }

    /// `GET /v1/balance_transactions/{id}`.
    pub fn get_txn(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.txns
            .get(id)
            .filter(|t| t.account == acting)
            .ok_or_else(|| ApiError::no_such("balance transaction", id, Some("id")))?;
        Ok(self.txn_json(id))
    }

    /// `GET /v1/balance_transactions`: filters `payout`, `type`, `currency`, `source`.
    pub fn list_txns(&self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "payout",
            "type",
            "currency",
            "source",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let page = Page::from_params(p)?;
        let created = p.range("created")?.unwrap_or_default();
        let kind = p.str("type")?;
        let currency = p.str("currency")?.map(|c| c.to_lowercase());
        let source = p.str("source")?;
        let payout = match p.str("payout")? {
            Some(id) => Some(
                self.payouts
                    .get(&id)
                    .filter(|po| po.account == acting)
                    .ok_or_else(|| ApiError::no_such("payout", &id, Some("payout")))?,
            ),
            None => None,
        };
        let items = self
            .txns
            .values()
            .filter(|t| t.account == acting)
            .filter(|t| match payout {
                Some(po) if po.automatic => {
                    t.payout.as_deref() == Some(po.id.as_str()) && t.id != po.txn
                }
                Some(po) => t.id == po.txn,
                None => true,
            })
            .filter(|t| kind.as_ref().is_none_or(|k| *k == t.kind))
            .filter(|t| currency.as_ref().is_none_or(|c| *c == t.currency))
            .filter(|t| source.is_none() || source == t.source)
            .filter(|t| created.contains(t.created))
            .map(|t| ListItem {
                created: t.created,
                seq: t.seq,
                id: t.id.clone(),
                json: self.txn_json(&t.id),
            })
            .collect();
        list(items, &page, "/v1/balance_transactions")
    }

    /// `POST /v1/payouts`: a manual payout of available funds to the account's bank.
    pub fn create_payout(&mut self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "amount",
            "currency",
            "description",
            "metadata",
            "method",
            "statement_descriptor",
            "destination",
            "source_type",
        ])?;
        let amount = p.req_amount("amount")?;
        let currency = p.req_str("currency")?.to_lowercase();
        pricing(&currency, "currency")?;
        p.choice("method", &["standard"])?;
        p.choice("source_type", &["card", "bank_account", "fpx"])?;
        let metadata = p.metadata()?.unwrap_or_default();
        let description = p.str("description")?;
        let statement_descriptor = p.str("statement_descriptor")?;
        if !self.payouts_enabled(acting) {
            return Err(ApiError::invalid(
                "payouts_not_allowed",
                "Payouts are not enabled for this account.",
            ));
        }
        let bank = self.accounts.get(acting).and_then(|a| a.bank.clone());
        if let Some(dest) = p.str("destination")? {
            if bank.as_ref().is_none_or(|b| b.id != dest) {
                return Err(ApiError::param(
                    "resource_missing",
                    "destination",
                    format!("No such external account: '{dest}'"),
                ));
            }
        }
        let available = self.available(acting, &currency);
        if amount > available {
            return Err(ApiError::invalid(
                "balance_insufficient",
                format!("You have insufficient funds in your Stripe account for this transfer. Your available balance is {available} {currency}."),
            ));
        }
        let id = self.make_payout(acting, amount, &currency, false);
        if let Some(po) = self.payouts.get_mut(&id) {
            po.description = description.or(po.description.take());
            po.statement_descriptor = statement_descriptor;
            po.metadata = metadata;
        }
        let json = self.payout_json(&id);
        self.emit("payout.created", acting, json.clone(), None);
        Ok(json)
    }

    fn make_payout(
        &mut self,
        account: &str,
        amount: i64,
        currency: &str,
        automatic: bool,
    ) -> String {
        let id = new_id("po");
        let txn = self.add_txn(NewTxn {
            account: account.to_owned(),
            amount: -amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: currency.to_owned(),
            kind: "payout",
            category: "payout",
            source: Some(id.clone()),
            available_on: self.now,
            description: Some("STRIPE PAYOUT".into()),
        });
        if automatic {
            if let Some(t) = self.txns.get_mut(&txn) {
                t.payout = Some(id.clone());
            }
        }
        let bank = self.accounts.get(account).and_then(|a| a.bank.clone());
        let seq = self.next_seq();
        self.payouts.insert(
            id.clone(),
            Payout {
                id: id.clone(),
                seq,
                account: account.to_owned(),
                created: self.now,
                amount,
                currency: currency.to_owned(),
                arrival_date: self.now + self.timing.payout_transit_s,
                automatic,
                status: "in_transit".into(),
                method: "standard".into(),
                destination: bank.as_ref().map(|b| b.id.clone()),
                bank_number: bank.map(|b| b.account_number),
                description: Some("STRIPE PAYOUT".into()),
                statement_descriptor: None,
                metadata: Default::default(),
                txn,
                failure_txn: None,
                failure_code: None,
                failure_message: None,
            },
        );
        id
    }

    /// `GET /v1/payouts/{id}`.
    pub fn get_payout(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.payouts
            .get(id)
            .filter(|po| po.account == acting)
            .ok_or_else(|| ApiError::no_such("payout", id, Some("id")))?;
        Ok(self.payout_json(id))
    }

    /// `GET /v1/payouts`: filter `status`.
    pub fn list_payouts(&self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "status",
            "created",
            "arrival_date",
            "destination",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let page = Page::from_params(p)?;
        let status = p.str("status")?;
        let created = p.range("created")?.unwrap_or_default();
        let arrival = p.range("arrival_date")?.unwrap_or_default();
        let destination = p.str("destination")?;
        let items = self
            .payouts
            .values()
            .filter(|po| po.account == acting)
            .filter(|po| status.as_ref().is_none_or(|s| *s == po.status))
            .filter(|po| created.contains(po.created) && arrival.contains(po.arrival_date))
            .filter(|po| destination.is_none() || destination == po.destination)
            .map(|po| ListItem {
                created: po.created,
                seq: po.seq,
                id: po.id.clone(),
                json: self.payout_json(&po.id),
            })
            .collect();
        list(items, &page, "/v1/payouts")
    }

    /// The payout as the API shows it.
    pub fn payout_json(&self, id: &str) -> Value {
        let Some(po) = self.payouts.get(id) else {
            return Value::Null;
        };
        json!({
            "id": po.id,
            "object": "payout",
            "amount": po.amount,
            "application_fee": null,
            "application_fee_amount": null,
            "arrival_date": po.arrival_date,
            "automatic": po.automatic,
            "balance_transaction": po.txn,
            "created": po.created,
            "currency": po.currency,
            "description": opt(&po.description),
            "destination": opt(&po.destination),
            "failure_balance_transaction": opt(&po.failure_txn),
            "failure_code": opt(&po.failure_code),
            "failure_message": opt(&po.failure_message),
            "livemode": false,
            "metadata": po.metadata,
            "method": po.method,
            "original_payout": null,
            "reconciliation_status": if po.automatic { "completed" } else { "not_applicable" },
            "reversed_by": null,
            "source_type": "card",
            "statement_descriptor": opt(&po.statement_descriptor),
            "status": po.status,
            "type": "bank_account",
        })
    }

    /// `POST /v1/test_helpers/advance_clock`: moves sandbox time and runs what fell due.
    pub fn advance_clock(&mut self, p: &Params) -> ApiResult<Value> {
        p.allow(&["seconds"])?;
        let seconds = p
            .int("seconds")?
            .ok_or_else(|| ApiError::missing("seconds"))?;
        if !(1..=ADVANCE_MAX_S).contains(&seconds) {
            return Err(ApiError::param(
                "parameter_invalid_integer",
                "seconds",
                format!("seconds must be between 1 and {ADVANCE_MAX_S}."),
            ));
        }
        self.offset_s += seconds;
        let until = self.clock();
        self.run_due(until);
        Ok(
            json!({"object": "test_helpers.clock", "frozen_time": self.now, "offset_s": self.offset_s}),
        )
    }

    /// Runs every transition due at or before `until`, in time order, each at its own time.
    pub fn run_due(&mut self, until: i64) {
        loop {
            let funds_due_at = match self.funds_due_at {
                Some(known) => known,
                None => {
                    let scanned = self
                        .txns
                        .values()
                        .filter(|t| !t.announced)
                        .map(|t| t.available_on)
                        .min();
                    self.funds_due_at = Some(scanned);
                    scanned
                }
            };
            let mut next: Option<(i64, Due)> = None;
            let mut consider = |t: i64, d: Due| {
                if t <= until && next.as_ref().is_none_or(|(nt, nd)| (t, &d) < (*nt, nd)) {
                    next = Some((t, d));
                }
            };
            if let Some(t) = funds_due_at {
                consider(t, Due::Funds);
            }
            for a in self
                .accounts
                .values()
                .filter(|a| !a.is_platform && !a.manual_payouts)
            {
                consider(a.next_payout_at, Due::Schedule(a.id.clone()));
            }
            for po in self.payouts.values().filter(|po| po.status == "in_transit") {
                consider(po.arrival_date, Due::Arrival(po.id.clone()));
            }
            let Some((t, due)) = next else { break };
            self.now = t;
            match due {
                Due::Funds => self.announce_funds(t),
                Due::Schedule(account) => self.scheduled_payouts(&account, t, until),
                Due::Arrival(id) => self.payout_arrives(&id),
            }
        }
        self.now = until;
    }

    fn announce_funds(&mut self, t: i64) {
        let due: Vec<String> = self
            .txns
            .values()
            .filter(|x| !x.announced && x.available_on <= t)
            .map(|x| x.id.clone())
            .collect();
        let mut accounts = BTreeSet::new();
        for id in due {
            if let Some(txn) = self.txns.get_mut(&id) {
                txn.announced = true;
                accounts.insert(txn.account.clone());
            }
        }
        // Known again at the next look, which scans what is still waiting.
        self.funds_due_at = None;
        for account in accounts {
            let balance = self.balance_json(&account);
            self.emit("balance.available", &account, balance, None);
        }
    }

    fn scheduled_payouts(&mut self, account: &str, t: i64, until: i64) {
        let interval = self.timing.payout_interval_s.max(1);
        let mut paid = false;
        if self.payouts_enabled(account) {
            let mut sweeps: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
            for txn in self
                .txns
                .values()
                .filter(|x| x.account == account && x.available_on <= t && x.payout.is_none())
            {
                let entry = sweeps.entry(txn.currency.clone()).or_default();
                entry.0 += txn.net();
                entry.1.push(txn.id.clone());
            }
            for (currency, (amount, ids)) in sweeps {
                if amount <= 0 {
                    continue;
                }
                let id = self.make_payout(account, amount, &currency, true);
                for txn in ids {
                    if let Some(x) = self.txns.get_mut(&txn) {
                        x.payout = Some(id.clone());
                    }
                }
                let json = self.payout_json(&id);
                self.emit("payout.created", account, json, None);
                paid = true;
            }
        }
        // With nothing paid, skip the empty schedule points up to the next moment funds
        // become available (or past `until`), so a year's advance stays cheap.
        let steps = if paid {
            1
        } else {
            let next_funds = self
                .txns
                .values()
                .filter(|x| x.account == account && x.available_on > t)
                .map(|x| x.available_on)
                .min();
            let horizon = match next_funds {
                Some(f) if f <= until => f,
                _ => until.saturating_add(1),
            };
            ((horizon - t + interval - 1) / interval).max(1)
        };
        if let Some(a) = self.accounts.get_mut(account) {
            a.next_payout_at = t.saturating_add(steps.saturating_mul(interval));
        }
    }

    fn payout_arrives(&mut self, id: &str) {
        let Some(po) = self.payouts.get(id).cloned() else {
            return;
        };
        let failure = FAILING_BANK_NUMBERS
            .iter()
            .find(|(number, ..)| po.bank_number.as_deref() == Some(*number));
        let before = self.payout_json(id);
        match failure {
            Some((_, code, message)) => {
                let txn = self.add_txn(NewTxn {
                    account: po.account.clone(),
                    amount: po.amount,
                    fee: 0,
                    fee_details: Vec::new(),
                    currency: po.currency.clone(),
                    kind: "payout_failure",
                    category: "payout_reversal",
                    source: Some(id.to_owned()),
                    available_on: self.now,
                    description: Some(format!("Payout failure ({code})")),
                });
                if let Some(p) = self.payouts.get_mut(id) {
                    p.status = "failed".into();
                    p.failure_code = Some((*code).into());
                    p.failure_message = Some((*message).into());
                    p.failure_txn = Some(txn);
                }
                let previous = json!({
                    "status": before["status"],
                    "failure_code": null,
                    "failure_message": null,
                    "failure_balance_transaction": null,
                });
                let after = self.payout_json(id);
                self.emit(
                    "payout.failed",
                    &po.account,
                    after.clone(),
                    Some(previous.clone()),
                );
                self.emit("payout.updated", &po.account, after, Some(previous));
                // As Stripe does, a failed payout disables payouts until the bank
                // account is replaced, so the money is not sent to it again and again.
                let account_before = self.account_json(&po.account);
                let bank = self
                    .accounts
                    .get_mut(&po.account)
                    .and_then(|a| a.bank.as_mut());
                if let Some(bank) =
                    bank.filter(|b| po.destination.as_deref() == Some(b.id.as_str()))
                {
                    bank.errored = true;
                    self.account_changed(&po.account, &account_before);
                }
            }
            None => {
                if let Some(p) = self.payouts.get_mut(id) {
                    p.status = "paid".into();
                }
                let previous = json!({"status": before["status"]});
                let after = self.payout_json(id);
                self.emit(
                    "payout.paid",
                    &po.account,
                    after.clone(),
                    Some(previous.clone()),
                );
                self.emit("payout.updated", &po.account, after, Some(previous));
            }
        }
    }
}
