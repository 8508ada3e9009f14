//! Reconciliation reports: finance reads them and may start a run.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::http::routes::{resource, Api};
use crate::payments::Provider;

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/reconciliation/reports").get(list).post(run))
        .service(resource("/v1/reconciliation/reports/{id}").get(get))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list, get, run),
    tags((name = "reconciliation", description = "The ledger against the provider"))
)]
struct Doc;

/// `{data: [report summary…]}`, newest first.
#[derive(Serialize, ToSchema)]
struct ReportList {
    data: Vec<super::ReportSummary>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// 1 to 100 (default 20).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/reconciliation/reports", tag = "reconciliation",
    params(PageQuery),
    responses((status = 200, body = ReportList)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn list(
    caller: Caller,
    query: web::Query<PageQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::RECONCILE)?;
    let limit = query::limit(query.limit, 20, super::REPORTS_PAGE_MAX)?;
    let data = db::run(&pool, move |conn| super::list(conn, limit)).await?;
    Ok(HttpResponse::Ok().json(ReportList { data }))
}

#[utoipa::path(get, path = "/v1/reconciliation/reports/{id}", tag = "reconciliation",
    params(("id" = String, Path, description = "The report's id")),
    responses((status = 200, body = super::Report)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn get(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::RECONCILE)?;
    let id = path.into_inner();
    let report = db::run(&pool, move |conn| super::get(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Runs a reconciliation now (it reads every account's transactions at the
/// provider: seconds for a day's activity).
#[utoipa::path(post, path = "/v1/reconciliation/reports", tag = "reconciliation",
    responses((status = 201, description = "The report of the run just made", body = super::Report)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn run(
    caller: Caller,
    context: RequestContext,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::RECONCILE)?;
    let report = super::run_audited(&pool, provider.get_ref(), &caller.user_id, &context).await?;
    Ok(HttpResponse::Created().json(report))
}
