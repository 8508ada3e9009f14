//! Shipping endpoints: a shop's rates and returns policy, read and replaced
//! by its seller and staff, and read by anyone for a shop that sells.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::model::{ShippingRequest, ShopShipping, HANDLING_DAYS_DEFAULT};
use super::store;
use crate::auth::{record_audit, AuditEntry, Caller, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;
use crate::sellers::shops;

/// Mounts the shipping routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(
        resource("/v1/shops/{id}/shipping")
            .get(get_shipping)
            .put(put_shipping),
    )
    .service(resource("/v1/shop_profiles/{id}/shipping").get(public_shipping))
    .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(get_shipping, put_shipping, public_shipping),
    tags((name = "shipping", description = "Shops' shipping rates by destination and returns policies"))
)]
struct Doc;

/// A shop's shipping rates and returns policy.
#[derive(Serialize, ToSchema)]
struct ShippingView {
    shop_id: String,
    #[serde(flatten)]
    shipping: ShopShipping,
    /// The handling days of a shop without rates (it then charges no
    /// shipping and ships everywhere).
    handling_days_without_rates: i32,
}

impl ShippingView {
    fn of(shop_id: String, shipping: ShopShipping) -> Self {
        Self {
            shop_id,
            shipping,
            handling_days_without_rates: HANDLING_DAYS_DEFAULT,
        }
    }
}

/// A shop's shipping as the audit log keeps it: each rate as `[destination,
/// currency, first_item_minor, additional_item_minor, free_above_minor,
/// handling_days]`, so a full set (250 rates of at most ~46 bytes each)
/// stays under the log's 16 KiB per state.
fn audit_state(shipping: &ShopShipping) -> serde_json::Value {
    let rates: Vec<serde_json::Value> = shipping
        .rates
        .iter()
        .map(|r| {
            serde_json::json!([
                r.destination.as_str(),
                r.currency.code(),
                r.first_item_minor,
                r.additional_item_minor,
                r.free_above_minor,
                r.handling_days
            ])
        })
        .collect();
    serde_json::json!({ "rates": rates, "returns": shipping.returns })
}

/// `GET /v1/shops/{id}/shipping`: its seller and staff (404 for another
/// seller's shop, so shop ids cannot be probed).
#[utoipa::path(get, path = "/v1/shops/{id}/shipping", tag = "shipping",
    params(("id" = String, Path, description = "The shop's id")),
    responses(
        (status = 200, body = ShippingView),
        (status = 404, description = "No shop of yours has this id", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn get_shipping(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Finance, Role::Support])?;
    let (viewer, staff) = (caller.user_id.0.clone(), caller.role.is_staff());
    let shop_id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &shop_id, &viewer, staff)?;
        Ok(ShippingView::of(
            shop.id.clone(),
            store::shop_shipping(conn, &shop.id)?,
        ))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PUT /v1/shops/{id}/shipping`: replaces every rate and the returns policy
/// in one transaction, audited (`shop.shipping`). Orders already placed keep
/// the shipping they were priced with.
#[utoipa::path(put, path = "/v1/shops/{id}/shipping", tag = "shipping",
    params(("id" = String, Path, description = "The shop's id")),
    request_body = ShippingRequest,
    responses(
        (status = 200, description = "The shop's shipping as now stored", body = ShippingView),
        (status = 404, description = "No shop of yours has this id", body = ErrorBody),
        (status = 422, description = "`invalid_value` naming the field (`rates[2].destination`); a (destination, currency) listed twice; more than 250 rates", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn put_shipping(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<ShippingRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let shipping = ShopShipping::parse(&body.into_inner()?)?;
    let (actor, operator) = (caller.user_id.clone(), caller.is(Role::Operator));
    let shop_id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let shop = shops::shop_for(conn, &shop_id, &actor.0, operator)?;
            let before = store::shop_shipping(conn, &shop.id)?;
            store::replace_shop_shipping(conn, &shop.id, &shipping, db::now())?;
            let after = store::shop_shipping(conn, &shop.id)?;
            record_audit(
                conn,
                AuditEntry::new("shop.shipping", &shop.id)
                    .actor(&actor)
                    .context(&context)
                    .before(audit_state(&before))
                    .after(audit_state(&after)),
            )?;
            Ok(ShippingView::of(shop.id, after))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /v1/shop_profiles/{id}/shipping`: what a shop that sells charges to
/// ship, for buyers (404 unless it sells now, as its profile).
#[utoipa::path(get, path = "/v1/shop_profiles/{id}/shipping", tag = "shipping",
    params(("id" = String, Path, description = "The shop's id")),
    responses(
        (status = 200, body = ShippingView),
        (status = 404, description = "No shop that sells has this id", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn public_shipping(
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let shop_id = path.into_inner();
    let view = db::run(&pool, move |conn| {
        let shop = crate::sellers::public_shop(conn, &shop_id)?;
        Ok(ShippingView::of(
            shop.id.clone(),
            store::shop_shipping(conn, &shop.id)?,
        ))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
