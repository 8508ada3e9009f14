//! Reconciliation reports: finance reads them and may start a run.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{record_audit, AuditEntry, Caller, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::payments::Provider;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/reconciliation/reports")
            .get(list)
            .post(run),
    )
    .service(web::resource("/v1/reconciliation/reports/{id}").get(get));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
}

async fn list(
    caller: Caller,
    query: web::Query<PageQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let limit = query::limit(query.limit, 20, super::REPORTS_PAGE_MAX)?;
    let data = db::run(&pool, move |conn| super::list(conn, limit)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

async fn get(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let id = path.into_inner();
    let report = db::run(&pool, move |conn| super::get(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Runs a reconciliation now (it reads every account's transactions at the
/// provider: seconds for a day's activity).
async fn run(
    caller: Caller,
    context: RequestContext,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let report = super::run(&pool, provider.get_ref()).await?;
    let (actor, id, differences) = (
        caller.user_id.clone(),
        report.id.clone(),
        report.differences.len(),
    );
    db::run(&pool, move |conn| {
        record_audit(
            conn,
            AuditEntry::new("reconciliation.run", &id)
                .actor(&actor)
                .context(&context)
                .after(serde_json::json!({"differences": differences})),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(report))
}
