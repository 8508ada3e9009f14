//! Staff's view of the outbox: what was sent to whom, and what is stuck.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Caller, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::query;
use crate::http::routes::{resource, Api};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/emails").get(list_emails))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list_emails),
    tags((name = "emails", description = "The outbox"))
)]
struct Doc;

/// `{data: [email…]}`, newest first.
#[derive(Serialize, ToSchema)]
struct EmailList {
    data: Vec<super::EmailView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The recipient's address.
    to: Option<String>,
    /// `queued`, `sent` or `withdrawn`.
    status: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
}

/// `GET /v1/emails?to=&status=queued|sent|withdrawn&limit=`: operators and support
/// (support answers "did the buyer get the confirmation?"), newest first.
#[utoipa::path(get, path = "/v1/emails", tag = "emails",
    params(ListQuery),
    responses((status = 200, body = EmailList)),
    extensions(("x-roles" = json!(["support", "operator"]))))]
async fn list_emails(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Support])?;
    let query = query.into_inner();
    let status = query::one_of(
        "status",
        query.status.as_deref(),
        &["queued", "sent", "withdrawn"],
    )?
    .map(str::to_owned);
    let limit = query::limit(query.limit, 50, super::EMAILS_PAGE_MAX)?;
    let to = query.to.map(|to| to.trim().to_ascii_lowercase());
    let data = db::run(&pool, move |conn| {
        super::list(conn, to.as_deref(), status.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(EmailList { data }))
}
