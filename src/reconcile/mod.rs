//! Reconciliation: the ledger against the provider, for the platform and for
//! every shop's connected account.
//!
//! The provider's balance transactions are summed per object (`ch_`, `re_`,
//! `tr_`, `trr_`, `dp_` on the platform; `py_`, `pyr_`, `po_` on a connected
//! account) and compared with the ledger's postings that mirror them (each
//! names its provider object; see `ledger::NewEntry::debit_ref`), then the
//! balances (the platform's total; a shop's pending and available), then our
//! payouts' statuses. Every difference is a row; a run is stored as a report
//! (append-only) and read by finance, or printed by `bazaar reconcile`.
//!
//! Run it when the marketplace is quiet (or accept in-flight work as
//! differences that vanish on the next run): a transfer the provider made
//! and our process has not confirmed yet is, for that moment, missing in the
//! ledger.

pub mod compare;
mod http;
pub mod schema;

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

pub use compare::{Difference, Kind};
pub use http::routes;
use schema::{reconciliation_differences, reconciliation_reports};

use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::ledger::{self, Account};
use crate::payments::{all_balance_transactions, Balance, BalanceTransaction, Provider};
use crate::payouts::funds::connected_codes;
use crate::payouts::schema::payouts;
use crate::sellers::schema::shops;

/// Most reports one list returns.
pub const REPORTS_PAGE_MAX: i64 = 100;

/// A reconciliation run and what it found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub id: String,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub started_at: chrono::NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub finished_at: chrono::NaiveDateTime,
    /// The platform account and each shop's connected account.
    pub accounts_checked: i64,
    pub transactions_checked: i64,
    pub differences: Vec<Difference>,
}

/// A stored report without its rows, for lists.
#[derive(Debug, Clone, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = reconciliation_reports)]
pub struct ReportSummary {
    pub id: String,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub started_at: chrono::NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub finished_at: chrono::NaiveDateTime,
    pub accounts_checked: i64,
    pub transactions_checked: i64,
    pub differences: i64,
}

fn sums_of(txns: &[BalanceTransaction]) -> compare::Sums {
    let mut sums = compare::Sums::new();
    for txn in txns {
        *sums
            .entry((txn.reference(), txn.amount.currency.code().to_owned()))
            .or_insert(0) += txn.net;
    }
    sums
}

fn per_currency(sums: &compare::Sums) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for ((_, currency), amount) in sums {
        *totals.entry(currency.clone()).or_insert(0) += amount;
    }
    totals
}

fn funds(money: &[crate::money::Money]) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for m in money {
        *totals.entry(m.currency.code().to_owned()).or_insert(0) += m.minor;
    }
    totals
}

fn total(balance: &Balance) -> BTreeMap<String, i64> {
    let mut totals = funds(&balance.available);
    for (currency, amount) in funds(&balance.pending) {
        *totals.entry(currency).or_insert(0) += amount;
    }
    totals
}

/// Compares the platform account.
async fn platform(
    pool: &DbPool,
    provider: &dyn Provider,
) -> Result<(usize, Vec<Difference>), AppError> {
    let txns = all_balance_transactions(provider, None, None).await?;
    let balance = provider.retrieve_balance(None).await?;
    let ledger = db::run(pool, |conn| {
        ledger::sums_by_reference(conn, &[Account::platform_cash().code])
    })
    .await?;
    let mut differences = compare::by_reference("platform", &sums_of(&txns), &ledger);
    differences.extend(compare::balances(
        "platform",
        "total",
        &total(&balance),
        &per_currency(&ledger),
    ));
    Ok((txns.len(), differences))
}

/// Compares one shop's connected account: its transactions, its pending and
/// available balances, and the statuses of its payouts.
async fn shop(
    pool: &DbPool,
    provider: &dyn Provider,
    shop_id: &str,
    account_id: &str,
) -> Result<(usize, Vec<Difference>), AppError> {
    let scope = format!("shop:{shop_id}");
    let txns = all_balance_transactions(provider, Some(account_id), None).await?;
    let balance = provider.retrieve_balance(Some(account_id)).await?;
    let id = shop_id.to_owned();
    let (all, pending, available, ours) = db::run(pool, move |conn| {
        let pending =
            ledger::sums_by_reference(conn, &[Account::seller_connected_pending(&id).code])?;
        let available =
            ledger::sums_by_reference(conn, &[Account::seller_connected_balance(&id).code])?;
        let all = ledger::sums_by_reference(conn, &connected_codes(&id))?;
        let ours: Vec<(String, String)> = payouts::table
            .filter(payouts::shop_id.eq(&id))
            .select((payouts::id, payouts::status))
            .load(conn)?;
        Ok((all, pending, available, ours))
    })
    .await?;
    let mut differences = compare::by_reference(&scope, &sums_of(&txns), &all);
    differences.extend(compare::balances(
        &scope,
        "pending",
        &funds(&balance.pending),
        &per_currency(&pending),
    ));
    differences.extend(compare::balances(
        &scope,
        "available",
        &funds(&balance.available),
        &per_currency(&available),
    ));
    for (payout_id, status) in ours {
        let theirs = provider.retrieve_payout(account_id, &payout_id).await?;
        if theirs.status != status {
            differences.push(Difference {
                kind: Kind::StatusDiffers,
                scope: scope.clone(),
                object: payout_id.clone(),
                currency: theirs.amount.currency.code().to_owned(),
                provider_minor: Some(theirs.amount.minor),
                ledger_minor: None,
                detail: format!("payout is {} at the provider, {status} here", theirs.status),
            });
        }
    }
    Ok((txns.len(), differences))
}

/// Runs a reconciliation and stores its report.
///
/// # Errors
/// Provider or database failures (nothing is stored then).
pub async fn run(pool: &DbPool, provider: &dyn Provider) -> Result<Report, AppError> {
    let started_at = db::now();
    let accounts: Vec<(String, Option<String>)> = db::run(pool, |conn| {
        Ok(shops::table
            .filter(shops::provider_account_id.is_not_null())
            .order(shops::id.asc())
            .select((shops::id, shops::provider_account_id))
            .load(conn)?)
    })
    .await?;
    let (mut transactions, mut differences) = platform(pool, provider).await?;
    for (shop_id, account_id) in &accounts {
        let Some(account_id) = account_id else {
            continue;
        };
        let (seen, found) = shop(pool, provider, shop_id, account_id).await?;
        transactions += seen;
        differences.extend(found);
    }
    let report = Report {
        id: format!("rec_{}", uuid::Uuid::new_v4().simple()),
        started_at,
        finished_at: db::now(),
        accounts_checked: i64::try_from(accounts.len() + 1).unwrap_or(i64::MAX),
        transactions_checked: i64::try_from(transactions).unwrap_or(i64::MAX),
        differences,
    };
    let stored = report.clone();
    db::run(pool, move |conn| store(conn, &stored)).await?;
    if report.differences.is_empty() {
        tracing::info!(report = report.id, "reconciliation: no differences");
    } else {
        tracing::warn!(
            report = report.id,
            differences = report.differences.len(),
            "reconciliation found differences"
        );
    }
    Ok(report)
}

fn store(conn: &mut DbConnection, report: &Report) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        diesel::insert_into(reconciliation_reports::table)
            .values((
                reconciliation_reports::id.eq(&report.id),
                reconciliation_reports::started_at.eq(report.started_at),
                reconciliation_reports::finished_at.eq(report.finished_at),
                reconciliation_reports::accounts_checked.eq(report.accounts_checked),
                reconciliation_reports::transactions_checked.eq(report.transactions_checked),
                reconciliation_reports::differences
                    .eq(i64::try_from(report.differences.len()).unwrap_or(i64::MAX)),
            ))
            .execute(conn)?;
        for (position, d) in report.differences.iter().enumerate() {
            diesel::insert_into(reconciliation_differences::table)
                .values((
                    reconciliation_differences::report_id.eq(&report.id),
                    reconciliation_differences::position
                        .eq(i32::try_from(position).unwrap_or(i32::MAX)),
                    reconciliation_differences::kind.eq(d.kind.as_str()),
                    reconciliation_differences::scope.eq(&d.scope),
                    reconciliation_differences::object.eq(&d.object),
                    reconciliation_differences::currency.eq(&d.currency),
                    reconciliation_differences::provider_minor.eq(d.provider_minor),
                    reconciliation_differences::ledger_minor.eq(d.ledger_minor),
                    reconciliation_differences::detail.eq(&d.detail),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// The newest reports first.
///
/// # Errors
/// A database failure.
pub fn list(conn: &mut DbConnection, limit: i64) -> Result<Vec<ReportSummary>, AppError> {
    Ok(reconciliation_reports::table
        .order((
            reconciliation_reports::started_at.desc(),
            reconciliation_reports::id.desc(),
        ))
        .limit(limit.clamp(1, REPORTS_PAGE_MAX))
        .select(ReportSummary::as_select())
        .load(conn)?)
}

/// A stored report with its differences; `latest` for the newest.
///
/// # Errors
/// 404 for no such report (or none yet); a database failure.
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Report, AppError> {
    let summary: Option<ReportSummary> = if id == "latest" {
        list(conn, 1)?.into_iter().next()
    } else {
        reconciliation_reports::table
            .find(id)
            .select(ReportSummary::as_select())
            .first(conn)
            .optional()?
    };
    let summary = summary.ok_or(AppError::NotFound {
        resource: "reconciliation report",
    })?;
    type Row = (
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        String,
    );
    let rows: Vec<Row> = reconciliation_differences::table
        .filter(reconciliation_differences::report_id.eq(&summary.id))
        .order(reconciliation_differences::position.asc())
        .select((
            reconciliation_differences::kind,
            reconciliation_differences::scope,
            reconciliation_differences::object,
            reconciliation_differences::currency,
            reconciliation_differences::provider_minor,
            reconciliation_differences::ledger_minor,
            reconciliation_differences::detail,
        ))
        .load(conn)?;
    let kind_of = |name: &str| match name {
        "missing_in_ledger" => Kind::MissingInLedger,
        "missing_at_provider" => Kind::MissingAtProvider,
        "status_differs" => Kind::StatusDiffers,
        _ => Kind::AmountDiffers,
    };
    Ok(Report {
        id: summary.id,
        started_at: summary.started_at,
        finished_at: summary.finished_at,
        accounts_checked: summary.accounts_checked,
        transactions_checked: summary.transactions_checked,
        differences: rows
            .into_iter()
            .map(
                |(kind, scope, object, currency, provider_minor, ledger_minor, detail)| {
                    Difference {
                        kind: kind_of(&kind),
                        scope,
                        object,
                        currency,
                        provider_minor,
                        ledger_minor,
                        detail,
                    }
                },
            )
            .collect(),
    })
}
