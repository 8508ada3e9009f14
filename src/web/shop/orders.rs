//! A buyer's orders: the list (`orders::store::list_orders`, as
//! `GET /v1/orders` answers a buyer) and one order as its buyer sees it.

use actix_web::{web, HttpRequest};
use askama::Template;

use crate::auth::Role;
use crate::db::{self, DbPool};
use crate::orders::model::BuyerOrderView;
use crate::orders::store::{self, OrderFilter, ORDERS_PAGE_MAX};
use crate::web::format::{date_of, price, status_label};
use crate::web::render::{self, Caching, Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// A row of the order history.
struct OrderRow {
    id: String,
    placed: String,
    shops: String,
    total: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "shop/orders.html", config = "src/web/askama.toml")]
struct HistoryPage {
    chrome: Chrome,
    meta: Meta,
    orders: Vec<OrderRow>,
}

pub(super) async fn history(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let Some(caller) = visitor.caller().cloned() else {
        return Ok(visitor.finish(render::see_other("/signin?next=/orders").finish()));
    };
    caller.require(&[Role::Buyer])?;
    let filter = OrderFilter {
        buyer_user_id: Some(caller.user_id.0.clone()),
        ..OrderFilter::default()
    };
    let orders = db::run(&pool, move |conn| {
        store::list_orders(conn, &filter, ORDERS_PAGE_MAX)
    })
    .await?;
    let page = HistoryPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Your orders — Bazaar"),
        orders: orders
            .into_iter()
            .map(BuyerOrderView::from)
            .map(|order| OrderRow {
                placed: date_of(&order.created_at),
                shops: order
                    .parts
                    .iter()
                    .map(|p| p.shop_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                total: price(order.total),
                status: status_label(order.status.as_str()),
                id: order.id,
            })
            .collect(),
    };
    Ok(visitor.finish(render::page(&req, &page, Caching::NoStore)?))
}

/// One line of an order, for its page.
struct LineRow {
    title: String,
    product_id: String,
    quantity: i64,
    unit_price: String,
    amount: String,
    refunded_quantity: i64,
}

/// One shop's part, for the order page.
struct PartRow {
    shop_id: String,
    shop_name: String,
    status: &'static str,
    /// Items + shipping: what the buyer paid for the part.
    subtotal: String,
    items: String,
    /// `$5.00`, or `Free`.
    shipping: String,
    refunded: String,
    has_refund: bool,
    lines: Vec<LineRow>,
    /// The part's parcels: carrier, tracking, shipped or delivered.
    parcels: Vec<crate::fulfilment::shipments::ShipmentView>,
}

/// A refund, for the order page.
struct RefundRow {
    date: String,
    amount: String,
    status: &'static str,
    reason: String,
}

#[derive(Template)]
#[template(path = "shop/order.html", config = "src/web/askama.toml")]
struct OrderPage {
    chrome: Chrome,
    meta: Meta,
    id: String,
    placed: String,
    status: &'static str,
    payable: bool,
    total: String,
    refunded: String,
    has_refund: bool,
    ship_to: Vec<String>,
    parts: Vec<PartRow>,
    refunds: Vec<RefundRow>,
}

pub(super) async fn detail(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    context: crate::auth::RequestContext,
    id: web::Path<String>,
) -> PageResult {
    let id = id.into_inner();
    let Some(caller) = visitor.caller().cloned() else {
        return Ok(
            visitor.finish(render::see_other(&format!("/signin?next=/orders/{id}")).finish())
        );
    };
    caller.require(&[Role::Buyer])?;
    let viewer = caller.user_id.0.clone();
    let actor = crate::fulfilment::actor_of(&pool, caller, context).await?;
    let (order, parcels) = db::run(&pool, move |conn| {
        let order = BuyerOrderView::from(store::order_for(conn, &id, &viewer, false)?.view()?);
        let parcels = crate::fulfilment::shipments::shipments_of_order(conn, &order.id, &actor)?;
        Ok((order, parcels))
    })
    .await?;
    let shipping = &order.shipping;
    let ship_to = [
        Some(shipping.name.clone()),
        Some(shipping.line1.clone()),
        shipping.line2.clone(),
        Some(format!("{} {}", shipping.postal_code, shipping.city)),
        Some(shipping.country.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let page = OrderPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Order {} — Bazaar", order.id)),
        placed: date_of(&order.created_at),
        status: status_label(order.status.as_str()),
        payable: order.status == crate::orders::OrderStatus::AwaitingPayment,
        total: price(order.total),
        refunded: price(order.refunded),
        has_refund: order.refunded.minor > 0,
        ship_to,
        parts: order
            .parts
            .iter()
            .map(|part| PartRow {
                shop_id: part.shop_id.clone(),
                shop_name: part.shop_name.clone(),
                status: status_label(part.status),
                subtotal: price(part.subtotal),
                items: price(part.items),
                shipping: if part.shipping.minor == 0 {
                    "Free".to_owned()
                } else {
                    price(part.shipping)
                },
                refunded: price(part.refunded),
                has_refund: part.refunded.minor > 0,
                lines: part
                    .lines
                    .iter()
                    .map(|line| LineRow {
                        title: line.title.clone(),
                        product_id: line.product_id.clone(),
                        quantity: line.quantity,
                        unit_price: price(line.unit_price),
                        amount: price(line.amount),
                        refunded_quantity: line.refunded_quantity,
                    })
                    .collect(),
                parcels: parcels
                    .iter()
                    .filter(|parcel| parcel.part_id == part.id)
                    .cloned()
                    .collect(),
            })
            .collect(),
        refunds: order
            .refunds
            .iter()
            .map(|refund| RefundRow {
                date: date_of(&refund.created_at),
                amount: price(refund.amount),
                status: status_label(&refund.status),
                reason: refund.reason.clone().unwrap_or_default(),
            })
            .collect(),
        id: order.id,
    };
    Ok(visitor.finish(render::page(&req, &page, Caching::NoStore)?))
}
