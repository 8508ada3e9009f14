//! The platform's profit and loss, read from the ledger: fees earned and
//! processing fees recovered from sellers, less the provider's processing
//! fees, the platform's portion of refunds, dispute fees and dispute losses,
//! plus or minus manual adjustments.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{ledger_accounts, ledger_entries, ledger_postings};
use super::{Account, PostingView};
use crate::db::DbConnection;
use crate::error::AppError;

/// P&L figures in one currency, each positive in its usual sense.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProfitAndLoss {
    pub currency: String,
    pub fees_earned: i64,
    pub processing_fees_recovered: i64,
    pub processing_fees: i64,
    pub refunds_borne: i64,
    pub dispute_fees: i64,
    pub dispute_losses: i64,
    /// Manual adjustments booked to `platform:adjustments`: positive when they
    /// were a gain, negative when the platform bore them.
    pub adjustments: i64,
    /// fees earned + recovered − processing fees − refunds borne − dispute fees
    /// − losses + adjustments.
    pub net: i64,
}

fn pnl_codes() -> Vec<String> {
    [
        Account::fee_revenue(),
        Account::processing_fees_recovered(),
        Account::processing_fees(),
        Account::refunds_borne(),
        Account::dispute_fees(),
        Account::dispute_losses(),
        Account::adjustments(),
    ]
    .into_iter()
    .map(|a| a.code)
    .collect()
}

impl ProfitAndLoss {
    fn add(&mut self, code: &str, debit: i64, credit: i64) {
        let income = credit - debit;
        match code.trim_start_matches("platform:") {
            "fee_revenue" => self.fees_earned += income,
            "processing_fees_recovered" => self.processing_fees_recovered += income,
            "processing_fees" => self.processing_fees -= income,
            "refunds_borne" => self.refunds_borne -= income,
            "dispute_fees" => self.dispute_fees -= income,
            "dispute_losses" => self.dispute_losses -= income,
            "adjustments" => self.adjustments += income,
            _ => return,
        }
        self.net += income;
    }
}

/// One period's P&L per currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodProfitAndLoss {
    /// The day (UTC, `YYYY-MM-DD`), or `total`.
    pub period: String,
    pub currencies: Vec<ProfitAndLoss>,
}

/// The P&L of `[from, to)`, per day and in total, from the postings written then.
///
/// # Errors
/// A database failure.
pub fn profit_and_loss(
    conn: &mut DbConnection,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<Vec<PeriodProfitAndLoss>, AppError> {
    let rows: Vec<(chrono::NaiveDateTime, String, String, i64, i64)> = ledger_postings::table
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::code.eq_any(pnl_codes()))
        .filter(ledger_postings::created_at.ge(from))
        .filter(ledger_postings::created_at.lt(to))
        .select((
            ledger_postings::created_at,
            ledger_accounts::code,
            ledger_accounts::currency,
            ledger_postings::debit_minor,
            ledger_postings::credit_minor,
        ))
        .load(conn)?;
    let mut by_period: BTreeMap<String, BTreeMap<String, ProfitAndLoss>> = BTreeMap::new();
    for (at, code, currency, debit, credit) in rows {
        for period in [at.format("%Y-%m-%d").to_string(), "total".to_owned()] {
            by_period
                .entry(period)
                .or_default()
                .entry(currency.clone())
                .or_insert_with(|| ProfitAndLoss {
                    currency: currency.clone(),
                    ..ProfitAndLoss::default()
                })
                .add(&code, debit, credit);
        }
    }
    Ok(by_period
        .into_iter()
        .map(|(period, currencies)| PeriodProfitAndLoss {
            period,
            currencies: currencies.into_values().collect(),
        })
        .collect())
}

/// The postings of the entries with these causes, oldest first, and the P&L
/// they add up to (an order's, from its causes).
///
/// # Errors
/// A database failure.
pub fn entries_with_causes(
    conn: &mut DbConnection,
    causes: &[String],
) -> Result<(Vec<PostingView>, Vec<ProfitAndLoss>), AppError> {
    let postings: Vec<PostingView> = super::postings_query()
        .filter(ledger_entries::cause.eq_any(causes))
        .order((ledger_postings::created_at.asc(), ledger_postings::id.asc()))
        .load(conn)?;
    let mut pnl: BTreeMap<String, ProfitAndLoss> = BTreeMap::new();
    for p in &postings {
        let (code, currency) = p
            .account_id
            .rsplit_once(':')
            .unwrap_or((p.account_id.as_str(), ""));
        pnl.entry(currency.to_owned())
            .or_insert_with(|| ProfitAndLoss {
                currency: currency.to_owned(),
                ..ProfitAndLoss::default()
            })
            .add(code, p.debit_minor, p.credit_minor);
    }
    Ok((postings, pnl.into_values().collect()))
}
