//! Payouts for staff (failed first) and for a shop's seller, and the shop's balances.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::routes::{resource, Api};
use crate::http::{csv, query};
use crate::ledger;
use crate::money::Money;
use crate::payments::Provider;
use crate::sellers::shops;

use super::balance::{ledger_balances, negative_balance, NegativeBalanceJson, ShopBalance};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/payouts").get(list_payouts))
        .service(resource("/v1/exports/payouts.csv").get(export_payouts))
        .service(resource("/v1/shops/{id}/payouts").get(shop_payouts))
        .service(resource("/v1/shops/{id}/payouts/{payout_id}/statement").get(payout_statement))
        .service(
            resource("/v1/shops/{id}/payouts/{payout_id}/statement.csv").get(payout_statement_csv),
        )
        .service(resource("/v1/shops/{id}/statement").get(period_statement))
        .service(resource("/v1/shops/{id}/statement.csv").get(period_statement_csv))
        .service(resource("/v1/shops/{id}/balance").get(shop_balance))
        .service(resource("/v1/reports/shops_in_the_red").get(shops_in_the_red))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_payouts,
        export_payouts,
        shop_payouts,
        payout_statement,
        payout_statement_csv,
        period_statement,
        period_statement_csv,
        shop_balance,
        shops_in_the_red
    ),
    tags((name = "payouts", description = "Payouts, sellers' balances and statements"))
)]
struct Doc;

/// `{data: [payout…]}`: failed first, then newest first.
#[derive(Serialize, ToSchema)]
struct PayoutList {
    data: Vec<super::PayoutView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    status: Option<String>,
    /// Staff: one shop's payouts.
    shop_id: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
}

fn checked(list: &ListQuery) -> Result<i64, AppError> {
    query::one_of(
        "status",
        list.status.as_deref(),
        &["pending", "in_transit", "paid", "failed", "canceled"],
    )?;
    query::limit(list.limit, 50, super::PAYOUTS_PAGE_MAX)
}

#[utoipa::path(get, path = "/v1/payouts", tag = "payouts",
    params(ListQuery),
    responses((status = 200, body = PayoutList)),
    extensions(("x-roles" = json!(["finance", "support", "operator"]))))]
async fn list_payouts(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_PAYOUTS)?;
    let limit = checked(&query)?;
    let query = query.into_inner();
    let data = db::run(&pool, move |conn| {
        super::list(
            conn,
            query.shop_id.as_deref(),
            query.status.as_deref(),
            limit,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(PayoutList { data }))
}

#[utoipa::path(get, path = "/v1/shops/{id}/payouts", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id"), ListQuery),
    responses((status = 200, body = PayoutList)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn shop_payouts(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let limit = checked(&query)?;
    let query = query.into_inner();
    let (id, staff, viewer) = (path.into_inner(), caller.role.is_staff(), caller.user_id.0);
    let data = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &id, &viewer, staff)?;
        super::list(conn, Some(&shop.id), query.status.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PayoutList { data }))
}

/// `GET /v1/shops/{id}/balance`: per currency, from the ledger: what the
/// platform still owes the seller, what sits on its connected account
/// (pending, and available to pay out), what is on its way to the bank and
/// what arrived; and the fees it was charged on paid orders.
#[utoipa::path(get, path = "/v1/shops/{id}/balance", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id")),
    responses((status = 200, body = ShopBalance)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn shop_balance(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let (id, staff, viewer) = (path.into_inner(), caller.role.is_staff(), caller.user_id.0);
    let balance = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &id, &viewer, staff)?;
        super::balance::shop_balance(conn, &shop.id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(balance))
}

/// A shop whose money is below zero in one currency.
#[derive(Serialize, ToSchema)]
struct ShopInTheRed {
    shop_id: String,
    shop_name: String,
    #[serde(flatten)]
    negative: NegativeBalanceJson,
    /// `owed_by_platform` and the connected account's `pending` + `available`, as in the shop's balance.
    owed_by_platform: Money,
    on_connected_account: Money,
}

/// `{data: [shop in the red…]}`, most owed first.
#[derive(Serialize, ToSchema)]
struct ShopsInTheRed {
    data: Vec<ShopInTheRed>,
}

/// `GET /v1/reports/shops_in_the_red`: every shop whose money is below zero in
/// a currency (see a shop's balance, `negative`): what the platform is exposed
/// to, most first.
#[utoipa::path(get, path = "/v1/reports/shops_in_the_red", tag = "payouts",
    responses((status = 200, body = ShopsInTheRed)),
    extensions(("x-roles" = json!(["finance", "support", "operator"]))))]
async fn shops_in_the_red(
    caller: Caller,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_PAYOUTS)?;
    let data = db::run(&pool, move |conn| {
        let all = ledger::balances(conn)?;
        let mut shop_ids: Vec<&str> = all
            .iter()
            .filter_map(|a| a.owner_shop_id.as_deref())
            .collect();
        shop_ids.sort_unstable();
        shop_ids.dedup();
        let mut red = Vec::new();
        for shop_id in shop_ids {
            for (currency, balance) in ledger_balances(&all, shop_id) {
                if let Some(negative) = negative_balance(&balance) {
                    let currency = ledger::stored_currency(&currency, "shop balance")?;
                    red.push(ShopInTheRed {
                        shop_id: shop_id.to_owned(),
                        shop_name: String::new(),
                        negative: negative.json(currency),
                        owed_by_platform: Money::new(
                            balance.owed_by_platform.unwrap_or(0),
                            currency,
                        ),
                        on_connected_account: Money::new(
                            balance.pending.unwrap_or(0) + balance.available.unwrap_or(0),
                            currency,
                        ),
                    });
                }
            }
        }
        let ids: Vec<&str> = red.iter().map(|r| r.shop_id.as_str()).collect();
        let names = crate::sellers::public::shop_names(conn, &ids)?;
        drop(ids);
        for row in &mut red {
            row.shop_name = names.get(&row.shop_id).cloned().unwrap_or_default();
        }
        red.sort_by(|a, b| {
            b.negative
                .owes
                .minor
                .cmp(&a.negative.owes.minor)
                .then(a.shop_id.cmp(&b.shop_id))
        });
        Ok(red)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ShopsInTheRed { data }))
}

/// The shop (as its seller or staff may see it) and its statement's payout,
/// with the payout's lines fetched from the provider if they are not stored yet.
async fn statement_of(
    caller: &Caller,
    path: (String, String),
    pool: &DbPool,
    provider: &dyn Provider,
) -> Result<super::statements::PayoutStatement, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let (id, payout_id) = path;
    let (staff, viewer) = (caller.role.is_staff(), caller.user_id.0.clone());
    let shop = db::run(pool, move |conn| shops::shop_for(conn, &id, &viewer, staff)).await?;
    super::statements::payout_statement_complete(pool, provider, &shop.id, &payout_id).await
}

/// `GET /v1/shops/{id}/payouts/{payout_id}/statement`: every balance
/// transaction of the payout with the order part, fees and take-backs behind
/// it; the lines sum to the payout.
#[utoipa::path(get, path = "/v1/shops/{id}/payouts/{payout_id}/statement", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id"), ("payout_id" = String, Path, description = "The payout's id (`po_…`)")),
    responses((status = 200, body = super::statements::PayoutStatement)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn payout_statement(
    caller: Caller,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    let statement = statement_of(&caller, path.into_inner(), &pool, provider.get_ref()).await?;
    Ok(HttpResponse::Ok().json(statement))
}

const PAYOUT_STATEMENT_COLUMNS: &[&str] = &[
    "payout_id",
    "transaction_id",
    "kind",
    "source",
    "net_minor",
    "order_id",
    "part_id",
    "movement",
    "subtotal_minor",
    "platform_fee_minor",
    "processing_fee_minor",
    "seller_amount_minor",
    "taken_back_minor",
];

/// The same statement as CSV (one page: a payout's lines are few).
#[utoipa::path(get, path = "/v1/shops/{id}/payouts/{payout_id}/statement.csv", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id"), ("payout_id" = String, Path, description = "The payout's id (`po_…`)")),
    responses((status = 200, description = "RFC 4180", content_type = "text/csv", body = String, headers(("Content-Disposition" = String)))),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn payout_statement_csv(
    caller: Caller,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    let statement = statement_of(&caller, path.into_inner(), &pool, provider.get_ref()).await?;
    Ok(payout_statement_csv_answer(pool.get_ref(), statement))
}

/// A payout statement as the CSV download (the API's and the seller's page's).
pub(crate) fn payout_statement_csv_answer(
    pool: &DbPool,
    statement: super::statements::PayoutStatement,
) -> HttpResponse {
    let rows: Vec<Vec<csv::Cell>> = statement
        .lines
        .iter()
        .map(|l| {
            let part = l.part.as_ref();
            vec![
                csv::text(l.line.payout_id.clone()),
                csv::text(l.line.transaction_id.clone()),
                csv::text(l.line.kind.clone()),
                csv::text(l.line.source.clone().unwrap_or_default()),
                csv::number(l.line.net_minor),
                csv::text(part.map(|p| p.order_id.clone()).unwrap_or_default()),
                csv::text(part.map(|p| p.part_id.clone()).unwrap_or_default()),
                csv::text(part.map(|p| p.movement.clone()).unwrap_or_default()),
                csv::amount(part.map(|p| p.subtotal_minor)),
                csv::amount(part.map(|p| p.platform_fee_minor)),
                csv::amount(part.map(|p| p.processing_fee_minor)),
                csv::amount(part.map(|p| p.seller_amount_minor)),
                csv::amount(part.map(|p| p.taken_back.iter().map(|t| t.seller_minor).sum())),
            ]
        })
        .collect();
    let name = format!("statement-{}.csv", statement.payout.id);
    let rows = std::sync::Arc::new(std::sync::Mutex::new(Some(rows)));
    csv::stream(
        pool.clone(),
        &name,
        PAYOUT_STATEMENT_COLUMNS,
        std::sync::Arc::new(move |_, _| {
            let page = rows.lock().map(|mut r| r.take()).unwrap_or_default();
            Ok((page.unwrap_or_default(), None))
        }),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    /// RFC 3339; default: 30 days before `to`.
    from: Option<String>,
    /// RFC 3339, exclusive; default: now.
    to: Option<String>,
}

/// The shop a statement is of (as the caller may see it) and its period.
async fn statement_scope(
    caller: Caller,
    id: String,
    query: &PeriodQuery,
    pool: &DbPool,
) -> Result<(String, chrono::NaiveDateTime, chrono::NaiveDateTime), AppError> {
    caller.require(policy::READ_SHOPS)?;
    let (from, to) = query::period(
        query.from.as_deref(),
        query.to.as_deref(),
        super::statements::PERIOD_DAYS_MAX,
    )?;
    let (staff, viewer) = (caller.role.is_staff(), caller.user_id.0);
    let shop = db::run(pool, move |conn| shops::shop_for(conn, &id, &viewer, staff)).await?;
    Ok((shop.id, from, to))
}

/// `GET /v1/shops/{id}/statement?from&to`: the shop's ledger accounts over a
/// period — opening balances, every posting, closing balances.
#[utoipa::path(get, path = "/v1/shops/{id}/statement", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id"), PeriodQuery),
    responses((status = 200, body = super::statements::PeriodStatement)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn period_statement(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let (shop_id, from, to) = statement_scope(caller, path.into_inner(), &query, &pool).await?;
    let statement = db::run(&pool, move |conn| {
        super::statements::period_statement(conn, &shop_id, from, to)
    })
    .await?;
    Ok(HttpResponse::Ok().json(statement))
}

const PERIOD_STATEMENT_COLUMNS: &[&str] = &[
    "posting_id",
    "created_at",
    "cause",
    "description",
    "account",
    "currency",
    "debit_minor",
    "credit_minor",
    "provider_ref",
];

/// `GET /v1/shops/{id}/statement.csv?from&to`: every posting of the period, streamed.
#[utoipa::path(get, path = "/v1/shops/{id}/statement.csv", tag = "payouts",
    params(("id" = String, Path, description = "The shop's id"), PeriodQuery),
    responses((status = 200, description = "RFC 4180", content_type = "text/csv", body = String, headers(("Content-Disposition" = String)))),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn period_statement_csv(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let (shop_id, from, to) = statement_scope(caller, path.into_inner(), &query, &pool).await?;
    Ok(period_statement_csv_answer(
        pool.get_ref(),
        shop_id,
        from,
        to,
    ))
}

/// Every posting of a shop's period as the CSV download, streamed (the
/// API's and the seller's page's).
pub(crate) fn period_statement_csv_answer(
    pool: &DbPool,
    shop_id: String,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> HttpResponse {
    let name = format!("statement-{shop_id}.csv");
    csv::stream(
        pool.clone(),
        &name,
        PERIOD_STATEMENT_COLUMNS,
        std::sync::Arc::new(move |conn, cursor| {
            let after = csv::cursor_of(cursor);
            let rows =
                ledger::shop_postings(conn, &shop_id, from, to, after.as_ref(), csv::PAGE_ROWS)?;
            let next = rows.last().map(|p| csv::cursor_from(p.created_at, &p.id));
            let rows = rows
                .into_iter()
                .map(|p| {
                    vec![
                        csv::text(p.id),
                        csv::instant(Some(p.created_at)),
                        csv::text(p.cause),
                        csv::text(p.description),
                        csv::text(p.account_code),
                        csv::text(p.currency),
                        csv::number(p.debit_minor),
                        csv::number(p.credit_minor),
                        csv::text(p.provider_ref.unwrap_or_default()),
                    ]
                })
                .collect();
            Ok((rows, next))
        }),
    )
}

const PAYOUT_COLUMNS: &[&str] = &[
    "payout_id",
    "shop_id",
    "account_id",
    "status",
    "amount_minor",
    "currency",
    "failure_code",
    "arrival_date",
    "automatic",
    "created_at",
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    status: Option<String>,
    shop_id: Option<String>,
}

/// `GET /v1/exports/payouts.csv?status&shop_id`: every payout, newest first, streamed.
#[utoipa::path(get, path = "/v1/exports/payouts.csv", tag = "payouts",
    params(ExportQuery),
    responses((status = 200, description = "RFC 4180", content_type = "text/csv", body = String, headers(("Content-Disposition" = String)))),
    extensions(("x-roles" = json!(["finance", "support", "operator"]))))]
async fn export_payouts(
    caller: Caller,
    query: web::Query<ExportQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_PAYOUTS)?;
    query::one_of(
        "status",
        query.status.as_deref(),
        &["pending", "in_transit", "paid", "failed", "canceled"],
    )?;
    let query = query.into_inner();
    Ok(payouts_csv_answer(
        pool.get_ref(),
        query.status,
        query.shop_id,
    ))
}

/// Every payout (of one status or shop, if given), newest first, as the CSV
/// download, streamed: the API's and the console's. The status must have
/// been checked.
pub(crate) fn payouts_csv_answer(
    pool: &DbPool,
    status: Option<String>,
    shop_id: Option<String>,
) -> HttpResponse {
    csv::stream(
        pool.clone(),
        "payouts.csv",
        PAYOUT_COLUMNS,
        std::sync::Arc::new(move |conn, cursor| {
            let page = super::page(
                conn,
                shop_id.as_deref(),
                status.as_deref(),
                csv::cursor_of(cursor).as_ref(),
                csv::PAGE_ROWS,
            )?;
            let next = page.last().map(|p| csv::cursor_from(p.created_at, &p.id));
            let rows = page
                .into_iter()
                .map(|p| {
                    vec![
                        csv::text(p.id),
                        csv::text(p.shop_id),
                        csv::text(p.account_id),
                        csv::text(p.status),
                        csv::number(p.amount_minor),
                        csv::text(p.currency),
                        csv::text(p.failure_code.unwrap_or_default()),
                        csv::text(p.arrival_date.to_string()),
                        csv::text(p.automatic.to_string()),
                        csv::instant(Some(p.created_at)),
                    ]
                })
                .collect();
            Ok((rows, next))
        }),
    )
}
