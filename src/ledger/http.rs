//! Reading the ledger: operators and finance.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::adjustments::{Adjustment, AdjustmentRequest};
use super::{AccountBalance, PostingView};
use crate::auth::{Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::query;
use crate::http::routes::{resource, Api};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/ledger/accounts").get(list_accounts))
        .service(resource("/v1/ledger/accounts/{id}").get(get_account))
        .service(resource("/v1/ledger/entries/{id}").get(get_entry))
        .service(resource("/v1/ledger/adjustments").post(post_adjustment))
        .service(resource("/v1/ledger/trial-balance").get(trial_balance))
        .service(resource("/v1/reports/pnl").get(profit_and_loss))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list_accounts, get_account, get_entry, post_adjustment, trial_balance, profit_and_loss),
    tags((name = "ledger", description = "The double-entry ledger: read, and corrected by balanced adjustments"))
)]
struct Doc;

/// `{data: [account balance…]}`.
#[derive(Serialize, ToSchema)]
struct AccountList {
    data: Vec<AccountBalance>,
}

/// An account's balance and a page of its postings, newest first.
#[derive(Serialize, ToSchema)]
struct AccountPage {
    account: AccountBalance,
    postings: Vec<PostingView>,
    has_more: bool,
}

/// The postings of one entry.
#[derive(Serialize, ToSchema)]
struct EntryPostings {
    postings: Vec<PostingView>,
}

/// The platform's P&L per day (UTC) and a `total` period.
#[derive(Serialize, ToSchema)]
struct ProfitAndLossReport {
    periods: Vec<super::reports::PeriodProfitAndLoss>,
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

/// `GET /v1/reports/pnl?from&to`: the platform's P&L per day and in total.
#[utoipa::path(get, path = "/v1/reports/pnl", tag = "ledger",
    params(PeriodQuery),
    responses((status = 200, body = ProfitAndLossReport)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn profit_and_loss(
    caller: Caller,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    let (from, to) = query::period(query.from.as_deref(), query.to.as_deref(), 366)?;
    let periods = db::run(&pool, move |conn| {
        super::reports::profit_and_loss(conn, from, to)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ProfitAndLossReport { periods }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// 1 to 100 (default 50).
    limit: Option<i64>,
    /// A posting id from the previous page: the page after it.
    starting_after: Option<String>,
}

#[utoipa::path(get, path = "/v1/ledger/accounts", tag = "ledger",
    responses((status = 200, body = AccountList)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn list_accounts(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    let data = db::run(&pool, super::balances).await?;
    Ok(HttpResponse::Ok().json(AccountList { data }))
}

#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The account's id"), PageQuery),
    responses((status = 200, body = AccountPage)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn get_account(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
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
    Ok(HttpResponse::Ok().json(AccountPage {
        account,
        postings: page.data,
        has_more: page.has_more,
    }))
}

#[utoipa::path(get, path = "/v1/ledger/entries/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The entry's id, or its cause")),
    responses((status = 200, body = EntryPostings)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn get_entry(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    let id = path.into_inner();
    let postings = db::run(&pool, move |conn| super::entry(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(EntryPostings { postings }))
}

/// `POST /v1/ledger/adjustments` (header `Idempotency-Key`): a balanced manual
/// entry, audited as `ledger.adjustment`.
#[utoipa::path(post, path = "/v1/ledger/adjustments", tag = "ledger",
    params(("Idempotency-Key" = String, Header, description = "Required; the adjustment's cause is `adjustment:{key}`: a retry posts nothing new and answers 200 with the first posting")),
    request_body = AdjustmentRequest,
    responses(
        (status = 201, description = "Posted", body = Adjustment),
        (status = 200, description = "Posted before under this key (a retry)", body = Adjustment),
        (status = 400, description = "`idempotency_key_required` or `invalid_idempotency_key` (`param` is `Idempotency-Key`), or a malformed body", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the key posted different lines", body = ErrorBody),
        (status = 422, description = "`invalid_description`, `invalid_currency`, `invalid_postings`, `invalid_amount`, `unknown_account`, `unbalanced_entry`; `param` names the field", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn post_adjustment(
    caller: Caller,
    context: RequestContext,
    req: actix_web::HttpRequest,
    body: JsonBody<AdjustmentRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::POST_ADJUSTMENT)?;
    let request = body.into_inner()?;
    let key = crate::http::idempotency_key_of(&req)?;
    let actor = caller.user_id.clone();
    let adjustment = db::run(&pool, move |conn| {
        super::adjustments::post_adjustment_audited(conn, &key, &request, &actor, &context)
    })
    .await?;
    Ok(if adjustment.created {
        HttpResponse::Created().json(adjustment)
    } else {
        HttpResponse::Ok().json(adjustment)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AsOfQuery {
    /// RFC 3339: balances from postings written at or before this instant.
    as_of: Option<String>,
}

#[utoipa::path(get, path = "/v1/ledger/trial-balance", tag = "ledger",
    params(AsOfQuery),
    responses((status = 200, body = super::TrialBalance)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn trial_balance(
    caller: Caller,
    query: web::Query<AsOfQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    let as_of = query::instant("as_of", query.as_of.as_deref())?;
    let trial = db::run(&pool, move |conn| super::trial_balance(conn, as_of)).await?;
    Ok(HttpResponse::Ok().json(trial))
}
