//! The console's shops: the list (search by name, filter by status, a page
//! at a time: `sellers::search_shops`, as `GET /v1/shops`), and one shop:
//! its state at the provider, its owner, recent orders, balance, payouts,
//! the fee rule in force for it, and the operator's forms: freeze and
//! unfreeze (`sellers::set_frozen_audited`, as `POST /v1/shops/{id}/freeze`
//! and `…/unfreeze`), and sync with the provider (`sellers::sync_shop`, as
//! `POST /v1/shops/{id}/sync`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::console::{self, Console};
use crate::auth::{policy, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::payments::Provider;
use crate::sellers::{self, search, FreezeChange, Shop, ShopSearch};
use crate::web::format;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace::{self, encode};
use crate::web::visitor::Visitor;

/// Shops on one page of the list.
const LIST_PAGE_ROWS: i64 = 25;
/// Recent orders a shop's page shows.
const ORDERS_SHOWN_MAX: i64 = 10;
/// Payouts a shop's page shows (failed ones first).
const PAYOUTS_SHOWN_MAX: i64 = 10;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops/shops").get(list))
        .service(web::resource("/ops/shops/{id}").get(show))
        .service(web::resource("/ops/shops/{id}/freeze").post(freeze))
        .service(web::resource("/ops/shops/{id}/unfreeze").post(unfreeze))
        .service(web::resource("/ops/shops/{id}/sync").post(sync));
}

/// "Yes" or "No", in words (never a colour alone).
fn yes_no(value: bool) -> &'static str {
    if value {
        "Yes"
    } else {
        "No"
    }
}

/// An amount in the currency named by its code (codes we stored parse).
fn price(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => format::price(Money::new(minor, currency)),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// One row of the list.
struct Row {
    id: String,
    name: String,
    status: &'static str,
    charges: &'static str,
    payouts: &'static str,
    created: String,
}

impl Row {
    fn of(shop: &Shop) -> Self {
        Self {
            id: shop.id.clone(),
            name: shop.name.clone(),
            status: workspace::status_label(shop.status()),
            charges: yes_no(shop.charges_enabled),
            payouts: yes_no(shop.payouts_enabled),
            created: format::date(shop.created_at),
        }
    }
}

/// An option of the status filter.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ops/shops.html", config = "src/web/askama.toml")]
struct ListPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    q: String,
    choices: Vec<Choice>,
    filtered: bool,
    rows: Vec<Row>,
    page: i64,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    /// 1-based.
    #[serde(default)]
    page: Option<i64>,
}

/// `GET /ops/shops?q=&status=&page=` (`policy::READ_SHOPS`).
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/shops", policy::READ_SHOPS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let query = query.into_inner();
    let page = query.page.unwrap_or(1).max(1);
    let search = ShopSearch::parse(
        None,
        Some(&query.q),
        Some(&query.status),
        Some(LIST_PAGE_ROWS),
        LIST_PAGE_ROWS,
        Some((page - 1).saturating_mul(LIST_PAGE_ROWS)),
    )?;
    let status = search.status;
    let found = db::run(&pool, move |conn| sellers::search_shops(conn, &search)).await?;
    let link = |page: i64| {
        let mut href = format!("/ops/shops?q={}", encode(query.q.trim()));
        if let Some(status) = status {
            href.push_str(&format!("&status={status}"));
        }
        format!("{href}&page={page}")
    };
    let view = ListPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Shops — Console — Bazaar"),
        console: Console::of(&session.caller, "shops"),
        q: query.q.trim().to_owned(),
        choices: search::STATUSES
            .into_iter()
            .map(|value| Choice {
                value,
                label: workspace::status_label(value),
                selected: status == Some(value),
            })
            .collect(),
        filtered: status.is_some() || !query.q.trim().is_empty(),
        rows: found.shops.iter().map(Row::of).collect(),
        page,
        previous: (page > 1).then(|| link(page - 1)),
        next: found.has_more.then(|| link(page + 1)),
    };
    console::answer(&req, &visitor, &view, StatusCode::OK)
}

/// A recent order of the shop.
struct OrderRow {
    id: String,
    placed: String,
    total: String,
    status: &'static str,
}

/// One balance figure.
struct Figure {
    label: &'static str,
    amount: String,
}

/// The shop's balance in one currency.
struct BalanceView {
    currency: String,
    figures: Vec<Figure>,
}

/// A payout of the shop.
struct PayoutRow {
    created: String,
    status: &'static str,
    amount: String,
    failure: Option<String>,
}

/// The fee rule that prices the shop's sales now.
struct FeeInForce {
    rule_href: String,
    version: i32,
    terms: String,
}

#[derive(Template)]
#[template(path = "ops/shop.html", config = "src/web/askama.toml")]
struct ShopPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    notice: &'static str,
    shop: Shop,
    status: &'static str,
    charges: &'static str,
    payouts_enabled: &'static str,
    needs: Vec<String>,
    owner_email: Option<String>,
    orders: Vec<OrderRow>,
    balances: Vec<BalanceView>,
    payouts: Vec<PayoutRow>,
    fee: Option<FeeInForce>,
    fee_missing: String,
    /// Which form the errors belong to: `freeze` or `unfreeze`.
    form: &'static str,
    reason: String,
    errors: FormErrors,
    may_freeze: bool,
    may_sync: bool,
}

/// What a fee version charges, in words: "10.5 % + $0.30 (min $1.00, max
/// $50.00, at most 50 % of the part)".
pub(super) fn terms_text(terms: &crate::fees::FeeTerms, currency: Option<Currency>) -> String {
    let fixed: Vec<String> = match currency.and_then(|c| terms.fixed.get(&c).map(|m| (c, *m))) {
        Some((currency, minor)) => vec![format::price(Money::new(minor, currency))],
        None => terms
            .fixed
            .iter()
            .map(|(currency, minor)| format::price(Money::new(*minor, *currency)))
            .collect(),
    };
    let mut text = format!("{} % + {}", terms.percentage, fixed.join(" or "));
    let bound = |minor: i64| match currency {
        Some(currency) => format::price(Money::new(minor, currency)),
        None => format!("{minor} minor units"),
    };
    let mut limits = Vec::new();
    if let Some(min) = terms.min_minor {
        limits.push(format!("at least {}", bound(min)));
    }
    if let Some(max) = terms.max_minor {
        limits.push(format!("at most {}", bound(max)));
    }
    if let Some(share) = terms.max_share {
        limits.push(format!("never over {share} % of the part"));
    }
    if !limits.is_empty() {
        text.push_str(&format!(" ({})", limits.join(", ")));
    }
    text
}

fn order_status(view: &crate::orders::model::SellerOrderView) -> &'static str {
    use crate::orders::model::OrderStatus;
    match view.order_status {
        OrderStatus::Paid => match view.part.fulfilment.status.as_str() {
            "unfulfilled" => "Paid, to ship",
            "partially_shipped" => "Partly shipped",
            "shipped" => "Shipped",
            "delivered" => "Delivered",
            "canceled" => "Cancelled",
            _ => "Paid",
        },
        OrderStatus::AwaitingPayment => "Awaiting payment",
        OrderStatus::Expired => "Not paid in time",
        OrderStatus::Canceled => "Payment refused",
    }
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

/// Everything the shop's page shows besides the shop, read in one trip.
struct Around {
    owner_email: Option<String>,
    orders: Vec<OrderRow>,
    balances: Vec<BalanceView>,
    payouts: Vec<PayoutRow>,
    fee: Result<crate::fees::FeeRuleVersion, AppError>,
}

fn around(conn: &mut db::DbConnection, shop: &Shop) -> Result<Around, AppError> {
    let owner_email = sellers::shops::owner_email(conn, shop)?;
    let orders =
        crate::orders::store::list_shop_orders(conn, &shop.id, None, None, ORDERS_SHOWN_MAX)?
            .iter()
            .map(|view| OrderRow {
                id: view.order_id.clone(),
                placed: format::date_of(&view.created_at),
                total: format::price(view.part.subtotal),
                status: order_status(view),
            })
            .collect();
    let balance = crate::payouts::balance::shop_balance(conn, &shop.id)?;
    let balances = balance
        .currencies
        .iter()
        .map(|(currency, b)| BalanceView {
            currency: currency.clone(),
            figures: [
                ("Owed by the platform", b.owed_by_platform),
                ("Held until shipment or delivery", b.held),
                ("Pending at the provider", b.pending),
                ("Available to pay out", b.available),
                ("In transit to the bank", b.in_transit),
                ("Paid out", b.paid_out),
                ("Fees kept", b.fees_kept),
            ]
            .into_iter()
            .map(|(label, minor)| Figure {
                label,
                amount: price(minor.unwrap_or(0), currency),
            })
            .chain(b.negative.as_ref().map(|n| Figure {
                label: "The seller owes",
                amount: price(n.owes, currency),
            }))
            .collect(),
        })
        .collect();
    let payouts = crate::payouts::list(conn, Some(&shop.id), None, PAYOUTS_SHOWN_MAX)?
        .iter()
        .map(|view| {
            let p = &view.payout;
            PayoutRow {
                created: format::date(p.created_at),
                status: payout_status(&p.status),
                amount: price(p.amount_minor, &p.currency),
                failure: (p.status == "failed").then(|| {
                    p.failure_message
                        .clone()
                        .or_else(|| p.failure_code.clone())
                        .unwrap_or_else(|| "no reason given".into())
                }),
            }
        })
        .collect();
    // The resolution checkout uses, for a sale in the shop's currency with
    // no category rule: shop rules, then the platform default.
    let fee =
        match crate::fees::rule_in_force(conn, &shop.id, None, shop.default_currency, db::now()) {
            Err(error) if workspace::is_refusal(&error) => Err(error),
            other => Ok(other?),
        };
    Ok(Around {
        owner_email,
        orders,
        balances,
        payouts,
        fee,
    })
}

/// The shop's page, with `notice` on top and the errors of `form`.
#[allow(clippy::too_many_arguments)]
async fn shop_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    caller: &crate::auth::Caller,
    shop: Shop,
    notice: &'static str,
    (form, reason, errors): (&'static str, String, FormErrors),
    status: StatusCode,
) -> PageResult {
    let found = {
        let shop = shop.clone();
        db::run(pool, move |conn| around(conn, &shop)).await?
    };
    let console = Console::of(caller, "shops");
    let (fee, fee_missing) = match found.fee {
        Ok(version) => (
            Some(FeeInForce {
                rule_href: format!("/ops/fee-rules/{}", version.rule_id),
                version: version.version,
                terms: terms_text(&version.terms, Some(shop.default_currency)),
            }),
            String::new(),
        ),
        Err(error) => (None, crate::web::forms::sentence(&error.to_string())),
    };
    let page = ShopPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{} — Shops — Console — Bazaar", shop.name)),
        may_freeze: console.may(policy::FREEZE_SHOP),
        may_sync: console.may(policy::SYNC_SHOP) && shop.provider_account_id.is_some(),
        console,
        notice,
        status: workspace::status_label(shop.status()),
        charges: yes_no(shop.charges_enabled),
        payouts_enabled: yes_no(shop.payouts_enabled),
        needs: workspace::needs(&shop.requirements_due),
        owner_email: found.owner_email,
        orders: found.orders,
        balances: found.balances,
        payouts: found.payouts,
        fee,
        fee_missing,
        form,
        reason,
        errors,
        shop,
    };
    console::answer(req, visitor, &page, status)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ShowQuery {
    #[serde(default)]
    done: String,
}

/// Any shop, for staff (the API's `shop_for` with `staff`).
async fn find(pool: &DbPool, caller: &crate::auth::Caller, id: String) -> Result<Shop, AppError> {
    let viewer = caller.user_id.0.clone();
    db::run(pool, move |conn| {
        sellers::shops::shop_for(conn, &id, &viewer, true)
    })
    .await
}

/// `GET /ops/shops/{id}` (`policy::READ_SHOPS`).
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/ops/shops/{id}");
    let session = match console::staff(&visitor, &here, policy::READ_SHOPS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let shop = find(&pool, &session.caller, id).await?;
    let notice = match query.done.as_str() {
        "frozen" => "Shop frozen. Its products are off the storefront and nothing is paid out.",
        "unfrozen" => "Freeze lifted. The shop sells again if the provider allows it.",
        "synced" => "Synced: the state below is the provider's now.",
        _ => "",
    };
    shop_page(
        &req,
        &mut visitor,
        &pool,
        &session.caller,
        shop,
        notice,
        ("", String::new(), FormErrors::none()),
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

/// Freezes (`freeze`) or lifts the freeze, from the shop's page.
async fn change_frozen(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    (id, freeze): (String, bool),
    pool: &DbPool,
    form: ReasonForm,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let here = format!("/ops/shops/{id}");
    let session = match console::staff(&visitor, &here, policy::FREEZE_SHOP) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let shop = find(pool, &session.caller, id).await?;
    // The console asks a reason for both: the log says why a shop opened again too.
    let checked = sellers::shops::check_reason(Some(&form.reason)).map(str::to_owned);
    let changed = match checked {
        Ok(reason) => {
            let change = if freeze {
                FreezeChange::Freeze { reason }
            } else {
                FreezeChange::Unfreeze {
                    reason: Some(reason),
                }
            };
            let (actor, shop_id) = (session.caller.user_id.clone(), shop.id.clone());
            db::run(pool, move |conn| {
                sellers::set_frozen_audited(conn, &shop_id, &actor, &context, &change)
            })
            .await
        }
        Err(error) => Err(error),
    };
    let which = if freeze { "freeze" } else { "unfreeze" };
    match changed {
        Ok(shop) => {
            let done = if freeze { "frozen" } else { "unfrozen" };
            let location = format!("/ops/shops/{}?done={done}", shop.id);
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let field: &'static str = if freeze {
                "freeze-reason"
            } else {
                "unfreeze-reason"
            };
            let errors =
                FormErrors::from_error(&error, |param| (param == "reason").then_some(field));
            let status = actix_web::ResponseError::status_code(&error);
            shop_page(
                &req,
                &mut visitor,
                pool,
                &session.caller,
                shop,
                "",
                (which, form.reason, errors),
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// `POST /ops/shops/{id}/freeze` `reason` (`policy::FREEZE_SHOP`).
pub(super) async fn freeze(
    req: HttpRequest,
    visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<ReasonForm>,
) -> PageResult {
    change_frozen(
        req,
        visitor,
        context,
        (path.into_inner(), true),
        &pool,
        form.into_inner(),
    )
    .await
}

/// `POST /ops/shops/{id}/unfreeze` `reason` (`policy::FREEZE_SHOP`).
pub(super) async fn unfreeze(
    req: HttpRequest,
    visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<ReasonForm>,
) -> PageResult {
    change_frozen(
        req,
        visitor,
        context,
        (path.into_inner(), false),
        &pool,
        form.into_inner(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ops/shops/{id}/sync` (`policy::SYNC_SHOP`): `sellers::sync_shop`,
/// audited as `shop.sync` as the API's staff call is.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/ops/shops/{id}");
    let session = match console::staff(&visitor, &here, policy::SYNC_SHOP) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    limits
        .provider_calls
        .take(&session.caller.user_id.0)
        .await?;
    let shop = find(&pool, &session.caller, id).await?;
    let audit = Some((session.caller.user_id.clone(), context));
    let shop = sellers::sync_shop(&pool, provider.get_ref(), shop, audit).await?;
    let location = format!("/ops/shops/{}?done=synced", shop.id);
    Ok(visitor.finish(render::see_other(&location).finish()))
}
