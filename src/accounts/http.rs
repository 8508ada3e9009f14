//! `POST /v1/me/deletion`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::AccountDeleted;
use crate::auth::{Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::rate_limit::RateLimits;
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

/// Mounts the endpoint.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/me/deletion").post(delete_account))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(paths(delete_account))]
struct Doc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeletionRequest {
    /// The account's password, to confirm.
    password: String,
}

#[utoipa::path(post, path = "/v1/me/deletion", tag = "auth",
    request_body = DeletionRequest,
    responses(
        (status = 200, description = "The account is deleted: signed out everywhere, its personal data removed from its orders and emails, the orders kept", body = AccountDeleted),
        (status = 403, description = "`account_not_deletable`: only buyers delete their own account (sellers' shops and staff need theirs)", body = ErrorBody),
        (status = 409, description = "`account_busy`: an order awaits payment or delivery, or a return is under way", body = ErrorBody),
        (status = 422, description = "`current_password_incorrect`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "operator", "finance", "support"]))))]
async fn delete_account(
    caller: Caller,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    context: RequestContext,
    body: JsonBody<DeletionRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner()?;
    let _check = limits.sign_in_attempt(context.ip.as_deref()).await?;
    let deleted = db::run(&pool, move |conn| {
        super::delete_buyer_account(conn, &caller, &body.password, &context, db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(deleted))
}
