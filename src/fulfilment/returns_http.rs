//! Returns endpoints: thin handlers over [`super::returns`].

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::actor_of;
use super::returns::{
    self, ApproveRequest, ReceiveRequest, RefuseRequest, ReturnFilter, ReturnRequest, ReturnStatus,
    ReturnView, TrackingRequest, RETURNS_PAGE_MAX,
};
use crate::auth::{Caller, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::{query, JsonBody};
use crate::payments::{Clock, Provider};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(
        resource("/v1/orders/{id}/returns")
            .post(post_return)
            .get(order_returns),
    )
    .service(resource("/v1/returns").get(list_returns))
    .service(resource("/v1/returns/{id}").get(get_return))
    .service(resource("/v1/returns/{id}/approve").post(approve))
    .service(resource("/v1/returns/{id}/refuse").post(refuse))
    .service(resource("/v1/returns/{id}/tracking").post(tracking))
    .service(resource("/v1/returns/{id}/receive").post(receive))
    .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(paths(
    post_return,
    order_returns,
    list_returns,
    get_return,
    approve,
    refuse,
    tracking,
    receive
))]
struct Doc;

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(bound = "T: ToSchema")]
struct DataList<T> {
    data: Vec<T>,
}

/// `POST /v1/orders/{id}/returns` (header `Idempotency-Key`, required).
#[utoipa::path(post, path = "/v1/orders/{id}/returns", tag = "fulfilment",
    description = "The order's buyer (or staff on their behalf) asks to send delivered units of one part back. Nothing is written when a check fails.",
    params(("id" = String, Path, description = "The order's id"), ("Idempotency-Key" = String, Header, description = "Required; a retry with the same key and body answers the same return")),
    request_body = ReturnRequest,
    responses(
        (status = 201, description = "The return, `requested`", body = ReturnView, headers(("Location" = String), ("Idempotent-Replayed" = String))),
        (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`, or a malformed body", body = ErrorBody),
        (status = 409, description = "`not_delivered`, `returns_not_accepted` (the shop's window is 0 days), `return_window_closed`, `order_disputed`, `idempotency_key_reused`", body = ErrorBody),
        (status = 422, description = "`invalid_value` (`reason`, `lines`…), `unknown_line`, `unknown_part`, `return_lines_span_parts`, `return_exceeds_delivered`; `param` names the field", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "support", "operator"]))))]
async fn post_return(
    req: HttpRequest,
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<ReturnRequest>,
    pool: web::Data<DbPool>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Support])?;
    let request = body.into_inner()?;
    let key = crate::http::idempotency_key_of(&req)?;
    let request = request.parse()?;
    let actor = actor_of(&pool, caller, context).await?;
    let (order_id, now) = (path.into_inner(), clock.now());
    let outcome = db::run(&pool, move |conn| {
        returns::request_return(conn, &order_id, &actor, &key, &request, now)
    })
    .await?;
    let mut response = HttpResponse::Created();
    response.insert_header(("Location", format!("/v1/returns/{}", outcome.view.id)));
    if outcome.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(outcome.view))
}

/// `GET /v1/orders/{id}/returns`: the order's returns, oldest first.
#[utoipa::path(get, path = "/v1/orders/{id}/returns", tag = "fulfilment",
    description = "All of them for the order's buyer and staff; a seller's own part's.",
    params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, body = DataList<ReturnView>)),
    extensions(("x-roles" = json!(["buyer", "seller", "finance", "support", "operator"]))))]
async fn order_returns(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Finance, Role::Support])?;
    let actor = actor_of(&pool, caller, context).await?;
    let order_id = path.into_inner();
    let data = db::run(&pool, move |conn| {
        returns::returns_of_order_for(conn, &order_id, &actor)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DataList { data }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `requested`, `approved`, `refused`, `shipped_back` or `received`.
    status: Option<String>,
    /// Returns of this shop's parts (a seller: one of its own shops).
    shop_id: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// RFC 3339: only returns created before this instant (the last one seen).
    created_before: Option<String>,
}

/// `GET /v1/returns`: returns newest first — every one for staff, a seller's
/// shops', a buyer's orders'.
#[utoipa::path(get, path = "/v1/returns", tag = "fulfilment",
    params(ListQuery),
    responses((status = 200, body = DataList<ReturnView>), (status = 404, description = "`not_found`: `shop_id` names no shop the caller may see", body = ErrorBody)),
    extensions(("x-roles" = json!(["buyer", "seller", "finance", "support", "operator"]))))]
async fn list_returns(
    caller: Caller,
    context: RequestContext,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Finance, Role::Support])?;
    let names: Vec<&str> = ReturnStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status =
        query::one_of("status", query.status.as_deref(), &names)?.and_then(ReturnStatus::parse);
    let limit = query::limit(query.limit, 20, RETURNS_PAGE_MAX)?;
    let filter = ReturnFilter {
        status,
        shop_id: query.shop_id.clone(),
        created_before: query::instant("created_before", query.created_before.as_deref())?,
    };
    let actor = actor_of(&pool, caller, context).await?;
    let data = db::run(&pool, move |conn| {
        returns::list_returns(conn, &actor, &filter, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DataList { data }))
}

#[utoipa::path(get, path = "/v1/returns/{id}", tag = "fulfilment",
    description = "For the order's buyer, the part's seller and staff.",
    params(("id" = String, Path, description = "The return's id (`ret_…`)")),
    responses((status = 200, body = ReturnView)),
    extensions(("x-roles" = json!(["buyer", "seller", "finance", "support", "operator"]))))]
async fn get_return(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Finance, Role::Support])?;
    let actor = actor_of(&pool, caller, context).await?;
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| returns::get_return(conn, &id, &actor)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/returns/{id}/approve`: the seller takes the units back, and
/// tells the buyer where to send them.
#[utoipa::path(post, path = "/v1/returns/{id}/approve", tag = "fulfilment",
    params(("id" = String, Path, description = "The return's id (`ret_…`)")),
    request_body = ApproveRequest,
    responses(
        (status = 200, description = "The return, `approved`", body = ReturnView),
        (status = 409, description = "`return_state`: only a `requested` return is approved; the message names its status", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "support", "operator"]))))]
async fn approve(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<ApproveRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Support])?;
    let address = body.into_inner()?.parse()?;
    let actor = actor_of(&pool, caller, context).await?;
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        returns::approve(conn, &id, &actor, &address)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/returns/{id}/refuse`: the seller says no, and why.
#[utoipa::path(post, path = "/v1/returns/{id}/refuse", tag = "fulfilment",
    params(("id" = String, Path, description = "The return's id (`ret_…`)")),
    request_body = RefuseRequest,
    responses(
        (status = 200, description = "The return, `refused`", body = ReturnView),
        (status = 409, description = "`return_state`: only a `requested` return is refused; the message names its status", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "support", "operator"]))))]
async fn refuse(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<RefuseRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Support])?;
    let reason = body.into_inner()?.parse()?;
    let actor = actor_of(&pool, caller, context).await?;
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        returns::refuse(conn, &id, &actor, &reason)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/returns/{id}/tracking`: the buyer sent the units back; sent
/// again, it corrects the tracking.
#[utoipa::path(post, path = "/v1/returns/{id}/tracking", tag = "fulfilment",
    params(("id" = String, Path, description = "The return's id (`ret_…`)")),
    request_body = TrackingRequest,
    responses(
        (status = 200, description = "The return, `shipped_back`", body = ReturnView),
        (status = 409, description = "`return_state`: tracking follows approval; the message names the return's status", body = ErrorBody),
        (status = 422, description = "`invalid_value` (`carrier`, `tracking_number`) or `invalid_tracking_url`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "support", "operator"]))))]
async fn tracking(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<TrackingRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Support])?;
    let tracking = body.into_inner()?.parse()?;
    let actor = actor_of(&pool, caller, context).await?;
    let id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        returns::add_tracking(conn, &id, &actor, &tracking)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/returns/{id}/receive`: the units are back; the buyer is
/// refunded through the refund path, once.
#[utoipa::path(post, path = "/v1/returns/{id}/receive", tag = "fulfilment",
    description = "Refunds the return's lines at their unit prices, plus what is left of the part's shipping when the shop's return policy refunds shipping, under the key `return:{id}`. A provider that cannot be reached leaves the refund `pending` (sent later); the return is received either way.",
    params(("id" = String, Path, description = "The return's id (`ret_…`)")),
    request_body = ReceiveRequest,
    responses(
        (status = 200, description = "The return, `received`, with its refund", body = ReturnView),
        (status = 409, description = "`return_state` (not approved yet, or already received: never refunded twice), `order_disputed`", body = ErrorBody),
        (status = 422, description = "`refund_exceeds_remaining`: the units were refunded otherwise meanwhile", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "support", "operator"]))))]
async fn receive(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<ReceiveRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Support])?;
    let restock = body.into_inner()?.restock;
    let actor = actor_of(&pool, caller, context).await?;
    let view = returns::receive(
        &pool,
        provider.get_ref(),
        &path.into_inner(),
        actor,
        restock,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
