//! Reading the ledger: operators and finance.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{Caller, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/ledger/accounts").get(list_accounts))
        .service(web::resource("/v1/ledger/accounts/{id}").get(get_account))
        .service(web::resource("/v1/ledger/entries/{id}").get(get_entry))
        .service(web::resource("/v1/ledger/trial-balance").get(trial_balance))
        .service(web::resource("/v1/reports/pnl").get(profit_and_loss));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/reports/pnl?from&to`: the platform's P&L per day and in total.
async fn profit_and_loss(
    caller: Caller,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let (from, to) = query::period(query.from.as_deref(), query.to.as_deref(), 366)?;
    let periods = db::run(&pool, move |conn| {
        super::reports::profit_and_loss(conn, from, to)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "periods": periods })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    /// A posting id from the previous page: the page after it.
    starting_after: Option<String>,
}

async fn list_accounts(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let data = db::run(&pool, super::balances).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

async fn get_account(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let limit = query::limit(query.limit, 50, super::POSTINGS_PAGE_MAX)?;
    let id = path.into_inner();
    let after = query.into_inner().starting_after;
    let (account, page) = db::run(&pool, move |conn| {
        Ok((
            super::balance(conn, &id)?,
            super::account_postings(conn, &id, limit, after.as_deref())?,
        ))
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "account": account,
        "postings": page.data,
        "has_more": page.has_more,
    })))
}

async fn get_entry(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let id = path.into_inner();
    let postings = db::run(&pool, move |conn| super::entry(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "postings": postings })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOfQuery {
    /// RFC 3339: balances from postings written at or before this instant.
    as_of: Option<String>,
}

async fn trial_balance(
    caller: Caller,
    query: web::Query<AsOfQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let as_of = query::instant("as_of", query.as_of.as_deref())?;
    let trial = db::run(&pool, move |conn| super::trial_balance(conn, as_of)).await?;
    Ok(HttpResponse::Ok().json(trial))
}
