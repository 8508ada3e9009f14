//! Staff's view of the outbox: what was sent to whom, and what is stuck.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{Caller, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/emails").get(list_emails));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    to: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/emails?to=&status=queued|sent&limit=`: operators and support
/// (support answers "did the buyer get the confirmation?"), newest first.
async fn list_emails(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Support])?;
    let query = query.into_inner();
    let status =
        query::one_of("status", query.status.as_deref(), &["queued", "sent"])?.map(str::to_owned);
    let limit = query::limit(query.limit, 50, super::EMAILS_PAGE_MAX)?;
    let to = query.to.map(|to| to.trim().to_ascii_lowercase());
    let data = db::run(&pool, move |conn| {
        super::list(conn, to.as_deref(), status.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}
