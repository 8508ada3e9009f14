//! Reconciliation for finance: the reports (`reconcile::list`, as `GET
//! /v1/reconciliation/reports`), running one (`reconcile::run_audited`, as
//! `POST /v1/reconciliation/reports`), and one report's differences
//! (`reconcile::get`), each linked to the order, shop or payout behind it
//! (`reconcile::object_links`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::super::console::{self, Console};
use super::{price, when};
use crate::auth::{policy, RequestContext};
use crate::db::{self, DbPool};
use crate::payments::Provider;
use crate::reconcile::{self, Kind};
use crate::web::render::{self, Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// Reports the list shows (the newest).
const REPORTS_SHOWN: i64 = 50;

struct SummaryRow {
    id: String,
    started: String,
    accounts: i64,
    transactions: i64,
    differences: i64,
}

#[derive(Template)]
#[template(path = "ops/money_reconciliation.html", config = "src/web/askama.toml")]
struct ListPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    reports: Vec<SummaryRow>,
}

/// `GET /ops/money/reconciliation`: policy::RECONCILE.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/money/reconciliation", policy::RECONCILE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let reports = db::run(&pool, |conn| reconcile::list(conn, REPORTS_SHOWN)).await?;
    let page = ListPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Reconciliation — Console — Bazaar"),
        console: Console::of(&session.caller, "money"),
        reports: reports
            .into_iter()
            .map(|r| SummaryRow {
                started: when(r.started_at),
                accounts: r.accounts_checked,
                transactions: r.transactions_checked,
                differences: r.differences,
                id: r.id,
            })
            .collect(),
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ops/money/reconciliation`: policy::RECONCILE; runs one now
/// (audited as the API's), then to its report.
pub(super) async fn run(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match console::staff(&visitor, "/ops/money/reconciliation", policy::RECONCILE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let report =
        reconcile::run_audited(&pool, provider.get_ref(), &session.caller.user_id, &context)
            .await?;
    Ok(visitor
        .finish(render::see_other(&format!("/ops/money/reconciliation/{}", report.id)).finish()))
}

/// One difference as the table shows it.
struct DifferenceRow {
    kind: &'static str,
    /// The shop, or empty for the platform's own account.
    shop_id: String,
    shop_name: String,
    object: String,
    /// Where the object is looked at here, and the link's words.
    href: String,
    link: String,
    provider: String,
    ledger: String,
    detail: String,
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::MissingInLedger => "Missing in the ledger",
        Kind::MissingAtProvider => "Missing at the provider",
        Kind::AmountDiffers => "Amounts differ",
        Kind::StatusDiffers => "Statuses differ",
    }
}

#[derive(Template)]
#[template(path = "ops/money_report.html", config = "src/web/askama.toml")]
struct ReportPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    id: String,
    started: String,
    finished: String,
    accounts: i64,
    transactions: i64,
    rows: Vec<DifferenceRow>,
}

/// `GET /ops/money/reconciliation/{id}` (`latest` for the newest):
/// policy::RECONCILE.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/ops/money/reconciliation/{id}");
    let session = match console::staff(&visitor, &here, policy::RECONCILE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let (report, links) = db::run(&pool, move |conn| {
        let report = reconcile::get(conn, &id)?;
        let links = reconcile::object_links(conn, &report.differences)?;
        Ok((report, links))
    })
    .await?;
    let rows = report
        .differences
        .iter()
        .map(|d| {
            let (href, link) = if let Some(order) = links.orders.get(&d.object) {
                (format!("/ops/orders/{order}"), format!("Order {order}"))
            } else if let Some((payout, status)) = links.payouts.get(&d.object) {
                (
                    format!("/ops/money/payouts?status={status}#{payout}"),
                    format!("Payout {payout}"),
                )
            } else {
                // A balance or an unknown object: the account column links
                // its shop.
                (String::new(), String::new())
            };
            DifferenceRow {
                kind: kind_label(d.kind),
                shop_id: d.shop_id().unwrap_or_default().to_owned(),
                shop_name: d.shop_name.clone().unwrap_or_default(),
                object: d.object.clone(),
                href,
                link,
                provider: d
                    .provider_minor
                    .map(|m| price(m, &d.currency))
                    .unwrap_or_else(|| "none".to_owned()),
                ledger: d
                    .ledger_minor
                    .map(|m| price(m, &d.currency))
                    .unwrap_or_else(|| "none".to_owned()),
                detail: crate::web::forms::sentence(&d.detail),
            }
        })
        .collect();
    let page = ReportPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Reconciliation {} — Console — Bazaar", report.id)),
        console: Console::of(&session.caller, "money"),
        started: when(report.started_at),
        finished: when(report.finished_at),
        accounts: report.accounts_checked,
        transactions: report.transactions_checked,
        id: report.id,
        rows,
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}
