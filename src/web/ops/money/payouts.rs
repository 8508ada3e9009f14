//! Every shop's payouts (`payouts::list`, as `GET /v1/payouts`: failed
//! first, then newest), and the CSV downloads of payouts, orders and fees
//! through the API's own streams, with the browser's session instead of a
//! bearer token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::super::console::{self, Console};
use super::{price, when, with_query};
use crate::auth::policy;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::orders::OrderStatus;
use crate::payouts;
use crate::web::forms::FormErrors;
use crate::web::render::{Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// The statuses a payout can have, as the filter offers them.
const STATUSES: [(&str, &str); 5] = [
    ("failed", "Failed"),
    ("pending", "Pending"),
    ("in_transit", "In transit"),
    ("paid", "Paid"),
    ("canceled", "Cancelled"),
];

/// Longest period an export covers (the API's).
const EXPORT_DAYS_MAX: i64 = 366;

fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(code, _)| *code == status)
        .map_or("Unknown", |(_, label)| label)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
}

/// One payout as the table shows it.
struct Row {
    id: String,
    shop_id: String,
    shop_name: String,
    amount: String,
    status: &'static str,
    failed: bool,
    created: String,
    arrival: String,
    failure: String,
    action: String,
}

struct StatusOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ops/money_payouts.html", config = "src/web/askama.toml")]
struct PayoutsPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    rows: Vec<Row>,
    statuses: Vec<StatusOption>,
    status: String,
    errors: FormErrors,
    csv_href: String,
    shown_max: i64,
}

/// `GET /ops/money/payouts?status=`: policy::READ_PAYOUTS.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let here = with_query("/ops/money/payouts", &req);
    let session = match console::staff(&visitor, &here, policy::READ_PAYOUTS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let status = query.into_inner().status.trim().to_owned();
    let wanted = (!status.is_empty()).then_some(status.clone());
    let checked = query::one_of(
        "status",
        wanted.as_deref(),
        &["pending", "in_transit", "paid", "failed", "canceled"],
    );
    let (views, errors, code) = match checked {
        Ok(_) => {
            let filter = wanted.clone();
            let views = db::run(&pool, move |conn| {
                payouts::list(conn, None, filter.as_deref(), payouts::PAYOUTS_PAGE_MAX)
            })
            .await?;
            (views, FormErrors::none(), StatusCode::OK)
        }
        Err(_) => (
            Vec::new(),
            FormErrors::field("status", "Choose a status from the list."),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let rows = views
        .into_iter()
        .map(|v| {
            let p = v.payout;
            Row {
                amount: price(p.amount_minor, &p.currency),
                status: status_label(&p.status),
                failed: p.status == "failed",
                created: when(p.created_at),
                arrival: p
                    .arrival()
                    .map(crate::web::format::date)
                    .unwrap_or_default(),
                failure: match (p.failure_code, p.failure_message) {
                    (Some(code), Some(message)) => format!("{message} ({code})"),
                    (Some(code), None) => code,
                    (None, Some(message)) => message,
                    (None, None) => String::new(),
                },
                action: v
                    .action
                    .map(crate::web::forms::sentence)
                    .unwrap_or_default(),
                id: p.id,
                shop_id: p.shop_id,
                shop_name: v.shop_name,
            }
        })
        .collect();
    let csv_href = match wanted.as_deref() {
        Some(s) if errors.fields.is_empty() => format!("/ops/money/exports/payouts.csv?status={s}"),
        _ => "/ops/money/exports/payouts.csv".to_owned(),
    };
    let page = PayoutsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Payouts — Console — Bazaar"),
        console: Console::of(&session.caller, "money"),
        rows,
        statuses: STATUSES
            .iter()
            .map(|(code, label)| StatusOption {
                code,
                label,
                selected: *code == status,
            })
            .collect(),
        status,
        errors,
        csv_href,
        shown_max: payouts::PAYOUTS_PAGE_MAX,
    };
    console::answer(&req, &visitor, &page, code)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ExportQuery {
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A refused download: the error page (400 for a bad filter, as the API).
fn refused(error: AppError) -> PageResult {
    Err(PageError(error))
}

/// `GET /ops/money/exports/payouts.csv?status`: policy::READ_PAYOUTS, the
/// API's `/v1/exports/payouts.csv`.
pub(super) async fn payouts_csv(
    req: HttpRequest,
    visitor: Visitor,
    query: web::Query<ExportQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let here = with_query("/ops/money/exports/payouts.csv", &req);
    if let Err(answer) = console::staff(&visitor, &here, policy::READ_PAYOUTS) {
        return answer;
    }
    let query = query.into_inner();
    if let Err(error) = query::one_of(
        "status",
        query.status.as_deref(),
        &["pending", "in_transit", "paid", "failed", "canceled"],
    ) {
        return refused(error);
    }
    Ok(visitor.finish(payouts::payouts_csv_answer(&pool, query.status, None)))
}

/// `GET /ops/money/exports/orders.csv?from&to&status`: policy::EXPORT_ORDERS,
/// the API's `/v1/exports/orders.csv`.
pub(super) async fn orders_csv(
    req: HttpRequest,
    visitor: Visitor,
    query: web::Query<ExportQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let here = with_query("/ops/money/exports/orders.csv", &req);
    if let Err(answer) = console::staff(&visitor, &here, policy::EXPORT_ORDERS) {
        return answer;
    }
    let query = query.into_inner();
    let status = match query.status.as_deref().map(OrderStatus::parse) {
        None => None,
        Some(Some(status)) => Some(status),
        Some(None) => {
            return refused(AppError::bad_request(
                "invalid_query",
                "status is awaiting_payment, paid, expired or canceled",
                Some("status".into()),
            ))
        }
    };
    let (from, to) =
        match query::period(query.from.as_deref(), query.to.as_deref(), EXPORT_DAYS_MAX) {
            Ok(period) => period,
            Err(error) => return refused(error),
        };
    Ok(visitor.finish(crate::orders::orders_csv_answer(&pool, status, from, to)))
}

/// `GET /ops/money/exports/fees.csv?from&to`: policy::READ_LEDGER, the API's
/// `/v1/exports/fees.csv`.
pub(super) async fn fees_csv(
    req: HttpRequest,
    visitor: Visitor,
    query: web::Query<ExportQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let here = with_query("/ops/money/exports/fees.csv", &req);
    if let Err(answer) = console::staff(&visitor, &here, policy::READ_LEDGER) {
        return answer;
    }
    let query = query.into_inner();
    if query.status.is_some() {
        return refused(AppError::bad_request(
            "invalid_query",
            "the fees export counts paid orders; status is not a filter here",
            Some("status".into()),
        ));
    }
    let (from, to) =
        match query::period(query.from.as_deref(), query.to.as_deref(), EXPORT_DAYS_MAX) {
            Ok(period) => period,
            Err(error) => return refused(error),
        };
    Ok(visitor.finish(crate::orders::fees_csv_answer(&pool, from, to)))
}
