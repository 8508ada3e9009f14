//! The console's money section (`/ops/money`): every shop's payouts (failed
//! first, with what the seller must do), the ledger (accounts, postings,
//! entries, the trial balance, adjustments), reconciliation against the
//! provider, the P&L and fee revenue reports with their charts, and the CSV
//! exports.
//!
//! - [`payouts`]: the payouts list and the three CSV downloads.
//! - [`books`]: the ledger's pages and the adjustment form.
//! - [`reconcile`]: reconciliation reports, and running one.
//! - [`reports`]: P&L and fee revenue for a period, charted and tabled.
//!
//! Each page takes the rule its API endpoint takes (`auth::policy`) and calls
//! the endpoint's domain function; this module only writes the figures for
//! people.

mod books;
mod payouts;
mod reconcile;
mod reports;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::console::{self, Console};
use crate::auth::policy;
use crate::money::{Currency, Money};
use crate::web::format;
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops/money").get(index))
        .service(web::resource("/ops/money/payouts").get(payouts::list))
        .service(web::resource("/ops/money/exports/payouts.csv").get(payouts::payouts_csv))
        .service(web::resource("/ops/money/exports/orders.csv").get(payouts::orders_csv))
        .service(web::resource("/ops/money/exports/fees.csv").get(payouts::fees_csv))
        .service(web::resource("/ops/money/ledger").get(books::accounts))
        .service(web::resource("/ops/money/ledger/accounts/{id}").get(books::account))
        .service(web::resource("/ops/money/ledger/entries/{id}").get(books::entry))
        .service(web::resource("/ops/money/trial-balance").get(books::trial_balance))
        .service(
            web::resource("/ops/money/adjustments")
                .get(books::adjustment_form)
                .post(books::post_adjustment),
        )
        .service(
            web::resource("/ops/money/reconciliation")
                .get(reconcile::list)
                .post(reconcile::run),
        )
        .service(web::resource("/ops/money/reconciliation/{id}").get(reconcile::show))
        .service(web::resource("/ops/money/reports").get(reports::show));
}

/// An amount in the currency named by its code (the ledger's, the payouts'
/// and the orders' codes are ones we wrote, so they parse).
pub(super) fn price(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => format::price(Money::new(minor, currency)),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// An instant as the console writes one: `4 Dec 2026, 09:30 UTC`.
pub(super) fn when(at: chrono::NaiveDateTime) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// The page's path with its query, to come back to after signing in.
pub(super) fn with_query(path: &str, req: &HttpRequest) -> String {
    match req.query_string() {
        "" => path.to_owned(),
        query => format!("{path}?{query}"),
    }
}

/// One link of the index.
struct Link {
    href: &'static str,
    label: &'static str,
    about: &'static str,
}

#[derive(Template)]
#[template(path = "ops/money.html", config = "src/web/askama.toml")]
struct IndexPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    links: Vec<Link>,
    downloads: Vec<Link>,
}

/// `GET /ops/money`: the money pages the role may open.
pub(super) async fn index(req: HttpRequest, mut visitor: Visitor) -> PageResult {
    let session = match console::staff(&visitor, "/ops/money", policy::CONSOLE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let console = Console::of(&session.caller, "money");
    let pages: [(&[crate::auth::Role], Link); 7] = [
        (policy::READ_PAYOUTS, Link {
            href: "/ops/money/payouts",
            label: "Payouts",
            about: "Every shop's payouts to its bank, failed ones first, with what the seller must do.",
        }),
        (policy::READ_LEDGER, Link {
            href: "/ops/money/ledger",
            label: "Ledger accounts",
            about: "Every account of the ledger with its balance, its postings and their entries.",
        }),
        (policy::READ_LEDGER, Link {
            href: "/ops/money/trial-balance",
            label: "Trial balance",
            about: "Debits and credits of every account, and their totals per currency.",
        }),
        (policy::POST_ADJUSTMENT, Link {
            href: "/ops/money/adjustments",
            label: "Post an adjustment",
            about: "A balanced manual entry that corrects the books.",
        }),
        (policy::RECONCILE, Link {
            href: "/ops/money/reconciliation",
            label: "Reconciliation",
            about: "The ledger against the provider: past reports, and a new run.",
        }),
        (policy::READ_LEDGER, Link {
            href: "/ops/money/reports",
            label: "P&L and fee revenue",
            about: "The platform's profit and loss, and fee revenue by shop and by category, for a period.",
        }),
        (policy::READ_PAYOUTS, Link {
            href: "/ops/money/payouts?status=failed",
            label: "Failed payouts",
            about: "Only the payouts that failed.",
        }),
    ];
    let downloads: [(&[crate::auth::Role], Link); 3] = [
        (
            policy::READ_PAYOUTS,
            Link {
                href: "/ops/money/exports/payouts.csv",
                label: "Payouts (CSV)",
                about: "Every payout, newest first.",
            },
        ),
        (
            policy::EXPORT_ORDERS,
            Link {
                href: "/ops/money/exports/orders.csv",
                label: "Orders of the last 30 days (CSV)",
                about: "Each order with its total, processing fee and refunds.",
            },
        ),
        (
            policy::READ_LEDGER,
            Link {
                href: "/ops/money/exports/fees.csv",
                label: "Fees of the last 30 days (CSV)",
                about: "Each part of a paid order with its platform and processing fees.",
            },
        ),
    ];
    let page = IndexPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Money — Console — Bazaar"),
        links: pages
            .into_iter()
            .filter(|(rule, _)| console.may(rule))
            .map(|(_, link)| link)
            .collect(),
        downloads: downloads
            .into_iter()
            .filter(|(rule, _)| console.may(rule))
            .map(|(_, link)| link)
            .collect(),
        console,
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}
