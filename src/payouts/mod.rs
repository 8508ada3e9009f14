//! Payouts of shops' connected accounts to their banks, tracked from the
//! provider's `payout.*` events (always re-read from the provider, so stale or
//! out-of-order events converge on its state), with every status seen, and
//! their memo entries in the ledger: created → in transit, paid → paid out,
//! failed or canceled → the money back on the connected balance.

pub mod attention;
pub mod balance;
pub mod funds;
mod http;
pub mod sales;
pub mod schema;
pub mod statements;

use diesel::prelude::*;
use serde::Serialize;

pub use http::routes;
pub(crate) use http::{
    payout_statement_csv_answer, payouts_csv_answer, period_statement_csv_answer,
};
use schema::{payout_status_history, payouts};

use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::ledger::{self, Account, NewEntry};
use crate::money::Money;
use crate::payments::{Payout, Provider};

/// Most payouts one list returns.
pub const PAYOUTS_PAGE_MAX: i64 = 100;

/// A payout as stored, with the statuses it went through. Answers show it as
/// [`PayoutJson`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payouts)]
pub struct PayoutRow {
    pub id: String,
    pub shop_id: String,
    pub account_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// Unix seconds, in the provider's clock, as it gives it.
    pub arrival_date: i64,
    pub automatic: bool,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// A payout of a shop's connected account to its bank.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Payout)]
pub struct PayoutJson<'a> {
    pub id: &'a str,
    pub shop_id: &'a str,
    pub account_id: &'a str,
    pub amount: Money,
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: &'a str,
    pub failure_code: Option<&'a str>,
    pub failure_message: Option<&'a str>,
    /// When the bank should have the money, as the provider dates it (Stripe:
    /// midnight UTC of that day).
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub arrival_date: chrono::NaiveDateTime,
    pub automatic: bool,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub updated_at: chrono::NaiveDateTime,
}

impl PayoutRow {
    /// The stored currency, which we wrote from a parsed one.
    ///
    /// # Errors
    /// A code that is no currency: a corrupt row.
    pub fn currency(&self) -> Result<crate::money::Currency, AppError> {
        ledger::stored_currency(&self.currency, &self.id)
    }

    /// When the bank should have the money, as the provider dates it (a Unix
    /// time); `None` for a stored time out of range, a corrupt row.
    pub fn arrival(&self) -> Option<chrono::NaiveDateTime> {
        chrono::DateTime::from_timestamp(self.arrival_date, 0).map(|at| at.naive_utc())
    }

    /// The payout as answers show it.
    ///
    /// # Errors
    /// A stored currency or arrival date that cannot be read: a corrupt row.
    pub fn json(&self) -> Result<PayoutJson<'_>, AppError> {
        let arrival_date = self.arrival().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "payout {} arrival date {} is out of range",
                self.id,
                self.arrival_date
            ))
        })?;
        Ok(PayoutJson {
            id: &self.id,
            shop_id: &self.shop_id,
            account_id: &self.account_id,
            amount: Money::new(self.amount_minor, self.currency()?),
            status: &self.status,
            failure_code: self.failure_code.as_deref(),
            failure_message: self.failure_message.as_deref(),
            arrival_date,
            automatic: self.automatic,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

crate::http::json::answered_as!(PayoutRow => PayoutJson);

/// A payout and its status history, for people.
#[derive(Debug, Clone)]
pub struct PayoutView {
    pub payout: PayoutRow,
    /// The shop's name (staff lists show every shop's payouts).
    pub shop_name: String,
    /// What the seller must do, for a failed payout.
    pub action: Option<&'static str>,
    /// Statuses with when each was first seen, oldest first.
    pub history: Vec<(String, chrono::NaiveDateTime)>,
    /// A paid payout's balance transactions, each matched to the ledger.
    pub lines: Vec<funds::PayoutLine>,
}

/// A status a payout reached, and when we first saw it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusSeen<'a> {
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: &'a str,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub at: chrono::NaiveDateTime,
}

/// A payout with its shop, every status it went through and its lines.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PayoutView)]
pub struct PayoutViewJson<'a> {
    #[serde(flatten)]
    pub payout: PayoutJson<'a>,
    /// The shop's name (staff lists show every shop's payouts).
    pub shop_name: &'a str,
    /// What the seller must do, for a failed payout.
    pub action: Option<&'static str>,
    /// Oldest first.
    pub history: Vec<StatusSeen<'a>>,
    /// A paid payout's balance transactions, each matched to the ledger.
    pub lines: Vec<funds::PayoutLineJson<'a>>,
}

impl PayoutView {
    /// The payout as answers show it.
    ///
    /// # Errors
    /// As [`PayoutRow::json`].
    pub fn json(&self) -> Result<PayoutViewJson<'_>, AppError> {
        let currency = self.payout.currency()?;
        Ok(PayoutViewJson {
            payout: self.payout.json()?,
            shop_name: &self.shop_name,
            action: self.action,
            history: self
                .history
                .iter()
                .map(|(status, at)| StatusSeen { status, at: *at })
                .collect(),
            lines: self.lines.iter().map(|line| line.json(currency)).collect(),
        })
    }
}

crate::http::json::answered_as!(PayoutView => PayoutViewJson);

/// What the seller must do about a payout that failed with `failure_code`.
pub(crate) fn action_for(failure_code: Option<&str>) -> Option<&'static str> {
    failure_code.map(|code| match code {
        "account_closed" | "no_account" | "invalid_account_number" | "bank_account_restricted" => {
            "update the bank account in your onboarding link; the money stays on your balance and is paid out again"
        }
        "insufficient_funds" => "nothing: the payout is retried once the balance covers it",
        _ => "check the bank details with your bank, then update them through your onboarding link",
    })
}

fn entries(payout: &Payout, shop_id: &str) -> Vec<NewEntry> {
    let amount = Money::new(payout.amount.minor.abs(), payout.amount.currency);
    let mut made = vec![NewEntry::new(
        format!("payout_created:{}", payout.id),
        format!("payout {} created", payout.id),
    )
    .debit(Account::seller_in_transit(shop_id), amount)
    .credit_ref(
        Account::seller_connected_balance(shop_id),
        amount,
        &payout.id,
    )];
    match payout.status.as_str() {
        "paid" => made.push(
            NewEntry::new(
                format!("payout_paid:{}", payout.id),
                format!("payout {} paid", payout.id),
            )
            .debit(Account::seller_paid_out(shop_id), amount)
            .credit(Account::seller_in_transit(shop_id), amount),
        ),
        "failed" | "canceled" => made.push(
            NewEntry::new(
                format!("payout_{}:{}", payout.status, payout.id),
                format!(
                    "payout {} {}: funds back on the balance",
                    payout.id, payout.status
                ),
            )
            .debit_ref(
                Account::seller_connected_balance(shop_id),
                amount,
                &format!("{}:failure", payout.id),
            )
            .credit(Account::seller_in_transit(shop_id), amount),
        ),
        _ => {}
    }
    made
}

/// Records a payout's current state: the row, its status in the history, and
/// the ledger entries its status implies (each posted once).
///
/// # Errors
/// 404 when the account is no shop's (not ours); a database failure.
pub fn record(conn: &mut DbConnection, account_id: &str, payout: &Payout) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        db::serialize_on(conn, &format!("payout:{}", payout.id))?;
        let shop_id = funds::shop_of_account(conn, account_id)?;
        let now = db::now();
        let exists: i64 = payouts::table.find(&payout.id).count().get_result(conn)?;
        if exists == 0 {
            diesel::insert_into(payouts::table)
                .values((
                    payouts::id.eq(&payout.id),
                    payouts::shop_id.eq(&shop_id),
                    payouts::account_id.eq(account_id),
                    payouts::amount_minor.eq(payout.amount.minor),
                    payouts::currency.eq(payout.amount.currency.code()),
                    payouts::status.eq(&payout.status),
                    payouts::failure_code.eq(&payout.failure_code),
                    payouts::failure_message.eq(&payout.failure_message),
                    payouts::arrival_date.eq(payout.arrival_date),
                    payouts::automatic.eq(payout.automatic),
                    payouts::created_at.eq(now),
                    payouts::updated_at.eq(now),
                ))
                .execute(conn)?;
        } else {
            diesel::update(payouts::table.find(&payout.id))
                .set((
                    payouts::status.eq(&payout.status),
                    payouts::failure_code.eq(&payout.failure_code),
                    payouts::failure_message.eq(&payout.failure_message),
                    payouts::arrival_date.eq(payout.arrival_date),
                    payouts::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        let seen: i64 = payout_status_history::table
            .find((&payout.id, &payout.status))
            .count()
            .get_result(conn)?;
        if seen == 0 {
            diesel::insert_into(payout_status_history::table)
                .values((
                    payout_status_history::payout_id.eq(&payout.id),
                    payout_status_history::status.eq(&payout.status),
                    payout_status_history::seen_at.eq(now),
                ))
                .execute(conn)?;
            tell_seller(conn, &shop_id, payout)?;
            announce(conn, &shop_id, payout)?;
        }
        for entry in entries(payout, &shop_id) {
            ledger::post(conn, &entry)?;
        }
        Ok(())
    })
}

/// Records the event of a payout that has just been seen paid or failed, as
/// the API answers about it.
fn announce(conn: &mut DbConnection, shop_id: &str, payout: &Payout) -> Result<(), AppError> {
    use crate::events::outbox::{self, NewEvent};
    use crate::events::types::EventType;
    let kind = match payout.status.as_str() {
        "paid" => EventType::PayoutPaid,
        "failed" => EventType::PayoutFailed,
        _ => return Ok(()),
    };
    let row: PayoutRow = payouts::table
        .find(&payout.id)
        .select(PayoutRow::as_select())
        .first(conn)?;
    let data = serde_json::to_value(row.json()?)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("payout {}: {e}", payout.id)))?;
    outbox::emit(conn, NewEvent::new(kind, data).shop(shop_id))?;
    Ok(())
}

/// Queues the seller's email for a payout that has just been seen paid or failed.
fn tell_seller(conn: &mut DbConnection, shop_id: &str, payout: &Payout) -> Result<(), AppError> {
    use crate::notify::{messages::PayoutNotice, Message};
    if !matches!(payout.status.as_str(), "paid" | "failed") {
        return Ok(());
    }
    let shop = crate::sellers::shops::find_shop(conn, shop_id)?
        .ok_or(AppError::NotFound { resource: "shop" })?;
    let arrival = chrono::DateTime::from_timestamp(payout.arrival_date, 0)
        .map(|at| at.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let notice = PayoutNotice {
        shop_name: shop.name.clone(),
        payout_id: payout.id.clone(),
        amount: Money::new(payout.amount.minor.abs(), payout.amount.currency).to_string(),
        arrival_date: arrival,
        failure_code: payout.failure_code.clone(),
        failure_message: payout.failure_message.clone(),
        action: action_for(payout.failure_code.as_deref()).map(str::to_owned),
    };
    let message = if payout.status == "paid" {
        Message::PayoutPaid(notice)
    } else {
        Message::PayoutFailed(PayoutNotice {
            // A failure without a code still needs something to do.
            action: notice
                .action
                .clone()
                .or(action_for(Some("unknown")).map(str::to_owned)),
            ..notice
        })
    };
    let cause = format!("{}:{}", message.template(), payout.id);
    crate::sellers::notices::tell_owner(
        conn,
        &shop.id,
        &shop.owner_user_id,
        &cause,
        &message,
        &crate::sellers::notices::payout_path(&shop.id, &payout.id),
    )
}

/// Re-reads a payout from the provider and records it (the `payout.*` handler).
///
/// # Errors
/// As [`record`]; provider errors.
pub async fn sync_payout(
    pool: &DbPool,
    provider: &dyn Provider,
    account_id: &str,
    payout_id: &str,
) -> Result<(), AppError> {
    // Only our shops' accounts are asked about: another account is not ours.
    let account = account_id.to_owned();
    let shop_id = db::run(pool, move |conn| funds::shop_of_account(conn, &account)).await?;
    let payout = provider.retrieve_payout(account_id, payout_id).await?;
    let account = account_id.to_owned();
    let paid = payout.status == "paid";
    db::run(pool, move |conn| record(conn, &account, &payout)).await?;
    if paid {
        funds::match_lines(pool, provider, account_id, &shop_id, payout_id).await?;
    }
    Ok(())
}

/// A page of payouts, newest first, older than the `before` cursor
/// (`(created_at, id)`), optionally of one shop or status: for exports.
///
/// # Errors
/// A database failure.
pub fn page(
    conn: &mut DbConnection,
    shop_id: Option<&str>,
    status: Option<&str>,
    before: Option<&(chrono::NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<PayoutRow>, AppError> {
    let mut query = payouts::table.select(PayoutRow::as_select()).into_boxed();
    if let Some(shop_id) = shop_id {
        query = query.filter(payouts::shop_id.eq(shop_id.to_owned()));
    }
    if let Some(status) = status {
        query = query.filter(payouts::status.eq(status.to_owned()));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            payouts::created_at
                .lt(*at)
                .or(payouts::created_at.eq(*at).and(payouts::id.lt(id.clone()))),
        );
    }
    Ok(query
        .order((payouts::created_at.desc(), payouts::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// Payouts, failed ones first, then newest; optionally of one shop or status.
///
/// # Errors
/// A database failure.
pub fn list(
    conn: &mut DbConnection,
    shop_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<PayoutView>, AppError> {
    let mut query = payouts::table.select(PayoutRow::as_select()).into_boxed();
    if let Some(shop_id) = shop_id {
        query = query.filter(payouts::shop_id.eq(shop_id.to_owned()));
    }
    if let Some(status) = status {
        query = query.filter(payouts::status.eq(status.to_owned()));
    }
    // Failed first in the query itself, so a page never cuts off an older
    // failed payout behind newer paid ones.
    let rows: Vec<PayoutRow> = query
        .order((
            payouts::status.eq("failed").desc(),
            payouts::created_at.desc(),
            payouts::id.desc(),
        ))
        .limit(limit.clamp(1, PAYOUTS_PAGE_MAX))
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let history: Vec<(String, String, chrono::NaiveDateTime)> = payout_status_history::table
        .filter(payout_status_history::payout_id.eq_any(&ids))
        .order(payout_status_history::seen_at.asc())
        .select((
            payout_status_history::payout_id,
            payout_status_history::status,
            payout_status_history::seen_at,
        ))
        .load(conn)?;
    let lines: Vec<funds::PayoutLine> = schema::payout_lines::table
        .filter(schema::payout_lines::payout_id.eq_any(&ids))
        .order(schema::payout_lines::transaction_id.asc())
        .select(funds::PayoutLine::as_select())
        .load(conn)?;
    let mut shop_ids: Vec<&str> = rows.iter().map(|r| r.shop_id.as_str()).collect();
    shop_ids.sort_unstable();
    shop_ids.dedup();
    let names = crate::sellers::public::shop_names(conn, &shop_ids)?;
    drop(shop_ids);
    Ok(rows
        .into_iter()
        .map(|payout| PayoutView {
            shop_name: names.get(&payout.shop_id).cloned().unwrap_or_default(),
            lines: lines
                .iter()
                .filter(|l| l.payout_id == payout.id)
                .cloned()
                .collect(),
            action: action_for(payout.failure_code.as_deref()),
            history: history
                .iter()
                .filter(|(id, _, _)| *id == payout.id)
                .map(|(_, status, at)| (status.clone(), *at))
                .collect(),
            payout,
        })
        .collect())
}
