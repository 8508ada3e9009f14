//! Payouts for staff (failed first) and for a shop's seller, and the shop's balances.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{Caller, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::ledger::{self, Account};
use crate::sellers::shops;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/payouts").get(list_payouts))
        .service(web::resource("/v1/shops/{id}/payouts").get(shop_payouts))
        .service(web::resource("/v1/shops/{id}/balance").get(shop_balance));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    shop_id: Option<String>,
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

async fn list_payouts(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance, Role::Support])?;
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

async fn shop_payouts(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Finance, Role::Support])?;
    let limit = checked(&query)?;
    let query = query.into_inner();
    let (id, staff, viewer) = (path.into_inner(), caller.role.is_staff(), caller.user_id.0);
    let data = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &id, &viewer, staff)?;
        super::list(conn, Some(&shop.id), query.status.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// `GET /v1/shops/{id}/balance`: per currency, from the ledger: what the
/// platform still owes the seller, what sits on its connected account
/// (pending, and available to pay out), what is on its way to the bank and
/// what arrived; and the fees it was charged on paid orders.
async fn shop_balance(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Finance, Role::Support])?;
    let (id, staff, viewer) = (path.into_inner(), caller.role.is_staff(), caller.user_id.0);
    let balances = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &id, &viewer, staff)?;
        let all = ledger::shop_balances(conn, &shop.id)?;
        let mut by_currency = std::collections::BTreeMap::new();
        for (name, account) in [
            ("owed_by_platform", Account::seller_payable(&shop.id)),
            ("pending", Account::seller_connected_pending(&shop.id)),
            ("available", Account::seller_connected_balance(&shop.id)),
            ("in_transit", Account::seller_in_transit(&shop.id)),
            ("paid_out", Account::seller_paid_out(&shop.id)),
        ] {
            for row in all.iter().filter(|a| a.code == account.code) {
                by_currency
                    .entry(row.currency.clone())
                    .or_insert_with(serde_json::Map::new)
                    .insert(name.to_owned(), serde_json::json!(row.balance_minor));
            }
        }
        for (currency, fees) in crate::orders::store::fees_charged(conn, &shop.id)? {
            by_currency
                .entry(currency)
                .or_insert_with(serde_json::Map::new)
                .insert("fees_charged".to_owned(), serde_json::json!(fees));
        }
        Ok(by_currency)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "currencies": balances })))
}
