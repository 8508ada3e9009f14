//! The shop's orders: its parts of orders (`orders::store::list_shop_orders`,
//! behind `GET /v1/shops/{id}/orders`) and one part with what can be done to
//! it. The forms post to [`super::fulfil`]. A part is addressed by its order:
//! a shop has one part of an order, and the API keys a seller's view so.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, encode, Frame};
use crate::auth::RequestContext;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::fulfilment::returns::{self, ReturnStatus, ReturnView};
use crate::fulfilment::shipments::{self, ShipmentView};
use crate::fulfilment::{self as fulfilment, Actor};
use crate::money::Money;
use crate::orders::model::{OrderStatus, SellerOrderView};
use crate::orders::store::{self, FULFILMENT_STATUSES};
use crate::sellers::Shop;
use crate::web::format::{date_of, price};
use crate::web::forms::FormErrors;
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// Parts on one page of the list.
const LIST_PAGE_ROWS: i64 = 25;

/// A part's fulfilment state as its seller reads it.
pub(super) fn fulfilment_label(status: &str) -> &'static str {
    match status {
        "unfulfilled" => "To ship",
        "partially_shipped" => "Partly shipped",
        "shipped" => "Shipped",
        "delivered" => "Delivered",
        "canceled" => "Cancelled",
        _ => "Unknown",
    }
}

/// Where a part stands: the order's state until it is paid, then its parcels'.
fn part_status(view: &SellerOrderView) -> &'static str {
    match view.order_status {
        OrderStatus::Paid => fulfilment_label(&view.part.fulfilment.status),
        OrderStatus::AwaitingPayment => "Awaiting payment",
        OrderStatus::Expired => "Not paid in time",
        OrderStatus::Canceled => "Payment refused",
    }
}

/// The buyer as a seller's list names them: the first name on the address.
fn buyer_name(view: &SellerOrderView) -> String {
    view.shipping
        .name
        .split_whitespace()
        .next()
        .map_or_else(|| "Buyer".to_owned(), str::to_owned)
}

/// One row of the list.
struct Row {
    href: String,
    order_id: String,
    placed: String,
    buyer: String,
    items: i64,
    total: String,
    status: &'static str,
    ship_by: String,
    late: bool,
}

/// An option of the status filter.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "seller/orders.html", config = "src/web/askama.toml")]
struct OrdersPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    choices: Vec<Choice>,
    filtered: bool,
    rows: Vec<Row>,
    /// The next page's address, when this one is full.
    next: Option<String>,
    first_page: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    /// The API's cursor: the last part seen's `created_at`.
    #[serde(default)]
    before: String,
}

/// `GET /seller/shops/{id}/orders?status=&before=`.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/orders");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let query = query.into_inner();
    let status = store::parse_fulfilment_status(&query.status, "status")?;
    let before = crate::http::query::instant(
        "before",
        Some(query.before.as_str()).filter(|b| !b.is_empty()),
    )?;
    let shop_id = shop.id.clone();
    let views = db::run(&pool, move |conn| {
        store::list_shop_orders(conn, &shop_id, status, before, LIST_PAGE_ROWS)
    })
    .await?;
    let first_page = match status {
        Some(s) => format!("{here}?status={s}"),
        None => here.clone(),
    };
    let next = (views.len() as i64 == LIST_PAGE_ROWS)
        .then(|| views.last())
        .flatten()
        .map(|last| {
            let joiner = if status.is_some() { '&' } else { '?' };
            format!("{first_page}{joiner}before={}", encode(&last.created_at))
        });
    let rows = views
        .iter()
        .map(|view| Row {
            href: format!("{here}/{}", view.order_id),
            order_id: view.order_id.clone(),
            placed: date_of(&view.created_at),
            buyer: buyer_name(view),
            items: view.part.lines.iter().map(|l| l.quantity).sum(),
            total: price(view.part.subtotal),
            status: part_status(view),
            ship_by: view
                .part
                .fulfilment
                .ship_by
                .as_deref()
                .map(date_of)
                .unwrap_or_default(),
            late: view.part.fulfilment.late,
        })
        .collect();
    let page = OrdersPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Orders — {} — Bazaar", shop.name)),
        frame: Frame::of(&pool, &shop, "orders").await?,
        choices: FULFILMENT_STATUSES
            .into_iter()
            .map(|value| Choice {
                value,
                label: fulfilment_label(value),
                selected: status == Some(value),
            })
            .collect(),
        filtered: status.is_some() || before.is_some(),
        rows,
        next,
        first_page,
    };
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}

/// One line of the part, with its ship form field.
pub(super) struct LineRow {
    title: String,
    sku: String,
    unit_price: String,
    quantity: i64,
    shipped: i64,
    refunded: i64,
    amount: String,
    /// Units neither shipped nor refunded: what the ship form offers.
    left: i64,
    field: String,
    value: String,
    /// Units not refunded yet: what the refund form offers.
    refundable: i64,
    refund_field: String,
    refund_value: String,
}

/// One parcel.
struct Parcel {
    carrier: String,
    tracking_number: String,
    tracking_url: Option<String>,
    shipped: String,
    delivered: String,
    units: String,
}

/// One return, with its forms' fields.
struct ReturnBox {
    id: String,
    status: &'static str,
    reason: String,
    refusal_reason: Option<String>,
    return_address: Option<String>,
    tracking: Option<String>,
    units: String,
    amount: String,
    refund: Option<String>,
    decide: bool,
    receive: bool,
    address_field: String,
    address_value: String,
    refuse_field: String,
    refuse_value: String,
    restock_field: String,
}

/// A figure of the part's money.
struct Figure {
    label: &'static str,
    amount: String,
    note: &'static str,
}

#[derive(Template)]
#[template(path = "seller/order.html", config = "src/web/askama.toml")]
struct OrderPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    order_id: String,
    base: String,
    done: Option<&'static str>,
    errors: FormErrors,
    placed: String,
    paid: String,
    status: &'static str,
    ship_by: String,
    late: bool,
    cancel_reason: Option<String>,
    disputed: bool,
    ship_to: Vec<String>,
    lines: Vec<LineRow>,
    figures: Vec<Figure>,
    parcels: Vec<Parcel>,
    returns: Vec<ReturnBox>,
    can_ship: bool,
    can_deliver: bool,
    can_cancel: bool,
    carrier: String,
    tracking_number: String,
    tracking_url: String,
    cancel_reason_value: String,
    can_refund: bool,
    refund_reason: String,
    /// The refund form's key: kept when the form comes back, so sending it
    /// again is the same refund.
    idempotency_key: String,
}

/// What a submitted form asked, to show it again beside its errors.
#[derive(Debug, Default)]
pub(super) struct Submitted {
    pub fields: Vec<(String, String)>,
}

impl Submitted {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the part's page shows, read under the seller's actor.
pub(super) struct PartState {
    pub view: SellerOrderView,
    pub parcels: Vec<ShipmentView>,
    pub returns: Vec<ReturnView>,
}

/// The shop's part of `order_id` with its parcels and returns, or 404.
///
/// # Errors
/// 404 when the order has no part of this shop.
pub(super) async fn part_state(
    pool: &DbPool,
    shop: &Shop,
    order_id: String,
    actor: Actor,
) -> Result<PartState, AppError> {
    let shop_id = shop.id.clone();
    db::run(pool, move |conn| {
        let view = store::shop_order(conn, &shop_id, &order_id)?;
        let part_id = view.part.id.clone();
        let parcels = shipments::shipments_of_order(conn, &order_id, &actor)?
            .into_iter()
            .filter(|s| s.part_id == part_id)
            .collect();
        let returns = returns::returns_of_order_for(conn, &order_id, &actor)?
            .into_iter()
            .filter(|r| r.part_id == part_id)
            .collect();
        Ok(PartState {
            view,
            parcels,
            returns,
        })
    })
    .await
}

/// The seller's actor, as the API builds it for the same account.
pub(super) async fn seller_actor(
    pool: &DbPool,
    session: &crate::auth::BrowserSession,
    context: RequestContext,
) -> Result<Actor, AppError> {
    fulfilment::actor_of(pool, session.caller.clone(), context).await
}

fn return_label(status: ReturnStatus) -> &'static str {
    match status {
        ReturnStatus::Requested => "Requested: your decision",
        ReturnStatus::Approved => "Approved: waiting for the parcel",
        ReturnStatus::Refused => "Refused",
        ReturnStatus::ShippedBack => "Sent back by the buyer",
        ReturnStatus::Received => "Received and refunded",
    }
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "shipped" => "The parcel is recorded; the buyer has been emailed its tracking.",
        "delivered" => "The part is marked delivered.",
        "canceled" => "The part is cancelled and the buyer refunded.",
        "approved" => "The return is approved; the buyer has been sent your address.",
        "refused" => "The return is refused; the buyer has been told why.",
        "received" => "The return is received and the buyer refunded.",
        "refunded" => "The buyer is refunded.",
        "refund_pending" => "The refund is recorded; the payments provider sends it shortly.",
        _ => return None,
    })
}

/// Renders the part's page, with `errors` from a refused form (`status`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn render_part(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &Shop,
    state: PartState,
    done: Option<&'static str>,
    errors: FormErrors,
    submitted: &Submitted,
    status: StatusCode,
) -> PageResult {
    let PartState {
        view,
        parcels,
        returns,
    } = state;
    let part = &view.part;
    let base = format!("/seller/shops/{}/orders/{}", shop.id, view.order_id);
    let titles: Vec<(&str, &str)> = part
        .lines
        .iter()
        .map(|l| (l.id.as_str(), l.title.as_str()))
        .collect();
    let units = |lines: &mut dyn Iterator<Item = (&str, i64)>| {
        lines
            .map(|(line_id, quantity)| {
                let title = titles
                    .iter()
                    .find(|(id, _)| *id == line_id)
                    .map_or(line_id, |(_, t)| t);
                format!("{quantity} × {title}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines: Vec<LineRow> = part
        .lines
        .iter()
        .map(|l| {
            let left = (l.quantity - l.refunded_quantity - l.shipped_quantity).max(0);
            let field = format!("qty_{}", l.id);
            let refund_field = format!("refund_qty_{}", l.id);
            LineRow {
                refundable: (l.quantity - l.refunded_quantity).max(0),
                refund_value: submitted.get(&refund_field).unwrap_or("0").to_owned(),
                refund_field,
                title: l.title.clone(),
                sku: l.sku.clone(),
                unit_price: price(l.unit_price),
                quantity: l.quantity,
                shipped: l.shipped_quantity,
                refunded: l.refunded_quantity,
                amount: price(l.amount),
                left,
                value: submitted
                    .get(&field)
                    .map_or_else(|| left.to_string(), str::to_owned),
                field,
            }
        })
        .collect();
    let seller_bears = part.processing_fee_payer == "seller";
    let taken_back = Money::new(
        part.seller_amount.minor - part.settlement.owed.minor,
        part.seller_amount.currency,
    );
    let mut figures = vec![
        Figure {
            label: "Items",
            amount: price(part.items),
            note: "",
        },
        Figure {
            label: "Shipping",
            amount: price(part.shipping),
            note: "",
        },
        Figure {
            label: "Subtotal (what the buyer paid for this part)",
            amount: price(part.subtotal),
            note: "",
        },
        Figure {
            label: "Platform fee",
            amount: price(part.fee),
            note: "",
        },
        Figure {
            label: "Processing fee",
            amount: price(part.processing_fee),
            note: if seller_bears {
                "borne by you"
            } else {
                "borne by the marketplace"
            },
        },
        Figure {
            label: "Your share",
            amount: price(part.seller_amount),
            note: "",
        },
        Figure {
            label: "Refunded to the buyer",
            amount: price(part.refunded),
            note: "",
        },
        Figure {
            label: "Taken back from your share by refunds and disputes",
            amount: price(taken_back),
            note: "",
        },
        Figure {
            label: "Owed to you now",
            amount: price(part.settlement.owed),
            note: "",
        },
        Figure {
            label: "Transferred to you",
            amount: price(part.settlement.transferred),
            note: "",
        },
    ];
    if part.settlement.owes_back.minor != 0 {
        figures.push(Figure {
            label: "You owe the marketplace",
            amount: price(part.settlement.owes_back),
            note: "recovered from your later sales",
        });
    }
    let parcels = parcels
        .iter()
        .map(|p| Parcel {
            carrier: p.carrier.clone(),
            tracking_number: p.tracking_number.clone(),
            tracking_url: p.tracking_url.clone(),
            shipped: date_of(&p.shipped_at),
            delivered: p.delivered_at.as_deref().map(date_of).unwrap_or_default(),
            units: units(
                &mut p
                    .lines
                    .iter()
                    .map(|line| (line.line_id.as_str(), line.quantity)),
            ),
        })
        .collect();
    let returns = returns
        .iter()
        .map(|r| {
            let address_field = format!("return_address_{}", r.id);
            let refuse_field = format!("refusal_reason_{}", r.id);
            ReturnBox {
                id: r.id.clone(),
                status: return_label(r.status),
                reason: r.reason.clone(),
                refusal_reason: r.refusal_reason.clone(),
                return_address: r.return_address.clone(),
                tracking: r
                    .tracking_number
                    .as_ref()
                    .map(|n| format!("{} {n}", r.carrier.as_deref().unwrap_or_default())),
                units: units(
                    &mut r
                        .lines
                        .iter()
                        .map(|line| (line.line_id.as_str(), line.quantity)),
                ),
                amount: price(r.amount),
                refund: r
                    .refund
                    .as_ref()
                    .map(|f| format!("{} ({})", price(f.amount), f.status)),
                decide: r.status == ReturnStatus::Requested,
                receive: matches!(r.status, ReturnStatus::Approved | ReturnStatus::ShippedBack),
                address_value: submitted.get(&address_field).unwrap_or_default().to_owned(),
                refuse_value: submitted.get(&refuse_field).unwrap_or_default().to_owned(),
                restock_field: format!("restock_{}", r.id),
                address_field,
                refuse_field,
            }
        })
        .collect();
    let paid = view.order_status == OrderStatus::Paid;
    let fulfilment = &part.fulfilment;
    let shipping = &view.shipping;
    let page = OrderPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Order {} — {} — Bazaar", view.order_id, shop.name)),
        frame: Frame::of(pool, shop, "orders").await?,
        order_id: view.order_id.clone(),
        done,
        errors,
        placed: date_of(&view.created_at),
        paid: view.paid_at.as_deref().map(date_of).unwrap_or_default(),
        status: part_status(&view),
        ship_by: fulfilment
            .ship_by
            .as_deref()
            .map(date_of)
            .unwrap_or_default(),
        late: fulfilment.late,
        cancel_reason: fulfilment.cancel_reason.clone(),
        disputed: view.disputed,
        ship_to: [
            Some(shipping.name.clone()),
            Some(shipping.line1.clone()),
            shipping.line2.clone(),
            Some(format!("{} {}", shipping.postal_code, shipping.city)),
            Some(shipping.country.clone()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        can_ship: paid && lines.iter().any(|l| l.left > 0) && fulfilment.status != "canceled",
        can_deliver: paid && matches!(fulfilment.status.as_str(), "shipped" | "partially_shipped"),
        can_cancel: paid && fulfilment.status == "unfulfilled",
        lines,
        figures,
        parcels,
        returns,
        carrier: submitted.get("carrier").unwrap_or_default().to_owned(),
        tracking_number: submitted
            .get("tracking_number")
            .unwrap_or_default()
            .to_owned(),
        tracking_url: submitted.get("tracking_url").unwrap_or_default().to_owned(),
        cancel_reason_value: submitted
            .get("cancel_reason")
            .unwrap_or_default()
            .to_owned(),
        can_refund: paid && !view.disputed && part.refunded.minor < part.subtotal.minor,
        refund_reason: submitted
            .get("refund_reason")
            .unwrap_or_default()
            .to_owned(),
        idempotency_key: submitted
            .get("idempotency_key")
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
        base,
    };
    workspace::answer(req, visitor, &page, status)
}

#[derive(Debug, Deserialize)]
pub(super) struct PartQuery {
    #[serde(default)]
    done: String,
}

/// `GET /seller/shops/{id}/orders/{order_id}?done=`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<(String, String)>,
    query: web::Query<PartQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let (id, order_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/orders/{order_id}");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let actor = seller_actor(&pool, &session, context).await?;
    let state = part_state(&pool, &shop, order_id, actor).await?;
    render_part(
        &req,
        &mut visitor,
        &pool,
        &shop,
        state,
        done_message(&query.done),
        FormErrors::none(),
        &Submitted::default(),
        StatusCode::OK,
    )
    .await
}
