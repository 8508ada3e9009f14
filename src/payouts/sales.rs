//! A shop's sales per day — orders and net earnings — read from the same
//! ledger postings as its period statement ([`ledger::shop_postings`]), so
//! the chart on the seller's money page and the statement never disagree.
//!
//! Net earnings of a day are what the day's postings did to the shop's
//! `payable` account (what the platform owes the seller), leaving out the
//! transfers and reversals that only move that money to and from the
//! connected account: sales' seller amounts, less refunds' and disputes'
//! take-backs, plus what won disputes and adjustments gave back.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};

use crate::db::DbConnection;
use crate::error::AppError;
use crate::ledger::{self, Account};

/// Longest run of days one answer covers.
pub const SALES_DAYS_MAX: u32 = 92;
/// Postings read per query.
const POSTINGS_PAGE_ROWS: i64 = 500;
/// Most postings one answer reads; past this the answer says it is partial.
pub const SALES_POSTINGS_MAX: usize = 100_000;

/// One UTC day of a shop's sales in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesDay {
    pub day: NaiveDate,
    /// Orders paid that day (each counted once, however many parts it had here).
    pub orders: i64,
    /// Minor units the day added to what the platform owes the seller (may
    /// be negative: a day of refunds).
    pub net_minor: i64,
}

/// A currency's days, oldest first, one per day of the run (zeros included).
#[derive(Debug, Clone)]
pub struct SalesSeries {
    pub currency: String,
    pub days: Vec<SalesDay>,
}

/// A shop's sales over a run of days.
#[derive(Debug, Clone)]
pub struct DailySales {
    /// One series per currency the shop sold in, and always `currency`.
    pub series: Vec<SalesSeries>,
    /// False when the run had more than [`SALES_POSTINGS_MAX`] postings and
    /// the later days are short.
    pub complete: bool,
}

/// Orders and net earnings of shop `shop_id` on each of the `days` UTC days
/// ending with `last_day`, per currency; `currency` (the shop's own) has a
/// series even on a run without sales.
///
/// # Errors
/// A database failure; an internal error for a sum out of `i64`.
#[tracing::instrument(skip(conn))]
pub fn daily_sales(
    conn: &mut DbConnection,
    shop_id: &str,
    last_day: NaiveDate,
    days: u32,
    currency: &str,
) -> Result<DailySales, AppError> {
    assert!(days >= 1, "a run of sales has at least one day");
    assert!(days <= SALES_DAYS_MAX, "a run of sales is bounded");
    let first_day = last_day - chrono::Duration::days(i64::from(days) - 1);
    let from: NaiveDateTime = first_day.and_time(chrono::NaiveTime::MIN);
    let to: NaiveDateTime = (last_day + chrono::Duration::days(1)).and_time(chrono::NaiveTime::MIN);
    let payable = Account::seller_payable(shop_id).code;
    let zeros = || {
        (0..days)
            .map(|offset| SalesDay {
                day: first_day + chrono::Duration::days(i64::from(offset)),
                orders: 0,
                net_minor: 0,
            })
            .collect::<Vec<_>>()
    };
    let mut by_currency: BTreeMap<String, Vec<SalesDay>> = BTreeMap::new();
    by_currency.insert(currency.to_owned(), zeros());
    let mut orders_seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut after: Option<(NaiveDateTime, String)> = None;
    let mut read = 0usize;
    let complete = loop {
        let page =
            ledger::shop_postings(conn, shop_id, from, to, after.as_ref(), POSTINGS_PAGE_ROWS)?;
        let last = page.last().map(|p| (p.created_at, p.id.clone()));
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == POSTINGS_PAGE_ROWS;
        read += page.len();
        for posting in page {
            // Transfers and reversals pay earnings out (or back); they earn nothing.
            if posting.account_code != payable || posting.cause.starts_with("movement:") {
                continue;
            }
            let index = (posting.created_at.date() - first_day).num_days();
            let index = usize::try_from(index).expect("postings are read within the run");
            let series = by_currency
                .entry(posting.currency.clone())
                .or_insert_with(zeros);
            let day = &mut series[index];
            day.net_minor = day
                .net_minor
                .checked_add(posting.credit_minor)
                .and_then(|n| n.checked_sub(posting.debit_minor))
                .ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("daily sales of {shop_id} overflow"))
                })?;
            let sale = posting.cause.starts_with("allocation:") && posting.credit_minor > 0;
            if sale && orders_seen.insert((posting.currency, posting.cause)) {
                day.orders += 1;
            }
        }
        match last {
            Some(last) if full => {
                if read >= SALES_POSTINGS_MAX {
                    break false;
                }
                after = Some(last);
            }
            _ => break true,
        }
    };
    let series = by_currency
        .into_iter()
        .map(|(currency, days)| SalesSeries { currency, days })
        .collect::<Vec<_>>();
    for s in &series {
        assert_eq!(s.days.len(), days as usize, "one entry per day of the run");
    }
    Ok(DailySales { series, complete })
}
