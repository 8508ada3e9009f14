//! The order page's forms: refund (`orders::refunds::refund`, as
//! `POST /v1/orders/{id}/refunds`), sync the order and one of its disputes
//! (`orders::sync`, as the sync endpoints). Each checks the CSRF token, then
//! the rule its API endpoint takes; a refusal of the input is the order's
//! page again with the message beside the field.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, ResponseError};
use serde::Deserialize;

use super::super::console;
use super::order::{render_order, Submitted};
use crate::auth::{policy, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model::{OrderView, RefundLineRequest, RefundRequest};
use crate::orders::refunds::{self, Refunder};
use crate::orders::store;
use crate::payments::Provider;
use crate::web::forms::{sentence, FormErrors};
use crate::web::render::{self, PageError, PageResult};
use crate::web::seller::workspace;
use crate::web::visitor::Visitor;

/// A submitted form as its name/value pairs: the refund form's quantity
/// fields are named after the order's lines.
type Pairs = web::Form<Vec<(String, String)>>;

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// What the refund form asks, as the API's request: by lines (the quantity
/// fields) or by an amount on one part. Also the fields of the lines sent,
/// in the request's order (the domain's `lines[i]` errors name them).
fn refund_request(
    pairs: &[(String, String)],
    view: &OrderView,
) -> (Result<RefundRequest, AppError>, Vec<String>) {
    let mut sent = Vec::new();
    if value(pairs, "kind") == "amount" {
        let reason = value(pairs, "amount_reason").trim();
        let text = value(pairs, "amount").trim();
        let currency = view.total.currency;
        let amount = if text.is_empty() {
            Err(AppError::unprocessable(
                "invalid_value",
                "enter the amount to refund",
                Some("amount_minor".into()),
            ))
        } else {
            Money::parse_decimal(text, currency)
                .map(|m| m.minor)
                .map_err(|_| {
                    AppError::unprocessable(
                        "invalid_value",
                        format!(
                            "enter the amount as a number in {}, like 12.50",
                            currency.code()
                        ),
                        Some("amount_minor".into()),
                    )
                })
        };
        let request = amount.map(|amount_minor| RefundRequest {
            lines: None,
            part_id: Some(value(pairs, "part_id").to_owned()),
            amount_minor: Some(amount_minor),
            restock: false,
            shipping: false,
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
        });
        return (request, sent);
    }
    let mut lines = Vec::new();
    let mut unreadable = None;
    for line in view.parts.iter().flat_map(|p| p.lines.iter()) {
        let field = format!("refund_qty_{}", line.id);
        match value(pairs, &field).trim() {
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
    if let Some(field) = unreadable {
        return (
            Err(AppError::unprocessable(
                "invalid_value",
                "quantity is a whole number of units",
                Some(field),
            )),
            sent,
        );
    }
    let reason = value(pairs, "reason").trim();
    let request = RefundRequest {
        lines: Some(lines),
        part_id: None,
        amount_minor: None,
        restock: !value(pairs, "restock").is_empty(),
        shipping: !value(pairs, "refund_shipping").is_empty(),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
    };
    (Ok(request), sent)
}

/// The refund form's field a domain error's `param` names.
fn refund_field(kind: &str, param: &str, sent: &[String]) -> Option<String> {
    if kind == "amount" {
        return match param {
            "amount_minor" => Some("amount".into()),
            "part_id" => Some("part_id".into()),
            "reason" => Some("amount_reason".into()),
            _ => None,
        };
    }
    match param {
        "reason" => Some("reason".into()),
        "lines" => Some("lines".into()),
        "shipping" => Some("refund_shipping".into()),
        "restock" => Some("restock".into()),
        p if p.starts_with("refund_qty_") => Some(p.to_owned()),
        p => {
            let i: usize = p.strip_prefix("lines[")?.split(']').next()?.parse().ok()?;
            sent.get(i).cloned()
        }
    }
}

/// `POST /ops/orders/{id}/refund` (`policy::REFUND`): refunds through
/// `orders::refunds::refund`, as `POST /v1/orders/{id}/refunds` does for
/// staff, which writes the `order.refund` audit row. The form carries the
/// idempotency key it was rendered with: sent twice, it refunds once.
#[allow(clippy::too_many_arguments)]
pub(super) async fn refund(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    form: Pairs,
) -> PageResult {
    let pairs = form.into_inner();
    visitor.check_form(&req, value(&pairs, "csrf_token"))?;
    let id = path.into_inner();
    let here = format!("/ops/orders/{id}");
    let session = match console::staff(&visitor, &here, policy::REFUND) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let caller = session.caller;
    let view = {
        let (id, viewer) = (id.clone(), caller.user_id.0.clone());
        db::run(&pool, move |conn| {
            store::order_for(conn, &id, &viewer, true)?.view()
        })
        .await?
    };
    let kind = if value(&pairs, "kind") == "amount" {
        "amount"
    } else {
        "lines"
    };
    let (request, sent) = refund_request(&pairs, &view);
    let outcome = match (
        request,
        crate::http::idempotency_key(Some(value(&pairs, "idempotency_key"))),
    ) {
        (Err(error), _) | (Ok(_), Err(error)) => Err(error),
        (Ok(request), Ok(key)) => {
            let refunder = Refunder {
                user_id: caller.user_id.0.clone(),
                shops: None,
                context,
            };
            refunds::refund(&pool, provider.get_ref(), &id, refunder, key, request).await
        }
    };
    let error = match outcome {
        Ok(outcome) => {
            let done = if outcome.refund.status == "pending" {
                "refund_pending"
            } else {
                "refunded"
            };
            let location = format!("{here}?done={done}");
            return Ok(visitor.finish(render::see_other(&location).finish()));
        }
        Err(error) => error,
    };
    let status = error.status_code();
    if !workspace::is_refusal(&error) || status == StatusCode::NOT_FOUND {
        return Err(PageError(error));
    }
    let message = sentence(&error.to_string());
    let errors = match error.param().and_then(|p| refund_field(kind, p, &sent)) {
        Some(field) => FormErrors::field(&field, message),
        None => FormErrors {
            fields: Vec::new(),
            general: Some(message),
        },
    };
    let mut fields = pairs;
    fields.retain(|(name, _)| name != "kind");
    fields.push(("kind".into(), kind.into()));
    render_order(
        &req,
        &mut visitor,
        &pool,
        &caller,
        id,
        None,
        errors,
        &Submitted { fields },
        status,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ops/orders/{id}/sync` (`policy::SYNC_ORDER`): `orders::sync::sync_order`,
/// as `POST /v1/orders/{id}/sync`, audited as `order.sync`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/ops/orders/{id}");
    let session = match console::staff(&visitor, &here, policy::SYNC_ORDER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    limits
        .provider_calls
        .take(&session.caller.user_id.0)
        .await?;
    crate::orders::sync::sync_order(&pool, provider.get_ref(), &id, &session.caller, &context)
        .await?;
    let location = format!("{here}?done=synced");
    Ok(visitor.finish(render::see_other(&location).finish()))
}

/// `POST /ops/orders/{id}/disputes/{dispute}/sync` (`policy::SYNC_DISPUTE`):
/// `orders::sync::sync_dispute`, as `POST /v1/disputes/{id}/sync`, audited
/// as `dispute.sync`. Only a dispute of this order.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync_dispute(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let (id, dispute_id) = path.into_inner();
    let here = format!("/ops/orders/{id}");
    let session = match console::staff(&visitor, &here, policy::SYNC_DISPUTE) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let view = {
        let (id, viewer) = (id.clone(), session.caller.user_id.0.clone());
        db::run(&pool, move |conn| {
            store::order_for(conn, &id, &viewer, true)?.view()
        })
        .await?
    };
    if !view.disputes.iter().any(|d| d.id == dispute_id) {
        return Err(PageError(AppError::NotFound {
            resource: "dispute",
        }));
    }
    limits
        .provider_calls
        .take(&session.caller.user_id.0)
        .await?;
    crate::orders::sync::sync_dispute(
        &pool,
        provider.get_ref(),
        &dispute_id,
        &session.caller,
        &context,
    )
    .await?;
    let location = format!("{here}?done=dispute_synced");
    Ok(visitor.finish(render::see_other(&location).finish()))
}
