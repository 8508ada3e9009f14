//! Cart, checkout, order, refund and dispute endpoints: thin handlers over the
//! domain functions of this module.

use crate::auth::policy;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::cart::CartView;
use super::model::{
    BuyerOrderView, CheckoutRequest, OrderStatus, OrderView, RefundRequest, RefundView,
    SellerOrderView,
};
use super::refunds::{self, Refunder};
use super::store::{self, ORDERS_PAGE_MAX};
use super::{cart, checkout};
use crate::auth::{Caller, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::{csv, query, JsonBody};
use crate::payments::Provider;
use crate::sellers::shops;

/// Mounts the routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/cart").get(get_cart).delete(clear_cart))
        .service(resource("/v1/cart/lines").post(add_line))
        .service(
            resource("/v1/cart/lines/{id}")
                .patch(set_quantity)
                .delete(remove_line),
        )
        .service(resource("/v1/checkout").post(post_checkout))
        .service(resource("/v1/orders").get(list_orders))
        .service(resource("/v1/orders/{id}").get(get_order))
        .service(resource("/v1/orders/{id}/sync").post(sync_order))
        .service(resource("/v1/orders/{id}/pay").post(pay_order))
        .service(resource("/v1/orders/{id}/refunds").post(post_refund))
        .service(resource("/v1/shops/{id}/orders").get(shop_orders))
        .service(resource("/v1/disputes/{id}/sync").post(sync_dispute))
        .service(resource("/v1/orders/{id}/ledger").get(order_ledger))
        .service(resource("/v1/reports/fee-revenue").get(fee_revenue))
        .service(resource("/v1/exports/orders.csv").get(export_orders))
        .service(resource("/v1/exports/fees.csv").get(export_fees))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(pay_order,
        get_cart,
        clear_cart,
        add_line,
        set_quantity,
        remove_line,
        post_checkout,
        list_orders,
        get_order,
        sync_order,
        post_refund,
        shop_orders,
        sync_dispute,
        order_ledger,
        fee_revenue,
        export_orders,
        export_fees
    ),
    tags((name = "orders", description = "Carts, checkout, orders, refunds, disputes and their reports"))
)]
struct Doc;

/// `{data: [...]}`: one page, newest first.
#[derive(Serialize, ToSchema)]
#[schema(bound = "T: ToSchema")]
struct DataList<T> {
    data: Vec<T>,
}

/// A dispute was read at the provider and applied.
#[derive(Serialize, ToSchema)]
struct DisputeSynced {
    dispute: String,
    applied: bool,
}

/// An order's ledger postings and the platform's P&L on it, per currency.
#[derive(Serialize, ToSchema)]
struct OrderLedger {
    postings: Vec<crate::ledger::PostingView>,
    pnl: Vec<crate::ledger::reports::ProfitAndLoss>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddLineRequest {
    product_id: String,
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QuantityRequest {
    quantity: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `awaiting_payment`, `paid`, `expired` or `canceled`.
    status: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// RFC 3339: only orders created before this instant (the last one seen).
    created_before: Option<String>,
    /// RFC 3339: only orders created at or after this instant.
    created_after: Option<String>,
    /// Staff: the buyer's email.
    buyer_email: Option<String>,
    /// Staff: orders with a part of this shop.
    shop_id: Option<String>,
    /// Staff: orders with a part of a shop whose name contains this
    /// (case-insensitive).
    shop_name: Option<String>,
    /// Staff: `true` for only the orders with a part whose transfer to its
    /// shop is held (frozen, restricted or refused shop).
    held: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ShopOrdersQuery {
    /// Only parts whose parcels stand so: `unfulfilled`, `partially_shipped`,
    /// `shipped`, `delivered` or `canceled`.
    fulfilment_status: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// RFC 3339: only parts created before this instant (the last one seen).
    created_before: Option<String>,
}

fn parse_list_query(
    list: &ListQuery,
) -> Result<(Option<OrderStatus>, Option<chrono::NaiveDateTime>, i64), AppError> {
    let status = list
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    "status is awaiting_payment, paid, expired or canceled",
                    Some("status".into()),
                )
            })
        })
        .transpose()?;
    let before = query::instant("created_before", list.created_before.as_deref())?;
    let limit = query::limit(list.limit, 20, ORDERS_PAGE_MAX)?;
    Ok((status, before, limit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CartQuery {
    /// ISO 3166-1 alpha-2: also show what shipping there costs, shop by shop.
    country: Option<String>,
}

#[utoipa::path(get, path = "/v1/cart", tag = "orders",
    params(CartQuery),
    responses(
        (status = 200, description = "With `country`, `shipping` says what each shop charges to ship there (or that it cannot) and the totals with shipping", body = CartView),
        (status = 400, description = "`invalid_query`: `country` is not a two-letter code", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn get_cart(
    caller: Caller,
    query: web::Query<CartQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let country = query
        .into_inner()
        .country
        .map(|value| {
            crate::shipping::model::parse_country(&value).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    "country is an ISO 3166-1 alpha-2 code such as FR",
                    Some("country".into()),
                )
            })
        })
        .transpose()?;
    let buyer = caller.user_id.0;
    let view = db::run(&pool, move |conn| {
        let view = cart::cart(conn, &buyer)?;
        match country {
            Some(country) => cart::with_shipping(conn, view, &country),
            None => Ok(view),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/v1/cart", tag = "orders",
    responses((status = 200, description = "The empty cart", body = CartView)),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn clear_cart(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let buyer = caller.user_id.0;
    let view = db::run(&pool, move |conn| cart::clear(conn, &buyer)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/v1/cart/lines", tag = "orders",
    request_body = AddLineRequest,
    responses((status = 200, body = CartView)),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn add_line(
    caller: Caller,
    body: JsonBody<AddLineRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let body = body.into_inner()?;
    let buyer = caller.user_id.0;
    let view = db::run(&pool, move |conn| {
        cart::add_line(conn, &buyer, &body.product_id, body.quantity)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(patch, path = "/v1/cart/lines/{id}", tag = "orders",
    params(("id" = String, Path, description = "The cart line's id")),
    request_body = QuantityRequest,
    responses((status = 200, body = CartView)),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn set_quantity(
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<QuantityRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let quantity = body.into_inner()?.quantity;
    let (buyer, line) = (caller.user_id.0, path.into_inner());
    let view = db::run(&pool, move |conn| {
        cart::set_quantity(conn, &buyer, &line, quantity)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/v1/cart/lines/{id}", tag = "orders",
    params(("id" = String, Path, description = "The cart line's id")),
    responses((status = 200, body = CartView)),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn remove_line(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let (buyer, line) = (caller.user_id.0, path.into_inner());
    let view = db::run(&pool, move |conn| cart::remove_line(conn, &buyer, &line)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/checkout` (header `Idempotency-Key`, required).
#[utoipa::path(post, path = "/v1/checkout", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "Required; a retry with the same key and body replays the first answer")),
    request_body = CheckoutRequest,
    responses(
        (status = 201, description = "The order, awaiting payment or paid (staff get every field of OrderView)", body = BuyerOrderView, headers(("Location" = String), ("Idempotent-Replayed" = String))),
        (status = 400, description = "`idempotency_key_missing` or `idempotency_key_invalid`, or a malformed body", body = ErrorBody),
        (status = 402, description = "`card_declined`", body = ErrorBody),
        (status = 409, description = "`out_of_stock`, `idempotency_key_reused`, `cart_empty`, `price_changed` (the total differs from `expected_total_minor`)…", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn post_checkout(
    req: HttpRequest,
    caller: Caller,
    body: JsonBody<CheckoutRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let request = body.into_inner()?;
    limits.checkout.take(&caller.user_id.0).await?;
    let key = crate::http::idempotency_key_of(&req)?;
    let request = request.parse()?;
    let buyer = checkout::Buyer {
        user_id: caller.user_id.0,
        email: caller.email,
    };
    let outcome = checkout::checkout(
        &pool,
        provider.get_ref(),
        &settings.orders,
        buyer,
        key,
        request,
    )
    .await?;
    let mut response = HttpResponse::Created();
    response.insert_header(("Location", format!("/v1/orders/{}", outcome.order.id)));
    if outcome.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(order_answer(&mut response, outcome.order, &caller.role))
}

/// The order as `role` may see it: whole for staff, without the sellers'
/// money for its buyer.
fn order_answer(
    response: &mut actix_web::HttpResponseBuilder,
    order: OrderView,
    role: &Role,
) -> HttpResponse {
    if role.is_staff() {
        response.json(order)
    } else {
        response.json(BuyerOrderView::from(order))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    /// The payment method to confirm with (`pm_card_visa`, a saved card…).
    payment_method: String,
}

/// `POST /v1/orders/{id}/pay` (header `Idempotency-Key`, required): pays an
/// order awaiting payment, or tries another card after a decline.
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders",
    params(("id" = String, Path, description = "The order's id"), ("Idempotency-Key" = String, Header, description = "Required; one key per attempt: a retry with the same key is the same attempt")),
    request_body = PayRequest,
    responses(
        (status = 200, description = "The order, paid (or still processing)", body = BuyerOrderView),
        (status = 402, description = "`card_declined`: the order still awaits payment", body = ErrorBody),
        (status = 409, description = "`order_not_payable`: expired or cancelled", body = ErrorBody),
        (status = 429, description = "`rate_limited`: `limits.checkout_per_minute` (checkouts and payment attempts together)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["buyer", "operator"]))))]
async fn pay_order(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<PayRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Buyer])?;
    let body = body.into_inner()?;
    limits.checkout.take(&caller.user_id.0).await?;
    let attempt = crate::http::idempotency_key_of(&req)?;
    let payment_method = super::pay::parse_payment_method(&body.payment_method)?;
    let order = super::pay::pay(
        &pool,
        provider.get_ref(),
        &caller.user_id.0,
        &path.into_inner(),
        &payment_method,
        &attempt,
    )
    .await?;
    Ok(HttpResponse::Ok().json(BuyerOrderView::from(order)))
}

#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    description = "A buyer's own orders; staff filter by buyer email, shop (id or name), held transfers, status and period.",
    params(ListQuery),
    responses((status = 200, description = "Buyers get their orders as BuyerOrderView; staff get OrderView, which has every field of it and the sellers' money", body = DataList<BuyerOrderView>)),
    extensions(("x-roles" = json!(["buyer", "finance", "support", "operator"]))))]
async fn list_orders(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_ORDERS)?;
    let (status, before, limit) = parse_list_query(&query)?;
    let query = query.into_inner();
    let filter = store::OrderFilter {
        buyer_user_id: (!caller.role.is_staff()).then_some(caller.user_id.0),
        buyer_email: query.buyer_email,
        shop_id: query.shop_id,
        status,
        created_after: query::instant("created_after", query.created_after.as_deref())?,
        created_before: before,
        shop_name: query.shop_name,
        held: query.held.unwrap_or(false),
        before_order: None,
    };
    let data = db::run(&pool, move |conn| store::list_orders(conn, &filter, limit)).await?;
    if caller.role.is_staff() {
        return Ok(HttpResponse::Ok().json(DataList { data }));
    }
    let data: Vec<BuyerOrderView> = data.into_iter().map(BuyerOrderView::from).collect();
    Ok(HttpResponse::Ok().json(DataList { data }))
}

#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, description = "Its buyer gets BuyerOrderView; staff get OrderView, which has every field of it and the sellers' money", body = BuyerOrderView)),
    extensions(("x-roles" = json!(["buyer", "finance", "support", "operator"]))))]
async fn get_order(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_ORDERS)?;
    let (id, viewer, staff) = (
        path.into_inner(),
        caller.user_id.0.clone(),
        caller.role.is_staff(),
    );
    let view = db::run(&pool, move |conn| {
        store::order_for(conn, &id, &viewer, staff)?.view()
    })
    .await?;
    Ok(order_answer(&mut HttpResponse::Ok(), view, &caller.role))
}

/// `POST /v1/orders/{id}/sync`: reads the PaymentIntent at the provider and
/// applies it (the remedy for a missed webhook), then settles the parts.
#[utoipa::path(post, path = "/v1/orders/{id}/sync", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, description = "Its buyer gets BuyerOrderView; staff get OrderView, which has every field of it and the sellers' money", body = BuyerOrderView), (status = 429, description = "`rate_limited`: `limits.provider_calls_per_minute`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait")))),
    extensions(("x-roles" = json!(["buyer", "support", "operator"]))))]
async fn sync_order(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::SYNC_ORDER)?;
    limits.provider_calls.take(&caller.user_id.0).await?;
    let view = super::sync::sync_order(
        &pool,
        provider.get_ref(),
        &path.into_inner(),
        &caller,
        &context,
    )
    .await?;
    Ok(order_answer(&mut HttpResponse::Ok(), view, &caller.role))
}

/// `POST /v1/orders/{id}/refunds` (header `Idempotency-Key`, required).
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders",
    params(("id" = String, Path, description = "The order's id"), ("Idempotency-Key" = String, Header, description = "Required; a retry with the same key and body replays the first answer")),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "The refund, succeeded", body = RefundView, headers(("Idempotent-Replayed" = String))),
        (status = 202, description = "The refund, pending at the provider", body = RefundView),
        (status = 409, description = "More than is left to refund, order not paid, key reused…", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "support", "operator"]))))]
async fn post_refund(
    req: HttpRequest,
    caller: Caller,
    context: crate::auth::RequestContext,
    path: web::Path<String>,
    body: JsonBody<RefundRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::REFUND)?;
    let request = body.into_inner()?;
    let key = crate::http::idempotency_key_of(&req)?;
    let shops = if caller.is(Role::Seller) {
        let owner = caller.user_id.0.clone();
        let own = db::run(&pool, move |conn| shops::list_shops(conn, Some(&owner))).await?;
        Some(own.into_iter().map(|s| s.id).collect())
    } else {
        None
    };
    let refunder = Refunder {
        user_id: caller.user_id.0,
        shops,
        context,
    };
    let outcome = refunds::refund(
        &pool,
        provider.get_ref(),
        &path.into_inner(),
        refunder,
        key,
        request,
    )
    .await?;
    let mut response = if outcome.refund.status == "pending" {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Created()
    };
    if outcome.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(outcome.refund))
}

/// `GET /v1/shops/{id}/orders`: the shop's parts of orders, for its seller and staff.
#[utoipa::path(get, path = "/v1/shops/{id}/orders", tag = "orders",
    params(("id" = String, Path, description = "The shop's id"), ShopOrdersQuery),
    responses((status = 200, description = "The shop's parts of orders", body = DataList<SellerOrderView>)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn shop_orders(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ShopOrdersQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let status = store::parse_fulfilment_status(
        query.fulfilment_status.as_deref().unwrap_or(""),
        "fulfilment_status",
    )?;
    let before = query::instant("created_before", query.created_before.as_deref())?;
    let limit = query::limit(query.limit, 20, ORDERS_PAGE_MAX)?;
    let (shop_id, staff) = (path.into_inner(), caller.role.is_staff());
    let viewer = caller.user_id.0;
    let data = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &shop_id, &viewer, staff)?;
        store::list_shop_orders(conn, &shop.id, status, before, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DataList { data }))
}

/// `POST /v1/disputes/{id}/sync`: reads the dispute at the provider and applies it.
#[utoipa::path(post, path = "/v1/disputes/{id}/sync", tag = "orders",
    params(("id" = String, Path, description = "The provider's dispute id (`dp_…`)")),
    responses((status = 200, body = DisputeSynced), (status = 429, description = "`rate_limited`: `limits.provider_calls_per_minute`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait")))),
    extensions(("x-roles" = json!(["support", "operator"]))))]
async fn sync_dispute(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::SYNC_DISPUTE)?;
    limits.provider_calls.take(&caller.user_id.0).await?;
    let dispute_id = path.into_inner();
    super::sync::sync_dispute(&pool, provider.get_ref(), &dispute_id, &caller, &context).await?;
    Ok(HttpResponse::Ok().json(DisputeSynced {
        dispute: dispute_id,
        applied: true,
    }))
}

/// `GET /v1/orders/{id}/ledger`: the entries the order's facts posted, and
/// the platform's P&L on the order.
#[utoipa::path(get, path = "/v1/orders/{id}/ledger", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, body = OrderLedger)),
    extensions(("x-roles" = json!(["finance", "support", "operator"]))))]
async fn order_ledger(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_ORDER_LEDGER)?;
    let id = path.into_inner();
    let (postings, pnl) = db::run(&pool, move |conn| {
        let causes = super::reports::ledger_causes(conn, &id)?;
        crate::ledger::reports::entries_with_causes(conn, &causes)
    })
    .await?;
    Ok(HttpResponse::Ok().json(OrderLedger { postings, pnl }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    /// RFC 3339; default: 30 days before `to`.
    from: Option<String>,
    /// RFC 3339, exclusive; default: now.
    to: Option<String>,
    /// Order status (exports of orders only).
    status: Option<String>,
}

/// Longest period a report or export covers.
const PERIOD_DAYS_MAX: i64 = 366;

/// `GET /v1/reports/fee-revenue?from&to`: fees of the orders paid in the
/// period, by shop and by category.
#[utoipa::path(get, path = "/v1/reports/fee-revenue", tag = "orders",
    params(PeriodQuery),
    responses((status = 200, body = super::reports::FeeRevenueReport)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn fee_revenue(
    caller: Caller,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    if query.status.is_some() {
        return Err(AppError::bad_request(
            "invalid_query",
            "fee revenue counts paid orders; status is not a filter here",
            Some("status".into()),
        ));
    }
    let (from, to) = query::period(query.from.as_deref(), query.to.as_deref(), PERIOD_DAYS_MAX)?;
    let report = db::run(&pool, move |conn| {
        super::reports::fee_revenue(conn, from, to)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

const ORDER_COLUMNS: &[&str] = &[
    "order_id",
    "created_at",
    "status",
    "buyer_email",
    "currency",
    "total_minor",
    "processing_fee_minor",
    "refunded_minor",
    "paid_at",
];

/// `GET /v1/exports/orders.csv?from&to&status`: orders created in the period, newest first.
#[utoipa::path(get, path = "/v1/exports/orders.csv", tag = "orders",
    params(PeriodQuery),
    responses((status = 200, description = "RFC 4180, streamed", content_type = "text/csv", body = String, headers(("Content-Disposition" = String)))),
    extensions(("x-roles" = json!(["finance", "support", "operator"]))))]
async fn export_orders(
    caller: Caller,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::EXPORT_ORDERS)?;
    let (status, _, _) = parse_list_query(&ListQuery {
        status: query.status.clone(),
        limit: None,
        created_before: None,
        created_after: None,
        buyer_email: None,
        shop_id: None,
        shop_name: None,
        held: None,
    })?;
    let (from, to) = query::period(query.from.as_deref(), query.to.as_deref(), PERIOD_DAYS_MAX)?;
    Ok(orders_csv_answer(pool.get_ref(), status, from, to))
}

/// The orders created in `[from, to)` (of one status, if given), newest
/// first, as the CSV download, streamed: the API's and the console's.
pub(crate) fn orders_csv_answer(
    pool: &DbPool,
    status: Option<super::OrderStatus>,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> HttpResponse {
    csv::stream(
        pool.clone(),
        "orders.csv",
        ORDER_COLUMNS,
        std::sync::Arc::new(move |conn, cursor| {
            let before = csv::cursor_of(cursor);
            let page = super::reports::orders_page(
                conn,
                status,
                from,
                to,
                before.as_ref(),
                csv::PAGE_ROWS,
            )?;
            let next = page.last().map(|r| csv::cursor_from(r.1, &r.0));
            let rows = page
                .into_iter()
                .map(
                    |(id, created, status, email, currency, total, fee, refunded, paid)| {
                        vec![
                            csv::text(id),
                            csv::instant(Some(created)),
                            csv::text(status),
                            csv::text(email),
                            csv::text(currency),
                            csv::number(total),
                            csv::amount(fee),
                            csv::number(refunded),
                            csv::instant(paid),
                        ]
                    },
                )
                .collect();
            Ok((rows, next))
        }),
    )
}

const FEE_COLUMNS: &[&str] = &[
    "part_id",
    "order_id",
    "shop_id",
    "paid_at",
    "currency",
    "subtotal_minor",
    "platform_fee_minor",
    "processing_fee_minor",
    "seller_amount_minor",
    "fee_rule_version_id",
    "processing_fee_payer",
];

/// `GET /v1/exports/fees.csv?from&to`: each part of the orders paid in the
/// period with its fees, oldest first.
#[utoipa::path(get, path = "/v1/exports/fees.csv", tag = "orders",
    params(PeriodQuery),
    responses((status = 200, description = "RFC 4180, streamed", content_type = "text/csv", body = String, headers(("Content-Disposition" = String)))),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn export_fees(
    caller: Caller,
    query: web::Query<PeriodQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_LEDGER)?;
    let (from, to) = query::period(query.from.as_deref(), query.to.as_deref(), PERIOD_DAYS_MAX)?;
    Ok(fees_csv_answer(pool.get_ref(), from, to))
}

/// Each part of the orders paid in `[from, to)` with its fees, oldest
/// first, as the CSV download, streamed: the API's and the console's.
pub(crate) fn fees_csv_answer(
    pool: &DbPool,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> HttpResponse {
    csv::stream(
        pool.clone(),
        "fees.csv",
        FEE_COLUMNS,
        std::sync::Arc::new(move |conn, cursor| {
            let after = csv::cursor_of(cursor);
            let page = super::reports::fees_page(conn, from, to, after.as_ref(), csv::PAGE_ROWS)?;
            let next = page
                .last()
                .map(|r| csv::cursor_from(r.created_at, &r.part_id));
            let rows = page
                .into_iter()
                .map(|r| {
                    vec![
                        csv::text(r.part_id),
                        csv::text(r.order_id),
                        csv::text(r.shop_id),
                        csv::instant(r.paid_at),
                        csv::text(r.currency),
                        csv::number(r.subtotal_minor),
                        csv::number(r.fee_minor),
                        csv::number(r.processing_fee_minor),
                        csv::number(r.seller_amount_minor),
                        csv::text(r.fee_rule_version_id),
                        csv::text(r.processing_fee_payer),
                    ]
                })
                .collect();
            Ok((rows, next))
        }),
    )
}
