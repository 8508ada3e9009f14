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
                shop_name: None,
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
    let mut report = Report {
        id: format!("rec_{}", uuid::Uuid::new_v4().simple()),
        started_at,
        finished_at: db::now(),
        accounts_checked: i64::try_from(accounts.len() + 1).unwrap_or(i64::MAX),
        transactions_checked: i64::try_from(transactions).unwrap_or(i64::MAX),
        differences,
    };
    let stored = report.clone();
    report.differences = db::run(pool, move |conn| {
        store(conn, &stored)?;
        name_shops(conn, stored.differences)
    })
    .await?;
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
                        shop_name: None,
                    }
                },
            )
            .collect(),
    })
    .and_then(|report: Report| {
        Ok(Report {
            differences: name_shops(conn, report.differences)?,
            ..report
        })
    })
}

/// The differences with their shops' names.
fn name_shops(
    conn: &mut DbConnection,
    mut differences: Vec<Difference>,
) -> Result<Vec<Difference>, AppError> {
    let mut ids: Vec<&str> = differences.iter().filter_map(Difference::shop_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names = crate::sellers::public::shop_names(conn, &ids)?;
    for d in &mut differences {
        d.shop_name = d.shop_id().and_then(|id| names.get(id).cloned());
    }
    Ok(differences)
}

/// Runs a reconciliation ([`run`]) and records `reconciliation.run` in the
/// audit log with the number of differences: the API's `POST
/// /v1/reconciliation/reports` and the console's button both run through here.
///
/// # Errors
/// As [`run`]; a database failure writing the audit row.
pub async fn run_audited(
    pool: &DbPool,
    provider: &dyn Provider,
    actor: &crate::auth::UserId,
    context: &crate::auth::RequestContext,
) -> Result<Report, AppError> {
    use crate::auth::{record_audit, AuditEntry};
    let report = run(pool, provider).await?;
    let (actor, context, id, differences) = (
        actor.clone(),
        context.clone(),
        report.id.clone(),
        report.differences.len(),
    );
    db::run(pool, move |conn| {
        record_audit(
            conn,
            AuditEntry::new("reconciliation.run", &id)
                .actor(&actor)
                .context(&context)
                .after(serde_json::json!({"differences": differences})),
        )
    })
    .await?;
    Ok(report)
}

/// Where a difference's provider object lives here: the order behind a
/// charge (`ch_`), a refund (`re_`), a dispute (`dp_`/`du_`), a transfer or
/// its reversal (`tr_`, `trr_`) or the payment a transfer made on a
/// connected account (`py_`); payouts (`po_`, also `po_…:failure`) are
/// their own. Objects found nowhere are left out.
#[derive(Debug, Clone, Default)]
pub struct ObjectLinks {
    /// Provider object → order id.
    pub orders: BTreeMap<String, String>,
    /// Provider object → payout id (ours) and its status.
    pub payouts: BTreeMap<String, (String, String)>,
}

/// The orders and payouts behind these differences' objects.
///
/// # Errors
/// A database failure.
pub fn object_links(
    conn: &mut DbConnection,
    differences: &[Difference],
) -> Result<ObjectLinks, AppError> {
    use crate::orders::schema::{disputes, order_parts, orders, part_movements, refunds};
    let objects: Vec<&str> = differences.iter().map(|d| d.object.as_str()).collect();
    let mut links = ObjectLinks::default();
    let found: Vec<(Option<String>, String)> = orders::table
        .filter(orders::charge_id.eq_any(&objects))
        .select((orders::charge_id, orders::id))
        .load(conn)?;
    for (charge, order) in found {
        links.orders.extend(charge.map(|c| (c, order)));
    }
    let found: Vec<(Option<String>, String)> = refunds::table
        .filter(refunds::provider_refund_id.eq_any(&objects))
        .select((refunds::provider_refund_id, refunds::order_id))
        .load(conn)?;
    for (refund, order) in found {
        links.orders.extend(refund.map(|r| (r, order)));
    }
    let found: Vec<(String, String)> = disputes::table
        .filter(disputes::id.eq_any(&objects))
        .select((disputes::id, disputes::order_id))
        .load(conn)?;
    links.orders.extend(found);
    let found: Vec<(Option<String>, Option<String>, String)> = part_movements::table
        .inner_join(order_parts::table)
        .filter(
            part_movements::provider_id
                .eq_any(&objects)
                .or(part_movements::destination_ref.eq_any(&objects)),
        )
        .select((
            part_movements::provider_id,
            part_movements::destination_ref,
            order_parts::order_id,
        ))
        .load(conn)?;
    for (transfer, payment, order) in found {
        for object in [transfer, payment].into_iter().flatten() {
            links.orders.insert(object, order.clone());
        }
    }
    let payout_of = |object: &str| object.split(':').next().unwrap_or(object).to_owned();
    let ids: Vec<String> = objects
        .iter()
        .filter(|o| o.starts_with("po_"))
        .map(|o| payout_of(o))
        .collect();
    let found: Vec<(String, String)> = payouts::table
        .filter(payouts::id.eq_any(&ids))
        .select((payouts::id, payouts::status))
        .load(conn)?;
    for object in objects.iter().filter(|o| o.starts_with("po_")) {
        if let Some((id, status)) = found.iter().find(|(id, _)| *id == payout_of(object)) {
            links
                .payouts
                .insert((*object).to_owned(), (id.clone(), status.clone()));
        }
    }
    Ok(links)
}
