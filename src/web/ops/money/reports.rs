//! The books reports for a period: the platform's P&L
//! (`ledger::reports::profit_and_loss`, as `GET /v1/reports/pnl`) and fee
//! revenue by shop and by category (`orders::reports::fee_revenue`, as `GET
//! /v1/reports/fee-revenue`), each drawn as a bar chart (`web::chart`, an
//! image with its words) above the table that holds its figures.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::super::console::{self, Console};
use super::{price, with_query};
use crate::auth::policy;
use crate::db::{self, DbPool};
use crate::http::query;
use crate::ledger::reports::{PeriodProfitAndLoss, ProfitAndLoss};
use crate::orders::reports::{FeeRevenue, FeeRevenueReport};
use crate::web::chart::{self, BarChart, RankedChart};
use crate::web::format;
use crate::web::forms::{FieldError, FormErrors};
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// Days a period shows by default, the last one today.
const DEFAULT_DAYS: i64 = 30;
/// Longest period (the API's).
const PERIOD_DAYS_MAX: i64 = 366;
/// Most shops or categories a chart draws (the table lists them all).
const RANKED_BARS_MAX: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PeriodForm {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The form's days, and the API's `[from, to)` instants when they make one.
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
        (true, Ok(to)) => Ok(*to - chrono::Duration::days(DEFAULT_DAYS - 1)),
        (true, Err(_)) => Ok(today),
        (false, _) => day(&from_text),
    };
    let mut errors = FormErrors::none();
    let mut refuse = |field: &str, message: String| {
        errors.fields.push(FieldError {
            field: field.to_owned(),
            message,
        });
    };
    if from.is_err() {
        refuse(
            "from",
            "Enter the first day as a date, like 2026-11-01.".into(),
        );
    }
    if to.is_err() {
        refuse(
            "to",
            "Enter the last day as a date, like 2026-11-30.".into(),
        );
    }
    let shown = |parsed: &Result<NaiveDate, _>, text: String| match parsed {
        Ok(day) => day.format("%Y-%m-%d").to_string(),
        Err(_) => text,
    };
    let (from_day, to_day) = (shown(&from, from_text), shown(&to, to_text));
    let range = match (from, to) {
        (Ok(from), Ok(to)) => {
            let instant = |day: NaiveDate| crate::db::rfc3339(day.and_time(chrono::NaiveTime::MIN));
            let after_last = to + chrono::Duration::days(1);
            match query::period(
                Some(&instant(from)),
                Some(&instant(after_last)),
                PERIOD_DAYS_MAX,
            ) {
                Ok(range) => Some(range),
                Err(_) => {
                    refuse(
                        "from",
                        format!(
                            "The first day must be on or before the last day, at most {PERIOD_DAYS_MAX} days apart."
                        ),
                    );
                    None
                }
            }
        }
        _ => None,
    };
    Period {
        from_day,
        to_day,
        range,
        errors,
    }
}

/// One figure of the P&L.
struct PnlRow {
    /// The API's field.
    field: &'static str,
    label: &'static str,
    amount: String,
}

/// One day's net.
struct DayRow {
    day: String,
    net: String,
}

/// One shop's or category's fee revenue.
struct RevenueRow {
    name: String,
    /// The shop's console page, or empty for a category.
    href: String,
    parts: i64,
    subtotal: String,
    fees: String,
}

/// Everything in one currency.
struct CurrencyReport {
    currency: String,
    pnl: Vec<PnlRow>,
    net: String,
    pnl_chart: RankedChart,
    days_chart: Option<BarChart>,
    days: Vec<DayRow>,
    shops_chart: Option<RankedChart>,
    shops: Vec<RevenueRow>,
    categories_chart: Option<RankedChart>,
    categories: Vec<RevenueRow>,
    fees_total: String,
}

#[derive(Template)]
#[template(path = "ops/money_reports.html", config = "src/web/askama.toml")]
struct ReportsPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    from_day: String,
    to_day: String,
    errors: FormErrors,
    /// The period in words, when it is valid.
    span: String,
    fees_csv: String,
    currencies: Vec<CurrencyReport>,
}

/// The P&L's lines: `(field, label, signed amount: income up, costs down)`.
fn pnl_lines(p: &ProfitAndLoss) -> [(&'static str, &'static str, i64); 7] {
    [
        ("fees_earned", "Fees earned", p.fees_earned),
        (
            "processing_fees_recovered",
            "Processing fees recovered from sellers",
            p.processing_fees_recovered,
        ),
        (
            "processing_fees",
            "Processing fees paid",
            -p.processing_fees,
        ),
        ("refunds_borne", "Refunds borne", -p.refunds_borne),
        ("dispute_fees", "Dispute fees", -p.dispute_fees),
        ("dispute_losses", "Disputes lost", -p.dispute_losses),
        ("adjustments", "Adjustments", p.adjustments),
    ]
}

fn revenue_rows(
    rows: &[FeeRevenue],
    currency: &str,
    name: &dyn Fn(&str) -> (String, String),
) -> Vec<RevenueRow> {
    let mut mine: Vec<&FeeRevenue> = rows.iter().filter(|r| r.currency == currency).collect();
    mine.sort_by(|a, b| b.fees_minor.cmp(&a.fees_minor).then(a.key.cmp(&b.key)));
    mine.into_iter()
        .map(|r| {
            let (name, href) = name(&r.key);
            RevenueRow {
                name,
                href,
                parts: r.parts,
                subtotal: price(r.subtotal_minor, currency),
                fees: price(r.fees_minor, currency),
            }
        })
        .collect()
}

fn ranked(
    id: String,
    title: String,
    rows: &[FeeRevenue],
    currency: &str,
    name: &dyn Fn(&str) -> (String, String),
) -> Option<RankedChart> {
    let mut mine: Vec<&FeeRevenue> = rows.iter().filter(|r| r.currency == currency).collect();
    if mine.is_empty() {
        return None;
    }
    mine.sort_by(|a, b| b.fees_minor.cmp(&a.fees_minor).then(a.key.cmp(&b.key)));
    let total: i64 = mine.iter().map(|r| r.fees_minor).sum();
    let count = mine.len();
    let bars: Vec<(String, i64)> = mine
        .iter()
        .take(RANKED_BARS_MAX)
        .map(|r| (name(&r.key).0, r.fees_minor))
        .collect();
    let top = &bars[0];
    let shown = if count > RANKED_BARS_MAX {
        format!(" The chart draws the {RANKED_BARS_MAX} largest of {count}; the table lists all.")
    } else {
        String::new()
    };
    let desc = format!(
        "{} in fees from {count} in all; the most from {} with {}.{shown}",
        price(total, currency),
        top.0,
        price(top.1, currency)
    );
    Some(chart::ranked_chart(id, title, desc, &bars, &|m| {
        price(m, currency)
    }))
}

fn currency_report(
    currency: &str,
    periods: &[PeriodProfitAndLoss],
    revenue: &FeeRevenueReport,
    names: &HashMap<String, String>,
) -> CurrencyReport {
    let code = currency.to_lowercase();
    let of = |p: &PeriodProfitAndLoss| {
        p.currencies
            .iter()
            .find(|c| c.currency == currency)
            .cloned()
    };
    let total = periods
        .iter()
        .find(|p| p.period == "total")
        .and_then(of)
        .unwrap_or_else(|| ProfitAndLoss {
            currency: currency.to_owned(),
            ..ProfitAndLoss::default()
        });
    let lines = pnl_lines(&total);
    let pnl_bars: Vec<(String, i64)> = lines
        .iter()
        .map(|(_, l, v)| ((*l).to_owned(), *v))
        .collect();
    let pnl_chart = chart::ranked_chart(
        format!("pnl-{code}"),
        format!("P&L by line, {currency}"),
        format!(
            "Income to the right, costs to the left; net {}: fees earned {}, processing fees paid {}, refunds borne {}.",
            price(total.net, currency),
            price(total.fees_earned, currency),
            price(total.processing_fees, currency),
            price(total.refunds_borne, currency)
        ),
        &pnl_bars,
        &|m| price(m, currency),
    );
    let daily: Vec<(String, String, i64)> = periods
        .iter()
        .filter(|p| p.period != "total")
        .filter_map(|p| {
            let day = NaiveDate::parse_from_str(&p.period, "%Y-%m-%d").ok()?;
            let net = of(p)?.net;
            Some((
                day.format("%-d %b").to_string(),
                format::date(day.and_time(chrono::NaiveTime::MIN)),
                net,
            ))
        })
        .collect();
    let days_chart = (!daily.is_empty()).then(|| {
        let values: Vec<i64> = daily.iter().map(|d| d.2).collect();
        let labels: Vec<String> = daily.iter().map(|d| d.0.clone()).collect();
        chart::bar_chart(
            format!("pnl-{code}-days"),
            format!("Net P&L per day with postings, {currency}"),
            format!(
                "{} day{} with postings from {} to {}: net {} in all.",
                daily.len(),
                if daily.len() == 1 { "" } else { "s" },
                daily[0].1,
                daily[daily.len() - 1].1,
                price(total.net, currency)
            ),
            &values,
            &labels,
            &|m| price(m, currency),
        )
    });
    let shop = |id: &str| {
        (
            names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
            format!("/ops/shops/{id}"),
        )
    };
    let category = |slug: &str| (format::category_name(slug), String::new());
    let fees_total: i64 = revenue
        .by_shop
        .iter()
        .filter(|r| r.currency == currency)
        .map(|r| r.fees_minor)
        .sum();
    CurrencyReport {
        currency: currency.to_owned(),
        pnl: lines
            .iter()
            .map(|(field, label, _)| PnlRow {
                field,
                label,
                amount: price(
                    match *field {
                        "fees_earned" => total.fees_earned,
                        "processing_fees_recovered" => total.processing_fees_recovered,
                        "processing_fees" => total.processing_fees,
                        "refunds_borne" => total.refunds_borne,
                        "dispute_fees" => total.dispute_fees,
                        "dispute_losses" => total.dispute_losses,
                        _ => total.adjustments,
                    },
                    currency,
                ),
            })
            .collect(),
        net: price(total.net, currency),
        pnl_chart,
        days_chart,
        days: daily
            .iter()
            .map(|(_, day, net)| DayRow {
                day: day.clone(),
                net: price(*net, currency),
            })
            .collect(),
        shops_chart: ranked(
            format!("fees-{code}-shops"),
            format!("Fee revenue by shop, {currency}"),
            &revenue.by_shop,
            currency,
            &shop,
        ),
        shops: revenue_rows(&revenue.by_shop, currency, &shop),
        categories_chart: ranked(
            format!("fees-{code}-categories"),
            format!("Fee revenue by category, {currency}"),
            &revenue.by_category,
            currency,
            &category,
        ),
        categories: revenue_rows(&revenue.by_category, currency, &category),
        fees_total: price(fees_total, currency),
    }
}

/// `GET /ops/money/reports?from&to` (days, the last included):
/// policy::READ_LEDGER, as `GET /v1/reports/pnl` and
/// `GET /v1/reports/fee-revenue`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    form: web::Query<PeriodForm>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let here = with_query("/ops/money/reports", &req);
    let session = match console::staff(&visitor, &here, policy::READ_LEDGER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let period = period_of(&form, crate::db::now().date());
    let (currencies, span, fees_csv) = match period.range {
        Some((from, to)) => {
            let (periods, revenue) = db::run(&pool, move |conn| {
                let periods = crate::ledger::reports::profit_and_loss(conn, from, to)?;
                let revenue = crate::orders::reports::fee_revenue(conn, from, to)?;
                Ok((periods, revenue))
            })
            .await?;
            let names: HashMap<String, String> = revenue
                .by_shop
                .iter()
                .filter_map(|r| Some((r.key.clone(), r.shop_name.clone()?)))
                .collect();
            let mut codes: BTreeSet<String> = periods
                .iter()
                .flat_map(|p| p.currencies.iter().map(|c| c.currency.clone()))
                .collect();
            codes.extend(revenue.by_shop.iter().map(|r| r.currency.clone()));
            let currencies = codes
                .iter()
                .map(|c| currency_report(c, &periods, &revenue, &names))
                .collect();
            let last = to - chrono::Duration::days(1);
            (
                currencies,
                format!("from {} to {}", format::date(from), format::date(last)),
                format!(
                    "/ops/money/exports/fees.csv?from={}&to={}",
                    crate::db::rfc3339(from),
                    crate::db::rfc3339(to)
                ),
            )
        }
        None => (Vec::new(), String::new(), String::new()),
    };
    let status = if period.errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ReportsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("P&L and fee revenue — Console — Bazaar"),
        console: Console::of(&session.caller, "money"),
        from_day: period.from_day,
        to_day: period.to_day,
        errors: period.errors,
        span,
        fees_csv,
        currencies,
    };
    console::answer(&req, &visitor, &page, status)
}
