//! The shop's money: its balance per currency (`payouts::balance`), its
//! payouts, failed first (`payouts::list`), each payout's statement and the
//! statement of a period (`payouts::statements`, with the API's CSV), and a
//! chart of the last 30 days' sales (`payouts::sales`). Every figure is the
//! one the API answers; this module only writes them for people.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::db::{self, DbPool};
use crate::http::query;
use crate::money::{Currency, Money};
use crate::payments::Provider;
use crate::payouts::{self, balance::CurrencyBalance, statements};
use crate::sellers::Shop;
use crate::web::chart::{self, SalesChart};
use crate::web::format;
use crate::web::forms::{FieldError, FormErrors};
use crate::web::render::{Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Payouts the money page lists (the newest; failed ones always first).
const PAYOUTS_SHOWN_MAX: i64 = 50;
/// Days the sales chart covers, today included.
const SALES_DAYS: u32 = 30;

/// An amount in the currency named by its code (the ledger's and the
/// payouts' codes are ones we wrote, so they parse).
fn price(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => format::price(Money::new(minor, currency)),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// A posting's side: its amount, or blank for the side it is not on.
fn entered(minor: i64, currency: &str) -> String {
    if minor == 0 {
        String::new()
    } else {
        price(minor, currency)
    }
}

/// One balance figure: the API's field, its label and what it means.
struct Figure {
    field: &'static str,
    label: &'static str,
    amount: String,
    meaning: &'static str,
}

/// The shop's balance in one currency.
struct BalanceView {
    currency: String,
    figures: Vec<Figure>,
    /// What the seller owes, when below zero.
    owes: Option<String>,
    owes_why: Vec<&'static str>,
}

/// The balance figures in the API's order, an absent one (no posting yet)
/// written as zero.
fn balance_view(currency: &str, balance: &CurrencyBalance) -> BalanceView {
    let rows: [(&'static str, &'static str, Option<i64>, &'static str); 9] = [
        ("owed_by_platform", "Owed by the platform", balance.owed_by_platform,
         "Earned on your sales and not yet sent to your payments account; below zero when you owe the platform."),
        ("held", "Held until shipment or delivery", balance.held,
         "The part of what the platform owes you that waits for order parts to ship or be delivered."),
        ("pending", "Pending", balance.pending,
         "On your payments account, not yet available to pay out."),
        ("available", "Available", balance.available,
         "On your payments account, paid out to your bank with the next payout."),
        ("in_transit", "In transit", balance.in_transit,
         "Paid out and on its way to your bank."),
        ("paid_out", "Paid out", balance.paid_out,
         "Arrived at your bank."),
        ("fees_charged", "Fees charged", balance.fees_charged,
         "Platform fees, processing fees your fee rule has you bear, and dispute fees, as charged on paid orders."),
        ("fees_refunded", "Fees refunded", balance.fees_refunded,
         "What refunds gave back of those fees."),
        ("fees_kept", "Fees kept", balance.fees_kept,
         "What you paid in fees in the end: fees charged less fees refunded."),
    ];
    BalanceView {
        currency: currency.to_owned(),
        figures: rows
            .into_iter()
            .map(|(field, label, minor, meaning)| Figure {
                field,
                label,
                amount: price(minor.unwrap_or(0), currency),
                meaning,
            })
            .collect(),
        owes: balance.negative.as_ref().map(|n| price(n.owes, currency)),
        owes_why: balance
            .negative
            .iter()
            .flat_map(|n| n.reasons.iter())
            .map(|reason| match *reason {
                "refund_after_payout" => "A refund or dispute took back money that had already been paid out to your bank: it comes out of your next sales.",
                "owed_to_platform" => "Refunds took back more than could be reversed from your payments account (a processing fee you bear on refunds).",
                _ => "The payments provider reports your balance below zero.",
            })
            .collect(),
    }
}

/// A payout as the list shows it.
struct PayoutItem {
    id: String,
    href: String,
    created: String,
    status: String,
    status_label: &'static str,
    amount: String,
    arrival: String,
    failure: Option<String>,
    action: Option<&'static str>,
}

fn payout_status(status: &str) -> &'static str {
    match status {
        "paid" => "Paid",
        "in_transit" => "In transit",
        "pending" => "Pending",
        "failed" => "Failed",
        "canceled" => "Cancelled",
        _ => "Unknown",
    }
}

fn payout_item(
    shop_id: &str,
    payout: &payouts::PayoutRow,
    action: Option<&'static str>,
) -> PayoutItem {
    PayoutItem {
        id: payout.id.clone(),
        href: format!("/seller/shops/{shop_id}/money/payouts/{}", payout.id),
        created: format::date(payout.created_at),
        status: payout.status.clone(),
        status_label: payout_status(&payout.status),
        amount: price(payout.amount_minor, &payout.currency),
        arrival: payout.arrival().map(format::date).unwrap_or_default(),
        failure: (payout.status == "failed").then(|| {
            payout
                .failure_message
                .clone()
                .or_else(|| payout.failure_code.clone())
                .unwrap_or_else(|| "no reason given".into())
        }),
        // A failure without a code still needs something to do (as the email says).
        action: action.or_else(|| {
            (payout.status == "failed")
                .then(|| payouts::action_for(Some("unknown")))
                .flatten()
        }),
    }
}

#[derive(Template)]
#[template(path = "seller/money.html", config = "src/web/askama.toml")]
struct MoneyPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    balances: Vec<BalanceView>,
    payouts: Vec<PayoutItem>,
    charts: Vec<SalesChart>,
    sales_complete: bool,
    statement_href: String,
}

/// The owner's shop, or the answer to send instead.
async fn owned(
    visitor: &Visitor,
    pool: &DbPool,
    id: String,
    here: &str,
) -> Result<Shop, PageResult> {
    workspace::seller_shop(visitor, pool, id, here)
        .await
        .map(|(_, shop)| shop)
}

fn personal(
    req: &HttpRequest,
    visitor: &Visitor,
    page: &impl Template,
    status: StatusCode,
) -> PageResult {
    workspace::answer(req, visitor, page, status)
}

/// `GET /seller/shops/{id}/money`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/money");
    let shop = match owned(&visitor, &pool, id, &here).await {
        Ok(shop) => shop,
        Err(answer) => return answer,
    };
    let (shop_id, currency) = (shop.id.clone(), shop.default_currency.code().to_owned());
    let today = db::now().date();
    let (balance, listed, sales) = db::run(&pool, move |conn| {
        let balance = payouts::balance::shop_balance(conn, &shop_id)?;
        let listed = payouts::list(conn, Some(&shop_id), None, PAYOUTS_SHOWN_MAX)?;
        let sales = payouts::sales::daily_sales(conn, &shop_id, today, SALES_DAYS, &currency)?;
        Ok((balance, listed, sales))
    })
    .await?;
    let page = MoneyPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Money — {} — Bazaar", shop.name)),
        frame: Frame::of(&pool, &shop, "money").await?,
        balances: balance
            .currencies
            .iter()
            .map(|(currency, b)| balance_view(currency, b))
            .collect(),
        payouts: listed
            .iter()
            .map(|view| payout_item(&shop.id, &view.payout, view.action))
            .collect(),
        charts: sales.series.iter().map(chart::sales_chart).collect(),
        sales_complete: sales.complete,
        statement_href: format!("/seller/shops/{}/money/statement", shop.id),
    };
    personal(&req, &visitor, &page, StatusCode::OK)
}

/// One line of a payout statement as the page shows it.
struct LineRow {
    transaction_id: String,
    what: String,
    order_id: Option<String>,
    gross: String,
    platform_fee: String,
    processing_fee: String,
    taken_back: String,
    /// The refunds and disputes behind `taken_back`.
    taken_back_causes: Vec<String>,
    net: String,
}

#[derive(Template)]
#[template(path = "seller/payout.html", config = "src/web/askama.toml")]
struct PayoutPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    payout: PayoutItem,
    lines: Vec<LineRow>,
    total: String,
    /// The lines add up to the payout (they do once the provider's are all stored).
    adds_up: bool,
    csv_href: String,
    money_href: String,
}

fn line_row(line: &statements::StatementLine, currency: &str) -> LineRow {
    let part = line.part.as_ref();
    let amount = |minor: Option<i64>| minor.map(|m| price(m, currency)).unwrap_or_default();
    let what = match (line.line.kind.as_str(), part.map(|p| p.movement.as_str())) {
        (_, Some("transfer")) => "Sale".to_owned(),
        (_, Some("reversal")) => "Taken back from a sale".to_owned(),
        ("payout_failure", _) => "Failed payout returned".to_owned(),
        (kind, _) => format!("Provider transaction ({})", kind.replace('_', " ")),
    };
    LineRow {
        transaction_id: line.line.transaction_id.clone(),
        what,
        order_id: part.map(|p| p.order_id.clone()),
        gross: amount(part.map(|p| p.subtotal_minor)),
        platform_fee: amount(part.map(|p| p.platform_fee_minor)),
        processing_fee: amount(part.map(|p| p.processing_fee_minor)),
        taken_back: amount(part.map(|p| p.taken_back.iter().map(|t| t.seller_minor).sum())),
        taken_back_causes: part
            .map(|p| {
                p.taken_back
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {}: {}",
                            t.cause_kind.replace('_', " "),
                            t.cause_id,
                            price(t.seller_minor, currency)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        net: price(line.line.net_minor, currency),
    }
}

/// The statement of payout `payout_id` of the visitor's shop `id` (the API's,
/// lines fetched from the provider first if none are stored yet).
async fn payout_statement(
    visitor: &Visitor,
    pool: &DbPool,
    provider: &dyn Provider,
    (id, payout_id): (String, String),
    here: &str,
) -> Result<(Shop, statements::PayoutStatement), PageResult> {
    let shop = owned(visitor, pool, id, here).await?;
    statements::payout_statement_complete(pool, provider, &shop.id, &payout_id)
        .await
        .map(|statement| (shop, statement))
        .map_err(|error| Err(PageError(error)))
}

/// `GET /seller/shops/{id}/money/payouts/{payout_id}`.
pub(super) async fn payout(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> PageResult {
    let (id, payout_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/money/payouts/{payout_id}");
    let (shop, statement) =
        match payout_statement(&visitor, &pool, provider.get_ref(), (id, payout_id), &here).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let currency = statement.payout.currency.clone();
    let page = PayoutPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!(
            "Payout {} — {} — Bazaar",
            statement.payout.id, shop.name
        )),
        frame: Frame::of(&pool, &shop, "money").await?,
        payout: payout_item(
            &shop.id,
            &statement.payout,
            payouts::action_for(statement.payout.failure_code.as_deref()),
        ),
        lines: statement
            .lines
            .iter()
            .map(|l| line_row(l, &currency))
            .collect(),
        total: price(statement.total_minor, &currency),
        adds_up: statement.total_minor == statement.payout.amount_minor,
        csv_href: format!("{here}/statement.csv"),
        money_href: format!("/seller/shops/{}/money", shop.id),
    };
    personal(&req, &visitor, &page, StatusCode::OK)
}

/// `GET /seller/shops/{id}/money/payouts/{payout_id}/statement.csv`: the
/// API's CSV, for a browser (which has the session cookie, not a token).
pub(super) async fn payout_csv(
    visitor: Visitor,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> PageResult {
    let (id, payout_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/money/payouts/{payout_id}/statement.csv");
    let (_, statement) =
        match payout_statement(&visitor, &pool, provider.get_ref(), (id, payout_id), &here).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    Ok(visitor.finish(payouts::payout_statement_csv_answer(&pool, statement)))
}

/// The period form's fields as sent: days, `YYYY-MM-DD`, both included.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PeriodForm {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A statement period: the form's days, and the API's `[from, to)` instants.
struct Period {
    from_day: String,
    to_day: String,
    range: Option<(NaiveDateTime, NaiveDateTime)>,
    errors: FormErrors,
}

/// The form's days as the API's period (`to` is the day after the last), by
/// the API's own rule ([`query::period`]); an empty field is the default
/// (the last 30 days, today included).
fn period_of(form: &PeriodForm, today: NaiveDate) -> Period {
    let text = |value: &Option<String>| value.as_deref().map(str::trim).unwrap_or("").to_owned();
    let (from_text, to_text) = (text(&form.from), text(&form.to));
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d");
    let to = if to_text.is_empty() {
        Ok(today)
    } else {
        day(&to_text)
    };
    let from = match (from_text.is_empty(), &to) {
        (true, Ok(to)) => Ok(*to - chrono::Duration::days(i64::from(SALES_DAYS) - 1)),
        (true, Err(_)) => Ok(today),
        (false, _) => day(&from_text),
    };
    let mut errors = FormErrors::none();
    let mut refuse = |field: &str, message: &str| {
        errors.fields.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    };
    if from.is_err() {
        refuse("from", "Enter the first day as a date, like 2026-11-01.");
    }
    if to.is_err() {
        refuse("to", "Enter the last day as a date, like 2026-11-30.");
    }
    let shown = |parsed: &Result<NaiveDate, _>, text: String| match parsed {
        Ok(day) => day.format("%Y-%m-%d").to_string(),
        Err(_) => text,
    };
    let range = match (from, to) {
        (Ok(from), Ok(to)) => {
            let instant = |day: NaiveDate| crate::db::rfc3339(day.and_time(chrono::NaiveTime::MIN));
            let after_last = to + chrono::Duration::days(1);
            match query::period(
                Some(&instant(from)),
                Some(&instant(after_last)),
                statements::PERIOD_DAYS_MAX,
            ) {
                Ok(range) => Some(range),
                Err(error) => {
                    errors = FormErrors::from_error(&error, |param| match param {
                        "to" => Some("to"),
                        _ => Some("from"),
                    });
                    None
                }
            }
        }
        _ => None,
    };
    Period {
        from_day: shown(&from, from_text),
        to_day: shown(&to, to_text),
        range,
        errors,
    }
}

/// `path` with the request's query, to come back to after signing in.
fn with_query(path: String, req: &HttpRequest) -> String {
    match req.query_string() {
        "" => path,
        query => format!("{path}?{query}"),
    }
}

/// An account of the shop's as its seller reads it.
fn account_name(code: &str) -> &'static str {
    match code.rsplit(':').next().unwrap_or_default() {
        "payable" => "Owed by the platform",
        "connected_pending" => "Pending",
        "connected_balance" => "Available",
        "in_transit" => "In transit",
        "paid_out" => "Paid out",
        "transferred_in" => "Sent to your payments account",
        _ => "Other",
    }
}

struct AccountRow {
    name: &'static str,
    currency: String,
    opening: String,
    closing: String,
}

struct PostingRow {
    at: String,
    description: String,
    account: &'static str,
    debit: String,
    credit: String,
}

#[derive(Template)]
#[template(path = "seller/statement.html", config = "src/web/askama.toml")]
struct StatementPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    from_day: String,
    to_day: String,
    errors: FormErrors,
    /// The statement, when the period is one.
    period: Option<String>,
    accounts: Vec<AccountRow>,
    postings: Vec<PostingRow>,
    has_more: bool,
    csv_href: String,
    action: String,
}

/// `GET /seller/shops/{id}/money/statement?from&to`: the period statement
/// (the API's), or the form with what is wrong with the period (422).
pub(super) async fn statement(
    req: HttpRequest,
    visitor: Visitor,
    path: web::Path<String>,
    form: web::Query<PeriodForm>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = with_query(format!("/seller/shops/{id}/money/statement"), &req);
    let shop = match owned(&visitor, &pool, id, &here).await {
        Ok(shop) => shop,
        Err(answer) => return answer,
    };
    statement_page(&req, visitor, &pool, &shop, &form).await
}

/// The statement page of `shop` for the form's period.
async fn statement_page(
    req: &HttpRequest,
    mut visitor: Visitor,
    pool: &DbPool,
    shop: &Shop,
    form: &PeriodForm,
) -> PageResult {
    let period = period_of(form, db::now().date());
    let found = match period.range {
        Some((from, to)) => {
            let shop_id = shop.id.clone();
            Some(
                db::run(pool, move |conn| {
                    statements::period_statement(conn, &shop_id, from, to)
                })
                .await?,
            )
        }
        None => None,
    };
    let base = format!("/seller/shops/{}/money/statement", shop.id);
    let mut page = StatementPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Statement — {} — Bazaar", shop.name)),
        frame: Frame::of(pool, shop, "money").await?,
        csv_href: format!(
            "{base}.csv?from={}&to={}",
            workspace::encode(&period.from_day),
            workspace::encode(&period.to_day)
        ),
        from_day: period.from_day,
        to_day: period.to_day,
        errors: period.errors,
        period: None,
        accounts: Vec::new(),
        postings: Vec::new(),
        has_more: false,
        action: base,
    };
    let status = match found {
        Some(found) => {
            page.period = Some(format!(
                "{} to {}",
                format::date(found.from),
                format::date(found.to - chrono::Duration::days(1))
            ));
            page.accounts = found
                .closing
                .iter()
                .map(|closing| AccountRow {
                    name: account_name(&closing.code),
                    currency: closing.currency.clone(),
                    opening: price(
                        found
                            .opening
                            .iter()
                            .find(|o| o.id == closing.id)
                            .map_or(0, |o| o.balance_minor),
                        &closing.currency,
                    ),
                    closing: price(closing.balance_minor, &closing.currency),
                })
                .collect();
            page.postings = found
                .postings
                .iter()
                .map(|p| PostingRow {
                    at: p.created_at.format("%-d %b %Y %H:%M").to_string(),
                    description: p.description.clone(),
                    account: account_name(&p.account_code),
                    debit: entered(p.debit_minor, &p.currency),
                    credit: entered(p.credit_minor, &p.currency),
                })
                .collect();
            page.has_more = found.has_more;
            StatusCode::OK
        }
        None => StatusCode::UNPROCESSABLE_ENTITY,
    };
    personal(req, &visitor, &page, status)
}

/// `GET /seller/shops/{id}/money/statement.csv?from&to`: the API's CSV of
/// the period, for a browser; a bad period is the form's page (422).
pub(super) async fn statement_csv(
    req: HttpRequest,
    visitor: Visitor,
    path: web::Path<String>,
    form: web::Query<PeriodForm>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = with_query(format!("/seller/shops/{id}/money/statement.csv"), &req);
    let shop = match owned(&visitor, &pool, id, &here).await {
        Ok(shop) => shop,
        Err(answer) => return answer,
    };
    match period_of(&form, db::now().date()).range {
        Some((from, to)) => Ok(visitor.finish(payouts::period_statement_csv_answer(
            &pool, shop.id, from, to,
        ))),
        None => statement_page(&req, visitor, &pool, &shop, &form).await,
    }
}
