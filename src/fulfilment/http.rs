//! Shipment, delivery, cancellation and late-part endpoints: thin handlers
//! over [`super::shipments`], [`super::cancel`] and the late-part report.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::actor_of;
use super::cancel::{self, CancelRequest};
use super::shipments::{self, ShipRequest, ShipmentView};
use crate::auth::{Caller, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;
use crate::payments::{Clock, Provider};

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/orders/{id}/parts/{part_id}/shipments").post(post_shipment))
        .service(resource("/v1/orders/{id}/parts/{part_id}/delivered").post(post_delivered))
        .service(resource("/v1/orders/{id}/parts/{part_id}/cancel").post(post_cancel))
        .service(resource("/v1/orders/{id}/shipments").get(list_shipments))
        .service(resource("/v1/reports/late_parts").get(late_parts))
        .describe(Doc::openapi());
    super::returns_http::routes(api);
}

#[derive(OpenApi)]
#[openapi(
    paths(post_shipment, post_delivered, post_cancel, list_shipments, late_parts),
    tags((name = "fulfilment", description = "Shipments, delivery, cancellations and returns of each seller's part"))
)]
struct Doc;

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(bound = "T: ToSchema")]
struct DataList<T> {
    data: Vec<T>,
}

/// `POST /v1/orders/{id}/parts/{part_id}/shipments`: one parcel of the part,
/// with some units (`lines`) or every unit not shipped yet.
#[utoipa::path(post, path = "/v1/orders/{id}/parts/{part_id}/shipments", tag = "fulfilment",
    params(("id" = String, Path, description = "The order's id"), ("part_id" = String, Path, description = "The shop's part of it")),
    request_body = ShipRequest,
    responses((status = 201, body = ShipmentView)),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn post_shipment(
    caller: Caller,
    context: RequestContext,
    path: web::Path<(String, String)>,
    body: JsonBody<ShipRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let request = body.into_inner()?;
    let actor = actor_of(&pool, caller, context).await?;
    let (order_id, part_id) = path.into_inner();
    let shipment = shipments::ship_and_settle(
        &pool,
        provider.get_ref(),
        &order_id,
        &part_id,
        actor,
        request,
        clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(shipment))
}

/// `POST /v1/orders/{id}/parts/{part_id}/delivered`: the parcels on their
/// way arrived — said by the seller, the buyer ("I received it") or support.
#[utoipa::path(post, path = "/v1/orders/{id}/parts/{part_id}/delivered", tag = "fulfilment",
    params(("id" = String, Path, description = "The order's id"), ("part_id" = String, Path, description = "The shop's part of it")),
    responses((status = 200, description = "The part's parcels, delivered", body = DataList<ShipmentView>)),
    extensions(("x-roles" = json!(["buyer", "seller", "support", "operator"]))))]
async fn post_delivered(
    caller: Caller,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Support])?;
    let actor = actor_of(&pool, caller, context).await?;
    let (order_id, part_id) = path.into_inner();
    let data = shipments::deliver_and_settle(
        &pool,
        provider.get_ref(),
        &order_id,
        &part_id,
        actor,
        clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(DataList::<ShipmentView> { data }))
}

/// `POST /v1/orders/{id}/parts/{part_id}/cancel`: cancels a part nothing of
/// which shipped — the seller any time, the buyer once it is late — and
/// refunds the buyer everything left of it, shipping included.
#[utoipa::path(post, path = "/v1/orders/{id}/parts/{part_id}/cancel", tag = "fulfilment",
    params(("id" = String, Path, description = "The order's id"), ("part_id" = String, Path, description = "The shop's part of it")),
    request_body = CancelRequest,
    responses(
        (status = 200, description = "Cancelled; the refund (`pending` while the provider is unreachable), or null when nothing was left to refund", body = Option<crate::orders::model::RefundView>),
    ),
    extensions(("x-roles" = json!(["buyer", "seller", "support", "operator"]))))]
async fn post_cancel(
    caller: Caller,
    context: RequestContext,
    path: web::Path<(String, String)>,
    body: JsonBody<CancelRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Support])?;
    let request = body.into_inner()?;
    let actor = actor_of(&pool, caller, context).await?;
    let (order_id, part_id) = path.into_inner();
    let refund = cancel::cancel_part(
        &pool,
        provider.get_ref(),
        &order_id,
        &part_id,
        actor,
        request,
        clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(refund))
}

/// `GET /v1/orders/{id}/shipments`: the order's parcels — all for its buyer
/// and staff, its own part's for a seller.
#[utoipa::path(get, path = "/v1/orders/{id}/shipments", tag = "fulfilment",
    params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, body = DataList<ShipmentView>)),
    extensions(("x-roles" = json!(["buyer", "seller", "finance", "support", "operator"]))))]
async fn list_shipments(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer, Role::Seller, Role::Finance, Role::Support])?;
    let actor = actor_of(&pool, caller, context).await?;
    let order_id = path.into_inner();
    let data = db::run(&pool, move |conn| {
        shipments::shipments_of_order(conn, &order_id, &actor)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DataList { data }))
}

/// A part past its ship-by date with units unshipped.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatePart {
    pub order_id: String,
    pub part_id: String,
    pub shop_id: String,
    /// `unfulfilled` or `partially_shipped`.
    pub fulfilment_status: String,
    pub ship_by: String,
    /// Whole days past the ship-by date.
    pub days_late: i64,
}

/// Every late part at `now`, the longest overdue first.
fn late_parts_at(
    conn: &mut db::DbConnection,
    now: NaiveDateTime,
) -> Result<Vec<LatePart>, AppError> {
    use crate::orders::schema::{order_parts, orders};
    let rows: Vec<(String, String, String, String, Option<NaiveDateTime>)> = order_parts::table
        .inner_join(orders::table)
        .filter(orders::status.eq(crate::orders::OrderStatus::Paid.as_str()))
        .filter(order_parts::fulfilment_status.eq_any(["unfulfilled", "partially_shipped"]))
        .filter(order_parts::ship_by.lt(now))
        .order(order_parts::ship_by.asc())
        .limit(1000)
        .select((
            order_parts::order_id,
            order_parts::id,
            order_parts::shop_id,
            order_parts::fulfilment_status,
            order_parts::ship_by,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(order_id, part_id, shop_id, fulfilment_status, ship_by)| {
            let ship_by = ship_by?;
            Some(LatePart {
                order_id,
                part_id,
                shop_id,
                fulfilment_status,
                ship_by: db::rfc3339(ship_by),
                days_late: (now - ship_by).num_days(),
            })
        })
        .collect())
}

/// `GET /v1/reports/late_parts`: parts past their ship-by date with units
/// unshipped, longest overdue first (at most 1,000).
#[utoipa::path(get, path = "/v1/reports/late_parts", tag = "fulfilment",
    responses((status = 200, body = DataList<LatePart>)),
    extensions(("x-roles" = json!(["support", "finance", "operator"]))))]
async fn late_parts(
    caller: Caller,
    pool: web::Data<DbPool>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Support, Role::Finance])?;
    let now = clock.now();
    let data = db::run(&pool, move |conn| late_parts_at(conn, now)).await?;
    Ok(HttpResponse::Ok().json(DataList { data }))
}
