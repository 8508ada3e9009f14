//! The part page's forms: ship, mark delivered, cancel, and decide or
//! receive a return. Each calls the domain function its API endpoint calls
//! (`fulfilment::shipments::ship_and_settle`, `deliver_and_settle`,
//! `cancel::cancel_part`, `returns::approve`/`refuse`/`receive`) with the
//! actor the API would build for the same seller, so every rule (who may,
//! in which state, how many units) is the domain's. A refusal shows the
//! part's page again with the message beside the field it names.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, ResponseError};

use super::orders::{self, PartState, Submitted};
use super::workspace;
use crate::auth::RequestContext;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::fulfilment::cancel::{self, CancelRequest};
use crate::fulfilment::returns::{self, ApproveRequest, RefuseRequest};
use crate::fulfilment::shipments::{self, ShipLine, ShipRequest};
use crate::fulfilment::{Actor, Standing};
use crate::orders::model::{RefundLineRequest, RefundRequest};
use crate::orders::refunds::{self, Refunder};
use crate::payments::{Clock, Provider};
use crate::web::forms::{sentence, FormErrors};
use crate::web::render::{self, PageError, PageResult};
use crate::web::visitor::Visitor;

/// A submitted form as its name/value pairs: the ship form's quantity
/// fields are named after the part's lines.
type Pairs = web::Form<Vec<(String, String)>>;

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// What every form does first: the CSRF check, the seller's shop, the
/// seller's actor and the part (404 for anything not the seller's).
async fn begin(
    req: &HttpRequest,
    visitor: &mut Visitor,
    context: RequestContext,
    pool: &DbPool,
    shop_id: String,
    order_id: String,
    pairs: &[(String, String)],
) -> Result<(crate::sellers::Shop, Actor, PartState), PageResult> {
    visitor
        .check_form(req, value(pairs, "csrf_token"))
        .map_err(|e| Err(PageError(e)))?;
    let here = format!("/seller/shops/{shop_id}/orders/{order_id}");
    let (session, shop) = workspace::seller_shop(visitor, pool, shop_id, &here).await?;
    let actor = orders::seller_actor(pool, &session, context)
        .await
        .map_err(|e| Err(PageError(e)))?;
    let state = orders::part_state(pool, &shop, order_id, actor.clone())
        .await
        .map_err(|e| Err(PageError(e)))?;
    Ok((shop, actor, state))
}

/// The answer to a form: back to the part's page with the news, or the page
/// again with the refusal beside `field_of(param)`. A 404 (a return that is
/// not this part's, say) is the 404 page, as the API answers.
#[allow(clippy::too_many_arguments)]
async fn answer(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    order_id: &str,
    actor: Actor,
    outcome: Result<&'static str, AppError>,
    field_of: &dyn Fn(&str) -> Option<String>,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let error = match outcome {
        Ok(done) => {
            let location = format!("/seller/shops/{}/orders/{order_id}?done={done}", shop.id);
            return Ok(visitor.finish(render::see_other(&location).finish()));
        }
        Err(error) => error,
    };
    let status = error.status_code();
    if !workspace::is_refusal(&error) || status == StatusCode::NOT_FOUND {
        return Err(PageError(error));
    }
    let message = sentence(&error.to_string());
    let errors = match error.param().and_then(field_of) {
        Some(field) => FormErrors::field(&field, message),
        None => FormErrors {
            fields: Vec::new(),
            general: Some(message),
        },
    };
    // The page shows the part as it is now, not as it was before the form.
    let state = orders::part_state(pool, shop, order_id.to_owned(), actor).await?;
    orders::render_part(
        req,
        visitor,
        pool,
        shop,
        state,
        None,
        errors,
        &Submitted { fields: pairs },
        status,
    )
    .await
}

/// `POST /seller/shops/{id}/orders/{order_id}/ship`: one parcel with the
/// units the quantity fields say (0 leaves a line out).
#[allow(clippy::too_many_arguments)]
pub(super) async fn ship(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    let (shop_id, order_id) = path.into_inner();
    let (shop, actor, state) = match begin(
        &req,
        &mut visitor,
        context,
        &pool,
        shop_id,
        order_id.clone(),
        &pairs,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut sent: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let mut unreadable = None;
    for line in &state.view.part.lines {
        let field = format!("qty_{}", line.id);
        let text = value(&pairs, &field).trim();
        if text.is_empty() {
            continue;
        }
        match text.parse::<i64>() {
            Ok(0) => {}
            Ok(quantity) => {
                sent.push(field);
                lines.push(ShipLine {
                    line_id: line.id.clone(),
                    quantity,
                });
            }
            Err(_) => {
                unreadable.get_or_insert(field);
            }
        }
    }
    let part_id = state.view.part.id.clone();
    let outcome = match unreadable {
        Some(field) => Err(AppError::unprocessable(
            "invalid_value",
            "quantity is a whole number of units",
            Some(field),
        )),
        None => {
            let request = ShipRequest {
                carrier: value(&pairs, "carrier").to_owned(),
                tracking_number: value(&pairs, "tracking_number").to_owned(),
                tracking_url: Some(value(&pairs, "tracking_url"))
                    .filter(|u| !u.trim().is_empty())
                    .map(str::to_owned),
                lines: Some(lines),
            };
            shipments::ship_and_settle(
                &pool,
                provider.get_ref(),
                &order_id,
                &part_id,
                actor.clone(),
                request,
                clock.now(),
            )
            .await
            .map(|_| "shipped")
        }
    };
    let first_line = state
        .view
        .part
        .lines
        .first()
        .map(|l| format!("qty_{}", l.id));
    let field_of = |param: &str| -> Option<String> {
        match param {
            "carrier" | "tracking_number" | "tracking_url" => Some(param.to_owned()),
            "lines" => first_line.clone(),
            p if p.starts_with("qty_") => Some(p.to_owned()),
            p => {
                // `lines[i].…`: the i-th line sent.
                let i: usize = p.strip_prefix("lines[")?.split(']').next()?.parse().ok()?;
                sent.get(i).cloned()
            }
        }
    };
    answer(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &order_id,
        actor,
        outcome,
        &field_of,
        pairs,
    )
    .await
}

/// `POST /seller/shops/{id}/orders/{order_id}/delivered`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn delivered(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    let (shop_id, order_id) = path.into_inner();
    let (shop, actor, state) = match begin(
        &req,
        &mut visitor,
        context,
        &pool,
        shop_id,
        order_id.clone(),
        &pairs,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let outcome = shipments::deliver_and_settle(
        &pool,
        provider.get_ref(),
        &order_id,
        &state.view.part.id,
        actor.clone(),
        clock.now(),
    )
    .await
    .map(|_| "delivered");
    answer(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &order_id,
        actor,
        outcome,
        &|_| None,
        pairs,
    )
    .await
}

/// `POST /seller/shops/{id}/orders/{order_id}/cancel`: cancels a part
/// nothing of which shipped and refunds the buyer.
#[allow(clippy::too_many_arguments)]
pub(super) async fn cancel(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    clock: web::Data<Clock>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    let (shop_id, order_id) = path.into_inner();
    let (shop, actor, state) = match begin(
        &req,
        &mut visitor,
        context,
        &pool,
        shop_id,
        order_id.clone(),
        &pairs,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let request = CancelRequest {
        reason: value(&pairs, "cancel_reason").to_owned(),
    };
    let outcome = cancel::cancel_part(
        &pool,
        provider.get_ref(),
        &order_id,
        &state.view.part.id,
        actor.clone(),
        request,
        clock.now(),
    )
    .await
    .map(|_| "canceled");
    answer(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &order_id,
        actor,
        outcome,
        &|param| (param == "reason").then(|| "cancel_reason".to_owned()),
        pairs,
    )
    .await
}

/// `POST /seller/shops/{id}/orders/{order_id}/returns/{return_id}/{decision}`:
/// `approve`, `refuse` or `receive` a return of this part.
#[allow(clippy::too_many_arguments)]
pub(super) async fn decide_return(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String, String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    let (shop_id, order_id, return_id, decision) = path.into_inner();
    let (shop, actor, state) = match begin(
        &req,
        &mut visitor,
        context,
        &pool,
        shop_id,
        order_id.clone(),
        &pairs,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // A return of another part (or another seller's) is not found here,
    // whatever the domain would let this seller do with it elsewhere.
    if !state.returns.iter().any(|r| r.id == return_id) {
        return Err(PageError(AppError::NotFound { resource: "return" }));
    }
    let address_field = format!("return_address_{return_id}");
    let refuse_field = format!("refusal_reason_{return_id}");
    let outcome = match decision.as_str() {
        "approve" => {
            let request = ApproveRequest {
                return_address: value(&pairs, &address_field).to_owned(),
            };
            match request.parse() {
                Ok(address) => {
                    let (id, actor) = (return_id.clone(), actor.clone());
                    db::run(&pool, move |conn| {
                        returns::approve(conn, &id, &actor, &address)
                    })
                    .await
                    .map(|_| "approved")
                }
                Err(error) => Err(error),
            }
        }
        "refuse" => {
            let request = RefuseRequest {
                reason: value(&pairs, &refuse_field).to_owned(),
            };
            match request.parse() {
                Ok(reason) => {
                    let (id, actor) = (return_id.clone(), actor.clone());
                    db::run(&pool, move |conn| {
                        returns::refuse(conn, &id, &actor, &reason)
                    })
                    .await
                    .map(|_| "refused")
                }
                Err(error) => Err(error),
            }
        }
        "receive" => {
            let restock = !value(&pairs, &format!("restock_{return_id}")).is_empty();
            returns::receive(
                &pool,
                provider.get_ref(),
                &return_id,
                actor.clone(),
                restock,
            )
            .await
            .map(|_| "received")
        }
        _ => return Err(PageError(AppError::NotFound { resource: "page" })),
    };
    let field_of = |param: &str| match param {
        "return_address" => Some(address_field.clone()),
        "reason" => Some(refuse_field.clone()),
        _ => None,
    };
    answer(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &order_id,
        actor,
        outcome,
        &field_of,
        pairs,
    )
    .await
}

/// `POST /seller/shops/{id}/orders/{order_id}/refund`: refunds units of
/// the part's lines (and, if asked, what is left of its shipping) through
/// `orders::refunds::refund`, as `POST /v1/orders/{id}/refunds` does for a
/// seller's own part. The form carries the idempotency key it was rendered
/// with, so a form sent twice refunds once.
#[allow(clippy::too_many_arguments)]
pub(super) async fn refund(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    let (shop_id, order_id) = path.into_inner();
    let (shop, actor, state) = match begin(
        &req,
        &mut visitor,
        context.clone(),
        &pool,
        shop_id,
        order_id.clone(),
        &pairs,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut sent: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let mut unreadable = None;
    for line in &state.view.part.lines {
        let field = format!("refund_qty_{}", line.id);
        match value(&pairs, &field).trim() {
            "" | "0" => {}
            text => match text.parse::<i64>() {
                Ok(quantity) => {
                    sent.push(field);
                    lines.push(RefundLineRequest {
                        line_id: line.id.clone(),
                        quantity,
                    });
                }
                Err(_) => {
                    unreadable.get_or_insert(field);
                }
            },
        }
    }
    let reason = value(&pairs, "refund_reason").trim();
    let request = RefundRequest {
        lines: Some(lines),
        part_id: None,
        amount_minor: None,
        restock: !value(&pairs, "refund_restock").is_empty(),
        shipping: !value(&pairs, "refund_shipping").is_empty(),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
    };
    let outcome = match (
        unreadable,
        crate::http::idempotency_key(Some(value(&pairs, "idempotency_key"))),
    ) {
        (Some(field), _) => Err(AppError::unprocessable(
            "invalid_value",
            "quantity is a whole number of units",
            Some(field),
        )),
        (None, Err(error)) => Err(error),
        (None, Ok(key)) => {
            let refunder = Refunder {
                user_id: actor.user_id.clone(),
                shops: match &actor.standing {
                    Standing::Seller(shops) => Some(shops.clone()),
                    Standing::Buyer | Standing::Staff => None,
                },
                context,
            };
            match refunds::refund(&pool, provider.get_ref(), &order_id, refunder, key, request)
                .await
            {
                Ok(outcome) if outcome.refund.status == "pending" => Ok("refund_pending"),
                Ok(_) => Ok("refunded"),
                Err(error) => Err(error),
            }
        }
    };
    let first_line = sent.first().cloned();
    let field_of = |param: &str| -> Option<String> {
        match param {
            "reason" => Some("refund_reason".to_owned()),
            "lines" => first_line.clone(),
            p if p.starts_with("refund_qty_") => Some(p.to_owned()),
            p => {
                let i: usize = p.strip_prefix("lines[")?.split(']').next()?.parse().ok()?;
                sent.get(i).cloned()
            }
        }
    };
    answer(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &order_id,
        actor,
        outcome,
        &field_of,
        pairs,
    )
    .await
}
