//! The console's home: what needs attention now, each a count that links
//! to its list. A count shows only when the role may open the list it
//! links to; everything is read in one trip to the database, through the
//! count functions of each capability.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::console::{self, Console};
use crate::auth::policy;
use crate::db::{self, DbPool};
use crate::money::{Currency, Money};
use crate::orders::attention::{self as orders_attention, OpenDispute};
use crate::web::format;
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// Open disputes listed by name on the home page (the rest are counted).
const DISPUTES_SHOWN: i64 = 5;

/// One thing to look at: a count and the list it opens.
struct Item {
    /// For tests and styling: `failed_payouts`, `dead_jobs`, …
    key: &'static str,
    count: i64,
    /// What is counted, agreeing with the count (`failed payouts`).
    label: String,
    href: String,
}

/// An open dispute as the home page lists it.
struct DisputeRow {
    order_id: String,
    href: String,
    amount: String,
    status: String,
    opened: String,
    /// When the evidence is due, or "not given".
    due: String,
}

/// The open disputes: how many, and the oldest by name.
struct Disputes {
    count: i64,
    rows: Vec<DisputeRow>,
    /// More are open than listed.
    more: bool,
}

/// The newest reconciliation report, when the role may read it.
struct Reconciliation {
    href: String,
    differences: i64,
    when: String,
}

#[derive(Template)]
#[template(path = "ops/home.html", config = "src/web/askama.toml")]
struct HomePage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    items: Vec<Item>,
    /// `None`: the role may not read orders.
    disputes: Option<Disputes>,
    /// `Some(None)`: no report has run yet; `None`: not this role's.
    reconciliation: Option<Option<Reconciliation>>,
    /// News from the enrolment just finished.
    enrolled: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct HomeQuery {
    #[serde(default)]
    done: String,
}

/// `n` with the noun that agrees with it.
fn counted(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        one.to_owned()
    } else {
        many.to_owned()
    }
}

/// What the home page counts, each `None` when the role may not open its list.
#[derive(Default)]
struct Counts {
    failed_payouts: Option<i64>,
    dead_jobs: Option<i64>,
    dead_emails: Option<i64>,
    held_orders: Option<i64>,
    disputes: Option<(i64, Vec<OpenDispute>)>,
    reconciliation: Option<Option<crate::reconcile::ReportSummary>>,
    shops_pending: Option<i64>,
    shops_restricted: Option<i64>,
}

/// `GET /ops`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<HomeQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops", policy::CONSOLE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let console = Console::of(&session.caller, "home");
    let may = |rule| console.may(rule);
    let (payouts, jobs, emails, orders, reconcile, shops) = (
        may(policy::READ_PAYOUTS),
        may(policy::READ_JOBS),
        may(policy::READ_EMAILS),
        may(policy::READ_ORDERS),
        may(policy::RECONCILE),
        may(policy::READ_SHOPS),
    );
    // One trip: only the counts this role will see.
    let counts = db::run(&pool, move |conn| {
        let mut counts = Counts::default();
        if payouts {
            counts.failed_payouts = Some(crate::payouts::attention::failed_count(conn)?);
        }
        if jobs {
            counts.dead_jobs = Some(crate::jobs::count(conn, "dead")?);
        }
        if emails {
            counts.dead_emails = Some(crate::notify::dead_count(conn)?);
        }
        if orders {
            counts.held_orders = Some(orders_attention::held_orders_count(conn)?);
            counts.disputes = Some(orders_attention::open_disputes(conn, DISPUTES_SHOWN)?);
        }
        if reconcile {
            counts.reconciliation = Some(crate::reconcile::list(conn, 1)?.into_iter().next());
        }
        if shops {
            let count = crate::sellers::attention::count_in_status;
            counts.shops_pending = Some(count(conn, "pending")?);
            counts.shops_restricted = Some(count(conn, "restricted")?);
        }
        Ok(counts)
    })
    .await?;
    let mut items = Vec::new();
    let mut push = |key, count: Option<i64>, one: &str, many: &str, href: &str| {
        if let Some(count) = count {
            items.push(Item {
                key,
                count,
                label: counted(count, one, many),
                href: href.to_owned(),
            });
        }
    };
    push(
        "failed_payouts",
        counts.failed_payouts,
        "failed payout",
        "failed payouts",
        "/ops/money/payouts?status=failed",
    );
    push(
        "dead_jobs",
        counts.dead_jobs,
        "dead job (out of retries)",
        "dead jobs (out of retries)",
        "/ops/operations/jobs?status=dead",
    );
    push(
        "dead_emails",
        counts.dead_emails,
        "email not sent (out of retries)",
        "emails not sent (out of retries)",
        "/ops/operations/emails?status=dead",
    );
    push(
        "held_orders",
        counts.held_orders,
        "order with a seller's share held (shop frozen, restricted or transfer refused)",
        "orders with a seller's share held (shop frozen, restricted or transfer refused)",
        "/ops/orders?held=true",
    );
    push(
        "shops_pending",
        counts.shops_pending,
        "shop waiting on the provider's requirements",
        "shops waiting on the provider's requirements",
        "/ops/shops?status=pending",
    );
    push(
        "shops_restricted",
        counts.shops_restricted,
        "shop restricted by the provider",
        "shops restricted by the provider",
        "/ops/shops?status=restricted",
    );
    let disputes = counts.disputes.map(|(count, oldest)| {
        let rows: Vec<DisputeRow> = oldest
            .into_iter()
            .map(|d| DisputeRow {
                href: format!("/ops/orders/{}", d.order_id),
                amount: Currency::parse(&d.currency).map_or_else(
                    |_| format!("{} {}", d.amount_minor, d.currency),
                    |currency| format::price(Money::new(d.amount_minor, currency)),
                ),
                status: d.provider_status.replace('_', " "),
                opened: format::date(d.opened_at),
                due: d
                    .evidence_due_by
                    .map_or_else(|| "Not given".to_owned(), format::date),
                order_id: d.order_id,
            })
            .collect();
        Disputes {
            more: count > i64::try_from(rows.len()).unwrap_or(i64::MAX),
            count,
            rows,
        }
    });
    let reconciliation = counts.reconciliation.map(|latest| {
        latest.map(|report| Reconciliation {
            href: format!("/ops/money/reconciliation/{}", report.id),
            differences: report.differences,
            when: report
                .finished_at
                .format("%-d %b %Y, %H:%M UTC")
                .to_string(),
        })
    });
    let page = HomePage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Console — Bazaar"),
        console,
        items,
        disputes,
        reconciliation,
        enrolled: query.done == "enrolled",
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}
