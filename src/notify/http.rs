//! Staff's view of the outbox: what was sent to whom, and what is stuck.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::query;
use crate::http::routes::{resource, Api};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/emails").get(list_emails))
        .service(resource("/v1/emails/replay").post(replay_dead))
        .service(resource("/v1/emails/{id}/replay").post(replay_email))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list_emails, replay_dead, replay_email),
    tags((name = "emails", description = "The outbox: what was sent, and dead letters replayed"))
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
    /// `queued`, `sent`, `withdrawn`, or `dead` (queued, its sending job out
    /// of retries).
    status: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
}

/// `GET /v1/emails?to=&status=queued|sent|withdrawn|dead&limit=`: operators and support
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
    caller.require(policy::READ_EMAILS)?;
    let query = query.into_inner();
    let status = query::one_of(
        "status",
        query.status.as_deref(),
        &["queued", "sent", "withdrawn", "dead"],
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

/// The emails sent again; `has_more` when more dead ones remain.
#[derive(Serialize, ToSchema)]
struct Replayed {
    data: Vec<super::EmailView>,
    has_more: bool,
}

/// `POST /v1/emails/replay`: every dead email sent again (at most
/// `EMAILS_PAGE_MAX` per call; repeat for more); operators; one
/// `email.replay` audit row each.
#[utoipa::path(post, path = "/v1/emails/replay", tag = "emails",
    responses((status = 200, body = Replayed)),
    extensions(("x-roles" = json!(["operator"]))))]
async fn replay_dead(
    caller: Caller,
    context: RequestContext,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::REPLAY_JOBS)?;
    let actor = caller.user_id.clone();
    let (data, has_more) = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| super::replay_all_dead(conn, &actor, &context))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Replayed { data, has_more }))
}

/// `POST /v1/emails/{id}/replay`: a dead email's job back in the queue
/// with its attempts reset; operators; audited (`email.replay`).
#[utoipa::path(post, path = "/v1/emails/{id}/replay", tag = "emails",
    params(("id" = String, Path, description = "The email's id (`eml_…`)")),
    responses(
        (status = 200, description = "The email, its job queued again", body = super::EmailView),
        (status = 404, description = "No such email", body = ErrorBody),
        (status = 409, description = "`email_not_dead`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn replay_email(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::REPLAY_JOBS)?;
    let id = path.into_inner();
    let actor = caller.user_id.clone();
    let email = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            super::replay_audited(conn, &id, &actor, &context)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(email))
}
