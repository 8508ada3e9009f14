//! The events feed: `GET /v1/events`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use super::feed::{self, Audience, FeedPage, FeedQuery};
use super::types::TypeFilter;
use crate::auth::{policy, Caller, Role};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};

/// Mounts the feed.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/events").get(read_feed))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(read_feed),
    components(schemas(FeedPage, feed::FeedEvent)),
    tags((name = "events", description = "What happened, in order: the events feed (see docs/events.md)"))
)]
struct Doc;

/// Every value arrives as text and is checked here, so a bad one is a 422
/// naming its parameter rather than the query string's generic 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FeedParams {
    /// Events after this sequence number (0, the default, for the oldest kept):
    /// the `next_after` of the previous page.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// Comma-separated types or prefixes: `order.*,payout.paid`; `*` or
    /// nothing for every type.
    types: Option<String>,
    /// 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// One shop's events only, in that shop's view: for a seller one of its
    /// own shops (another's is 404), for staff any shop.
    shop: Option<String>,
}

fn invalid(param: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

impl FeedParams {
    fn query(&self) -> Result<FeedQuery, AppError> {
        let after = match self.after.as_deref() {
            None => 0,
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|after| *after >= 0)
                .ok_or_else(|| {
                    invalid(
                        "after",
                        format!("after is a sequence number, 0 or more; `{text}` is not"),
                    )
                })?,
        };
        let limit = match self.limit.as_deref() {
            None => feed::PAGE_DEFAULT,
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=feed::PAGE_MAX).contains(limit))
                .ok_or_else(|| invalid("limit", format!("limit is 1 to {}", feed::PAGE_MAX)))?,
        };
        let types = match self.types.as_deref() {
            None => TypeFilter::default(),
            Some(list) => {
                let patterns: Vec<&str> = list.split(',').collect();
                TypeFilter::parse(&patterns, "types")?
            }
        };
        Ok(FeedQuery {
            after,
            types,
            limit,
        })
    }
}

/// `GET /v1/events?after=&types=&limit=`: events in sequence order. Staff
/// read every event with the platform's payloads; a seller reads the events
/// its shops see (`shop` narrows to one of them), each in that shop's view.
/// A page holds only events whose transactions have ended, so reading on
/// from `next_after` never skips one.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(FeedParams),
    responses(
        (status = 200, body = FeedPage),
        (status = 404, description = "`shop` names no shop of the seller", body = ErrorBody),
        (status = 422, description = "`after`, `types` or `limit` is invalid", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn read_feed(
    caller: Caller,
    params: web::Query<FeedParams>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_EVENTS)?;
    let query = params.query()?;
    let seller = caller.is(Role::Seller).then(|| caller.user_id.0.clone());
    let shop = params.shop.clone();
    let page = db::run(&pool, move |conn| {
        let audience = match (seller, shop) {
            (None, None) => Audience::Platform,
            // Staff may read one shop's feed as that shop reads it.
            (None, Some(one)) => {
                crate::sellers::shops::find_shop(conn, &one)?
                    .ok_or(AppError::NotFound { resource: "shop" })?;
                Audience::Shops(vec![one])
            }
            (Some(owner), shop) => {
                let owned: Vec<String> = crate::sellers::shops::list_shops(conn, Some(&owner))?
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                match shop {
                    None => Audience::Shops(owned),
                    Some(one) if owned.contains(&one) => Audience::Shops(vec![one]),
                    // Another seller's shop and no shop at all look alike.
                    Some(_) => return Err(AppError::NotFound { resource: "shop" }),
                }
            }
        };
        feed::read(conn, &audience, &query)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
