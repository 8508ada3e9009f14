//! Webhook endpoints, their deliveries and the delivery log.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::delivery::{self, DeliveryView, ResolveError};
use super::endpoints::{self, Actor, EndpointChange, EndpointView, EndpointWithSecret, SecretKeys};
use crate::auth::{policy, Caller, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::query;
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

/// Mounts the endpoints' routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(
        resource("/v1/webhook_endpoints")
            .post(create_endpoint)
            .get(list_endpoints),
    )
    .service(
        resource("/v1/webhook_endpoints/{id}")
            .get(get_endpoint)
            .patch(update_endpoint)
            .delete(delete_endpoint),
    )
    .service(resource("/v1/webhook_endpoints/{id}/rotate_secret").post(rotate_secret))
    .service(resource("/v1/webhook_endpoints/{id}/test").post(send_test))
    .service(resource("/v1/webhook_endpoints/{id}/deliveries").get(list_deliveries))
    .service(resource("/v1/webhook_endpoints/{id}/replay").post(replay))
    .service(resource("/v1/webhook_deliveries/{id}/redeliver").post(redeliver))
    .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_endpoint,
        list_endpoints,
        get_endpoint,
        update_endpoint,
        delete_endpoint,
        rotate_secret,
        send_test,
        list_deliveries,
        replay,
        redeliver
    ),
    tags((name = "webhook_endpoints", description = "Signed outgoing webhooks (Standard Webhooks): endpoints, deliveries, the delivery log"))
)]
struct Doc;

fn actor(caller: &Caller, context: RequestContext) -> Actor {
    Actor {
        user_id: caller.user_id.clone(),
        operator: caller.is(Role::Operator),
        context,
    }
}

/// Checks a URL's form, then that its name resolves to allowed addresses
/// only (deliveries check again, at every attempt).
async fn checked_url(raw: &str, settings: &Settings) -> Result<url::Url, AppError> {
    let allow_private = settings.outgoing_webhooks.allow_private_addresses;
    let url = endpoints::check_url(raw, allow_private)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        match delivery::resolve_checked(name, port, allow_private).await {
            Ok(_) => {}
            Err(ResolveError::Refused) => {
                return Err(AppError::unprocessable(
                    "refused_address",
                    format!("{name} resolves to a private, loopback or reserved address; webhooks go to public addresses only"),
                    Some("url".to_owned()),
                ))
            }
            Err(ResolveError::Unresolved) => {
                return Err(AppError::unprocessable(
                    "invalid_url",
                    format!("{name} does not resolve"),
                    Some("url".to_owned()),
                ))
            }
        }
    }
    Ok(url)
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// https (public addresses only).
    url: String,
    /// The shop whose events it receives: required for sellers (one of
    /// theirs); operators omit it for a platform-wide endpoint.
    shop_id: Option<String>,
    /// Plain text, at most 500 characters.
    description: Option<String>,
    /// Event type filters (`order.*`, `payout.paid`, `*`); omitted or empty: every type.
    types: Option<Vec<String>>,
    /// Default true.
    enabled: Option<bool>,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    url: Option<String>,
    description: Option<String>,
    types: Option<Vec<String>>,
    /// true enables a disabled endpoint again (it receives events from now on).
    enabled: Option<bool>,
}

/// `{data: [endpoint…]}`.
#[derive(Serialize, ToSchema)]
struct EndpointList {
    data: Vec<EndpointView>,
}

/// `{data: [delivery…]}`.
#[derive(Serialize, ToSchema)]
struct DeliveryList {
    data: Vec<DeliveryView>,
}

/// The period to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// RFC 3339: events that occurred at or after it.
    from: String,
    /// RFC 3339: events that occurred at or before it.
    to: String,
}

/// How many events were queued again.
#[derive(Serialize, ToSchema)]
struct Replayed {
    queued: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this shop's endpoints.
    shop_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// `pending`, `delivered` or `failed`; default all.
    status: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
}

/// `POST /v1/webhook_endpoints`.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "webhook_endpoints",
    description = "Registers an endpoint. A seller's receives one of its shops' events (in that shop's view); an operator's without `shop_id` every event. It receives events committed from now on. The answer is the only time `secret` is shown.",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The endpoint and its secret", body = EndpointWithSecret),
        (status = 404, description = "No such shop among the caller's", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `refused_address`, `invalid_value`, `missing_field` (`shop_id`), `too_many_endpoints`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn create_endpoint(
    caller: Caller,
    context: RequestContext,
    body: JsonBody<CreateRequest>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let body = body.into_inner()?;
    let url = checked_url(&body.url, &settings).await?;
    let actor = actor(&caller, context);
    let auth = settings.auth.clone();
    let change = EndpointChange {
        url: None,
        description: body.description,
        types: body.types,
        enabled: body.enabled,
    };
    let created = db::run(&pool, move |conn| {
        let keys = SecretKeys::load(conn, &auth)?;
        endpoints::create(conn, &keys, &actor, body.shop_id.as_deref(), &url, &change)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /v1/webhook_endpoints`.
#[utoipa::path(get, path = "/v1/webhook_endpoints", tag = "webhook_endpoints",
    description = "A seller's endpoints (of its shops); every endpoint for operators. Newest first.",
    params(ListQuery),
    responses(
        (status = 200, body = EndpointList),
        (status = 404, description = "`shop_id` names no shop of the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn list_endpoints(
    caller: Caller,
    context: RequestContext,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let shop_id = query.into_inner().shop_id;
    let data = db::run(&pool, move |conn| {
        endpoints::list(conn, &actor, shop_id.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(EndpointList { data }))
}

/// `GET /v1/webhook_endpoints/{id}`.
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}", tag = "webhook_endpoints",
    params(("id" = String, Path, description = "The endpoint's id (`we_…`)")),
    responses(
        (status = 200, body = EndpointView),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn get_endpoint(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        endpoints::endpoint_for(conn, &actor, &id)?.view()
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /v1/webhook_endpoints/{id}`.
#[utoipa::path(patch, path = "/v1/webhook_endpoints/{id}", tag = "webhook_endpoints",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The endpoint after the change", body = EndpointView),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `refused_address`, `invalid_value`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn update_endpoint(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<UpdateRequest>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let body = body.into_inner()?;
    let url = match &body.url {
        Some(raw) => Some(checked_url(raw, &settings).await?),
        None => None,
    };
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let change = EndpointChange {
        url: None,
        description: body.description,
        types: body.types,
        enabled: body.enabled,
    };
    let view = db::run(&pool, move |conn| {
        endpoints::update(conn, &actor, &id, url.as_ref(), &change)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `DELETE /v1/webhook_endpoints/{id}`.
#[utoipa::path(delete, path = "/v1/webhook_endpoints/{id}", tag = "webhook_endpoints",
    description = "Deletes the endpoint with its deliveries and their log.",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn delete_endpoint(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    db::run(&pool, move |conn| endpoints::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret`.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhook_endpoints",
    description = "A new secret, shown this once; the previous one keeps signing too (a second signature in `webhook-signature`) for `outgoing_webhooks.secret_grace_hours`.",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = EndpointWithSecret),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn rotate_secret(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let auth = settings.auth.clone();
    let grace = settings.outgoing_webhooks.secret_grace;
    let rotated = db::run(&pool, move |conn| {
        let keys = SecretKeys::load(conn, &auth)?;
        endpoints::rotate_secret(conn, &keys, &actor, &id, grace)
    })
    .await?;
    Ok(HttpResponse::Ok().json(rotated))
}

/// `POST /v1/webhook_endpoints/{id}/test`.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/test", tag = "webhook_endpoints",
    description = "Sends a `webhook_endpoint.test` event to this endpoint only (never in the feed); its delivery shows in the log like any other.",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "The delivery, queued", body = DeliveryView),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
        (status = 409, description = "`endpoint_disabled`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn send_test(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let queued = db::run(&pool, move |conn| delivery::send_test(conn, &actor, &id)).await?;
    Ok(HttpResponse::Accepted().json(queued))
}

/// `GET /v1/webhook_endpoints/{id}/deliveries`.
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}/deliveries", tag = "webhook_endpoints",
    description = "The delivery log: the endpoint's deliveries, newest first, each with every attempt (status, latency, error kind, the answer's first bytes).",
    params(("id" = String, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = 200, body = DeliveryList),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn list_deliveries(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let status = query::one_of(
        "status",
        query.status.as_deref(),
        &["pending", "delivered", "failed"],
    )?
    .map(str::to_owned);
    let limit = query::limit(query.limit, 50, delivery::DELIVERIES_PAGE_MAX)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let data = db::run(&pool, move |conn| {
        delivery::deliveries(conn, &actor, &id, status.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DeliveryList { data }))
}

/// `POST /v1/webhook_endpoints/{id}/replay`.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/replay", tag = "webhook_endpoints",
    description = "Sends again every event of the period the endpoint received or would have received (its shop's or the platform's, its types), each with its own `webhook-id`; at most 10000.",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "How many events were queued", body = Replayed),
        (status = 404, description = "No such endpoint among the caller's", body = ErrorBody),
        (status = 409, description = "`endpoint_disabled`", body = ErrorBody),
        (status = 422, description = "`invalid_value` (`from`, `to`), `too_many_events`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn replay(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<ReplayRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let body = body.into_inner()?;
    let instant = |param: &str, value: &str| {
        chrono::DateTime::parse_from_rfc3339(value)
            .map(|t| t.naive_utc())
            .map_err(|_| {
                AppError::unprocessable(
                    "invalid_value",
                    format!("{param} is an RFC 3339 timestamp"),
                    Some(param.to_owned()),
                )
            })
    };
    let (from, to) = (instant("from", &body.from)?, instant("to", &body.to)?);
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let queued = db::run(&pool, move |conn| {
        delivery::replay(conn, &actor, &id, from, to)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Replayed { queued }))
}

/// `POST /v1/webhook_deliveries/{id}/redeliver`.
#[utoipa::path(post, path = "/v1/webhook_deliveries/{id}/redeliver", tag = "webhook_endpoints",
    description = "Sends one delivery again (same `webhook-id`), from the start of the retry schedule, whatever it became.",
    params(("id" = String, Path, description = "The delivery's id (`wd_…`)")),
    responses(
        (status = 200, description = "The delivery, pending again", body = DeliveryView),
        (status = 404, description = "No such delivery among the caller's endpoints'", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn redeliver(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::MANAGE_WEBHOOK_ENDPOINTS)?;
    let actor = actor(&caller, context);
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| delivery::redeliver(conn, &actor, &id)).await?;
    Ok(HttpResponse::Ok().json(view))
}
