//! The console's orders: the search (`orders::store::list_orders`, behind
//! `GET /v1/orders` for staff), one order whole (its lines by shop, each
//! part's settlement and transfers, refunds, disputes, and its ledger
//! entries and P&L as `GET /v1/orders/{id}/ledger` reads them), and its
//! actions: refund (`orders::refunds::refund`, as `POST
//! /v1/orders/{id}/refunds`), sync the order or a dispute with the provider
//! (`orders::sync`, as the sync endpoints). Each handler takes the rule its
//! API endpoint takes; a form shows only when the role passes it.

mod actions;
mod order;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::console::{self, Console};
use crate::auth::policy;
use crate::db::{self, DbPool};
use crate::orders::model::{OrderStatus, OrderView};
use crate::orders::store::{self, OrderFilter};
use crate::web::format::{date_of, price, status_label};
use crate::web::forms::{FieldError, FormErrors};
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::seller::workspace::encode;
use crate::web::visitor::Visitor;

/// Orders on one page of the search.
const LIST_PAGE_ROWS: i64 = 25;
/// Longest search text accepted in a field (an email is at most 254).
const SEARCH_CHARS_MAX: usize = 254;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops/orders").get(list))
        .service(web::resource("/ops/orders/{id}").get(order::show))
        .service(web::resource("/ops/orders/{id}/refund").post(actions::refund))
        .service(web::resource("/ops/orders/{id}/sync").post(actions::sync))
        .service(
            web::resource("/ops/orders/{id}/disputes/{dispute}/sync").post(actions::sync_dispute),
        );
}

/// A shop of an order, linked to its console page.
struct ShopLink {
    name: String,
    href: String,
}

/// One order of the search.
struct Row {
    href: String,
    id: String,
    buyer_email: String,
    buyer_href: String,
    shops: Vec<ShopLink>,
    total: String,
    status: &'static str,
    refunded: Option<String>,
    held: bool,
    created: String,
}

/// An option of the status filter.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ops/orders.html", config = "src/web/askama.toml")]
struct OrdersPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    errors: FormErrors,
    email: String,
    shop: String,
    statuses: Vec<Choice>,
    from: String,
    to: String,
    held: bool,
    filtered: bool,
    rows: Vec<Row>,
    /// The next page's address, when this one is full.
    next: Option<String>,
    /// The page is an older one of the search.
    paged: bool,
}

/// `GET /ops/orders?email&shop&status&from&to&held&before&before_id`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default, alias = "buyer_email")]
    email: String,
    /// A shop id (`shop_…`, as the shop pages link) or part of its name.
    #[serde(default, alias = "shop_id")]
    shop: String,
    #[serde(default)]
    status: String,
    /// `YYYY-MM-DD`: created on or after this day (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`: created on or before this day (UTC).
    #[serde(default)]
    to: String,
    /// `true`: only orders with a part whose transfer is held.
    #[serde(default)]
    held: String,
    /// The cursor: the last order seen's `created_at` and id.
    #[serde(default)]
    before: String,
    #[serde(default)]
    before_id: String,
}

fn day(value: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The search as the domain's filter, or what is wrong with each field.
fn parse_search(query: &SearchQuery) -> (OrderFilter, FormErrors) {
    let mut filter = OrderFilter::default();
    let mut errors = FormErrors::none();
    let mut refuse = |field: &str, message: &str| {
        errors.fields.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    };
    let email = query.email.trim();
    if !email.is_empty() {
        if email.chars().count() > SEARCH_CHARS_MAX || !email.contains('@') {
            refuse(
                "email",
                "Enter the buyer's whole email address, like ann@example.com.",
            );
        } else {
            filter.buyer_email = Some(email.to_owned());
        }
    }
    let shop = query.shop.trim();
    if shop.chars().count() > SEARCH_CHARS_MAX {
        refuse("shop", "Enter at most 254 characters of the shop's name.");
    } else if store::has_id_shape(shop, "shop") {
        filter.shop_id = Some(shop.to_owned());
    } else if !shop.is_empty() {
        filter.shop_name = Some(shop.to_owned());
    }
    if !query.status.is_empty() {
        match OrderStatus::parse(&query.status) {
            Some(status) => filter.status = Some(status),
            None => refuse("status", "Choose a status from the list."),
        }
    }
    if !query.from.trim().is_empty() {
        match day(query.from.trim()) {
            Some(from) => filter.created_after = Some(from),
            None => refuse("from", "Enter the first day as a date, like 2026-12-01."),
        }
    }
    if !query.to.trim().is_empty() {
        match day(query.to.trim()) {
            // The last day counts whole.
            Some(to) => filter.created_before = Some(to + chrono::Duration::days(1)),
            None => refuse("to", "Enter the last day as a date, like 2026-12-31."),
        }
    }
    if let (Some(from), Some(before)) = (filter.created_after, filter.created_before) {
        if before <= from {
            refuse("to", "The last day is on or after the first day.");
        }
    }
    filter.held = query.held == "true";
    if !query.before.is_empty() {
        match crate::http::query::instant("before", Some(&query.before)) {
            Ok(Some(at)) if store::has_id_shape(&query.before_id, "ord") => {
                filter.before_order = Some((at, query.before_id.clone()));
            }
            _ => {
                errors.general =
                    Some("That page of results is out of date; start from the newest.".into());
            }
        }
    }
    (filter, errors)
}

/// The search's address with `query`'s filters (not its cursor).
fn search_path(query: &SearchQuery) -> String {
    let pairs: Vec<String> = [
        ("email", query.email.trim()),
        ("shop", query.shop.trim()),
        ("status", query.status.as_str()),
        ("from", query.from.trim()),
        ("to", query.to.trim()),
        ("held", if query.held == "true" { "true" } else { "" }),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(name, value)| format!("{name}={}", encode(value)))
    .collect();
    if pairs.is_empty() {
        "/ops/orders".to_owned()
    } else {
        format!("/ops/orders?{}", pairs.join("&"))
    }
}

fn shop_links(view: &OrderView) -> Vec<ShopLink> {
    view.parts
        .iter()
        .map(|p| ShopLink {
            name: p.shop_name.clone(),
            href: format!("/ops/shops/{}", p.shop_id),
        })
        .collect()
}

/// `GET /ops/orders`: the search, newest first (`policy::READ_ORDERS`).
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<SearchQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/orders", policy::READ_ORDERS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let query = query.into_inner();
    let (filter, errors) = parse_search(&query);
    let views = if errors.any() {
        Vec::new()
    } else {
        db::run(&pool, move |conn| {
            store::list_orders(conn, &filter, LIST_PAGE_ROWS)
        })
        .await?
    };
    let first_page = search_path(&query);
    let next = (views.len() as i64 == LIST_PAGE_ROWS)
        .then(|| views.last())
        .flatten()
        .map(|last| {
            let joiner = if first_page.contains('?') { '&' } else { '?' };
            format!(
                "{first_page}{joiner}before={}&before_id={}",
                encode(&last.created_at),
                encode(&last.id)
            )
        });
    let rows = views
        .iter()
        .map(|view| Row {
            href: format!("/ops/orders/{}", view.id),
            id: view.id.clone(),
            buyer_email: view.buyer_email.clone(),
            buyer_href: format!("/ops/users/{}", view.buyer_user_id),
            shops: shop_links(view),
            total: price(view.total),
            status: status_label(view.status.as_str()),
            refunded: (view.refunded.minor > 0).then(|| price(view.refunded)),
            held: view.parts.iter().any(|p| p.settlement.status == "held"),
            created: date_of(&view.created_at),
        })
        .collect();
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = OrdersPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Orders — Bazaar console"),
        console: Console::of(&session.caller, "orders"),
        errors,
        email: query.email.trim().to_owned(),
        shop: query.shop.trim().to_owned(),
        statuses: [
            OrderStatus::AwaitingPayment,
            OrderStatus::Paid,
            OrderStatus::Expired,
            OrderStatus::Canceled,
        ]
        .into_iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: status_label(s.as_str()),
            selected: query.status == s.as_str(),
        })
        .collect(),
        from: query.from.trim().to_owned(),
        to: query.to.trim().to_owned(),
        held: query.held == "true",
        filtered: first_page != "/ops/orders",
        paged: !query.before.is_empty(),
        rows,
        next,
    };
    console::answer(&req, &visitor, &page, status)
}
