//! Orders as stored: the rows, loading an order with everything under it, and
//! rendering it for buyers, sellers and staff.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{
    DisputeView, LineView, OrderStatus, OrderView, PartFulfilmentView, PartSettlementView,
    PartView, PaymentView, RefundLineView, RefundPartView, RefundView, SellerOrderView, Shipping,
};
use super::schema::{
    disputes, order_lines, order_parts, orders, part_movements, part_recoveries, refund_lines,
    refund_parts, refunds,
};
use crate::db::{rfc3339, DbConnection};
use crate::error::AppError;
use crate::money::{Currency, Money};

/// Most orders one list call returns.
pub const ORDERS_PAGE_MAX: i64 = 100;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders)]
pub(crate) struct OrderRow {
    pub id: String,
    pub buyer_user_id: String,
    pub buyer_email: String,
    pub currency: String,
    pub total_minor: i64,
    pub status: String,
    pub cancel_reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub shipping: String,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub payment_status: Option<String>,
    pub last_payment_error: Option<String>,
    pub charge_id: Option<String>,
    pub processing_fee_minor: Option<i64>,
    pub refunded_minor: i64,
    pub late_payment_refund_id: Option<String>,
    pub expires_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The payment method the checkout named, to finish its PaymentIntent
    /// with the same request.
    pub checkout_payment_method: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_parts)]
pub(crate) struct PartRow {
    pub id: String,
    pub order_id: String,
    pub shop_id: String,
    pub subtotal_minor: i64,
    pub fee_minor: i64,
    pub fee_rule_version_id: String,
    pub processing_fee_payer: String,
    pub refund_fee_proportionally: bool,
    pub processing_fee_minor: i64,
    pub seller_amount_minor: i64,
    pub refunded_minor: i64,
    pub hold_reason: Option<String>,
    pub needs_settlement: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The position of the part's first line in the cart: parts are listed, and
    /// every split over them breaks ties, in this order.
    pub position: i32,
    /// Who bears the processing fee the provider keeps when the part is refunded.
    pub kept_processing_fee_payer: String,
    /// The part's shipping, included in `subtotal_minor`.
    pub shipping_minor: i64,
    /// How much of `refunded_minor` was shipping.
    pub shipping_refunded_minor: i64,
    /// Days from payment to the ship-by deadline.
    pub handling_days: i32,
    /// `on_payment`, `on_shipment` or `on_delivery`: when the seller's share may leave.
    pub release_policy: String,
    /// Days after shipment a part not confirmed delivered counts as delivered.
    pub release_after_days: i32,
    pub fulfilment_status: String,
    pub ship_by: Option<NaiveDateTime>,
    pub shipped_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
    pub delivered_by: Option<String>,
    /// From this moment the seller's share may be transferred; `None`: held.
    pub released_at: Option<NaiveDateTime>,
    pub late_notified_at: Option<NaiveDateTime>,
    pub canceled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_lines)]
pub(crate) struct LineRow {
    pub id: String,
    pub order_id: String,
    pub part_id: String,
    pub product_id: String,
    pub position: i32,
    pub sku: String,
    pub title: String,
    pub category: String,
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub amount_minor: i64,
    pub refunded_quantity: i64,
    pub restocked_quantity: i64,
    pub shipped_quantity: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub(crate) struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub amount_minor: i64,
    pub reason: Option<String>,
    pub restock: bool,
    pub status: String,
    pub provider_refund_id: Option<String>,
    pub failure_message: Option<String>,
    pub requested_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refund_parts)]
pub(crate) struct RefundPartRow {
    pub refund_id: String,
    pub part_id: String,
    pub amount_minor: i64,
    pub seller_portion_minor: i64,
    /// How much of `amount_minor` is the part's shipping.
    pub shipping_minor: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refund_lines)]
pub(crate) struct RefundLineRow {
    pub refund_id: String,
    pub line_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = disputes)]
pub(crate) struct DisputeRow {
    pub id: String,
    pub order_id: String,
    pub charge_id: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub provider_status: String,
    pub outcome: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub evidence_due_by: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_recoveries)]
pub(crate) struct RecoveryRow {
    pub part_id: String,
    pub cause_kind: String,
    pub cause_id: String,
    pub seller_minor: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_movements)]
pub(crate) struct MovementRow {
    pub id: String,
    pub part_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub reverses_id: Option<String>,
    pub status: String,
    pub provider_id: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A fresh id with a prefix: `ord_`, `opt_`, `oln_`, …
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Whether `id` could be an id with this prefix (anything else is a 404
/// without asking the database).
pub fn has_id_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(crate) fn order_not_found() -> AppError {
    AppError::NotFound { resource: "order" }
}

fn corrupt(what: &str, id: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("order data is invalid: {what} of {id}"))
}

/// Everything stored about one order.
#[derive(Debug, Clone)]
pub(crate) struct OrderRecord {
    pub order: OrderRow,
    pub currency: Currency,
    pub status: OrderStatus,
    pub parts: Vec<PartRow>,
    pub lines: Vec<LineRow>,
    pub refunds: Vec<RefundRow>,
    pub refund_parts: Vec<RefundPartRow>,
    pub refund_lines: Vec<RefundLineRow>,
    pub disputes: Vec<DisputeRow>,
    pub recoveries: Vec<RecoveryRow>,
    pub movements: Vec<MovementRow>,
    /// Each part's shop name, by shop id.
    pub shop_names: std::collections::HashMap<String, String>,
}

/// The order row alone.
pub(crate) fn find_order_row(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<OrderRow>, AppError> {
    Ok(orders::table
        .find(id)
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?)
}

/// An order's parts, in the cart's order (their `position`).
pub(crate) fn parts_of(conn: &mut DbConnection, order_id: &str) -> Result<Vec<PartRow>, AppError> {
    Ok(order_parts::table
        .filter(order_parts::order_id.eq(order_id))
        .order(order_parts::position.asc())
        .select(PartRow::as_select())
        .load(conn)?)
}

impl PartRow {
    /// What a refund of the whole part takes back from its seller: the seller
    /// amount, and, when the seller bears the processing fee the provider keeps
    /// on refunds, the processing fee it bore on the sale (which the provider
    /// does not give back). Partial refunds take back shares of it.
    pub(crate) fn refund_base(&self) -> i64 {
        if self.kept_processing_fee_payer == "seller" && self.processing_fee_payer == "seller" {
            self.subtotal_minor - self.fee_minor
        } else {
            self.seller_amount_minor
        }
    }
}

/// The whole order, or `None`.
pub(crate) fn load_order(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<OrderRecord>, AppError> {
    let Some(order) = find_order_row(conn, id)? else {
        return Ok(None);
    };
    let currency = Currency::parse(&order.currency).map_err(|_| corrupt("currency", id))?;
    let status = OrderStatus::parse(&order.status).ok_or_else(|| corrupt("status", id))?;
    let parts = parts_of(conn, id)?;
    let part_ids: Vec<String> = parts.iter().map(|p| p.id.clone()).collect();
    let lines: Vec<LineRow> = order_lines::table
        .filter(order_lines::order_id.eq(id))
        .order(order_lines::position.asc())
        .select(LineRow::as_select())
        .load(conn)?;
    let refund_rows: Vec<RefundRow> = refunds::table
        .filter(refunds::order_id.eq(id))
        .order((refunds::created_at.asc(), refunds::id.asc()))
        .select(RefundRow::as_select())
        .load(conn)?;
    let refund_ids: Vec<String> = refund_rows.iter().map(|r| r.id.clone()).collect();
    let refund_part_rows = refund_parts::table
        .filter(refund_parts::refund_id.eq_any(&refund_ids))
        .select(RefundPartRow::as_select())
        .load(conn)?;
    let refund_line_rows = refund_lines::table
        .filter(refund_lines::refund_id.eq_any(&refund_ids))
        .select(RefundLineRow::as_select())
        .load(conn)?;
    let dispute_rows = disputes::table
        .filter(disputes::order_id.eq(id))
        .order((disputes::created_at.asc(), disputes::id.asc()))
        .select(DisputeRow::as_select())
        .load(conn)?;
    let recoveries = part_recoveries::table
        .filter(part_recoveries::part_id.eq_any(&part_ids))
        .select(RecoveryRow::as_select())
        .load(conn)?;
    let movements = part_movements::table
        .filter(part_movements::part_id.eq_any(&part_ids))
        .order((part_movements::created_at.asc(), part_movements::id.asc()))
        .select(MovementRow::as_select())
        .load(conn)?;
    let shop_ids: Vec<&str> = parts.iter().map(|p| p.shop_id.as_str()).collect();
    let shop_names = crate::sellers::shop_names(conn, &shop_ids)?;
    Ok(Some(OrderRecord {
        order,
        currency,
        status,
        shop_names,
        parts,
        lines,
        refunds: refund_rows,
        refund_parts: refund_part_rows,
        refund_lines: refund_line_rows,
        disputes: dispute_rows,
        recoveries,
        movements,
    }))
}

/// What a part's seller is owed now and what has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartBalance {
    /// Seller amount − everything taken back (refunds, disputes) + given back (won disputes).
    pub owed: i64,
    /// Succeeded transfers − succeeded reversals.
    pub transferred: i64,
    /// Whether a movement is written but not yet confirmed by the provider.
    pub in_flight: bool,
}

impl PartBalance {
    /// What transfers net of reversals converge on: what is owed, never below
    /// 0 (a reversal cannot take back more than was sent).
    pub fn target(&self) -> i64 {
        self.owed.max(0)
    }

    /// What the seller owes the platform beyond what reversals can take back.
    pub fn owes_back(&self) -> i64 {
        (-self.owed).max(0)
    }

    /// Whether transfers have reached their target and nothing is in flight.
    pub fn settled(&self) -> bool {
        self.transferred == self.target() && !self.in_flight
    }
}

pub(crate) fn part_balance(
    part: &PartRow,
    recoveries: &[RecoveryRow],
    movements: &[MovementRow],
) -> PartBalance {
    let recovered: i64 = recoveries
        .iter()
        .filter(|r| r.part_id == part.id)
        .map(|r| r.seller_minor)
        .sum();
    let mut transferred = 0;
    let mut in_flight = false;
    for m in movements.iter().filter(|m| m.part_id == part.id) {
        match (m.kind.as_str(), m.status.as_str()) {
            ("transfer", "succeeded") => transferred += m.amount_minor,
            ("reversal", "succeeded") => transferred -= m.amount_minor,
            (_, "pending") => in_flight = true,
            _ => {}
        }
    }
    PartBalance {
        owed: part.seller_amount_minor - recovered,
        transferred,
        in_flight,
    }
}

impl OrderRecord {
    fn money(&self, minor: i64) -> Money {
        Money::new(minor, self.currency)
    }

    fn shipping(&self) -> Result<Shipping, AppError> {
        serde_json::from_str(&self.order.shipping).map_err(|_| corrupt("shipping", &self.order.id))
    }

    /// Whether a dispute on the order's charge is not decided yet.
    pub fn disputed(&self) -> bool {
        self.disputes.iter().any(|d| d.outcome == "open")
    }

    fn part_view(&self, part: &PartRow) -> PartView {
        let balance = part_balance(part, &self.recoveries, &self.movements);
        let status = if self.status != OrderStatus::Paid {
            "awaiting_payment"
        } else if balance.settled() {
            "settled"
        } else if part.hold_reason.is_some() {
            "held"
        } else if part.released_at.is_none() && balance.target() > balance.transferred {
            "awaiting_release"
        } else {
            "in_progress"
        };
        PartView {
            id: part.id.clone(),
            shop_id: part.shop_id.clone(),
            shop_name: self
                .shop_names
                .get(&part.shop_id)
                .cloned()
                .unwrap_or_default(),
            status: buyer_part_status(self.status, part),
            subtotal: self.money(part.subtotal_minor),
            items: self.money(part.subtotal_minor - part.shipping_minor),
            shipping: self.money(part.shipping_minor),
            fee: self.money(part.fee_minor),
            fee_rule_version_id: part.fee_rule_version_id.clone(),
            processing_fee_payer: part.processing_fee_payer.clone(),
            refund_fee_proportionally: part.refund_fee_proportionally,
            kept_processing_fee_payer: part.kept_processing_fee_payer.clone(),
            position: part.position,
            processing_fee: self.money(part.processing_fee_minor),
            seller_amount: self.money(part.seller_amount_minor),
            refunded: self.money(part.refunded_minor),
            settlement: PartSettlementView {
                status,
                owed: self.money(balance.owed),
                transferred: self.money(balance.transferred),
                owes_back: self.money(balance.owes_back()),
                hold_reason: part.hold_reason.clone(),
            },
            fulfilment: PartFulfilmentView {
                status: part.fulfilment_status.clone(),
                ship_by: part.ship_by.map(rfc3339),
                late: part.late_notified_at.is_some()
                    && matches!(
                        part.fulfilment_status.as_str(),
                        "unfulfilled" | "partially_shipped"
                    ),
                shipped_at: part.shipped_at.map(rfc3339),
                delivered_at: part.delivered_at.map(rfc3339),
                delivered_by: part.delivered_by.clone(),
                release_policy: part.release_policy.clone(),
                release_after_days: part.release_after_days,
                released_at: part.released_at.map(rfc3339),
                canceled_at: part.canceled_at.map(rfc3339),
                cancel_reason: part.cancel_reason.clone(),
            },
            lines: self
                .lines
                .iter()
                .filter(|l| l.part_id == part.id)
                .map(|l| LineView {
                    id: l.id.clone(),
                    product_id: l.product_id.clone(),
                    sku: l.sku.clone(),
                    title: l.title.clone(),
                    category: l.category.clone(),
                    unit_price: self.money(l.unit_price_minor),
                    quantity: l.quantity,
                    amount: self.money(l.amount_minor),
                    refunded_quantity: l.refunded_quantity,
                    shipped_quantity: l.shipped_quantity,
                })
                .collect(),
        }
    }

    pub fn refund_view(&self, refund: &RefundRow) -> RefundView {
        RefundView {
            id: refund.id.clone(),
            order_id: refund.order_id.clone(),
            amount: self.money(refund.amount_minor),
            status: refund.status.clone(),
            reason: refund.reason.clone(),
            restock: refund.restock,
            provider_refund_id: refund.provider_refund_id.clone(),
            failure_message: refund.failure_message.clone(),
            parts: self
                .refund_parts
                .iter()
                .filter(|p| p.refund_id == refund.id)
                .map(|p| RefundPartView {
                    part_id: p.part_id.clone(),
                    amount: self.money(p.amount_minor),
                    seller_portion: self.money(p.seller_portion_minor),
                    platform_portion: self.money(p.amount_minor - p.seller_portion_minor),
                })
                .collect(),
            lines: self
                .refund_lines
                .iter()
                .filter(|l| l.refund_id == refund.id)
                .map(|l| RefundLineView {
                    line_id: l.line_id.clone(),
                    quantity: l.quantity,
                })
                .collect(),
            created_at: rfc3339(refund.created_at),
        }
    }

    /// The buyer's and staff's view.
    pub fn view(&self) -> Result<OrderView, AppError> {
        let o = &self.order;
        Ok(OrderView {
            id: o.id.clone(),
            status: self.status,
            cancel_reason: o.cancel_reason.clone(),
            buyer_user_id: o.buyer_user_id.clone(),
            buyer_email: o.buyer_email.clone(),
            total: self.money(o.total_minor),
            refunded: self.money(o.refunded_minor),
            shipping: self.shipping()?,
            payment: PaymentView {
                intent_id: o.payment_intent_id.clone(),
                client_secret: o.client_secret.clone(),
                status: o.payment_status.clone(),
                last_error: o.last_payment_error.clone(),
                charge_id: o.charge_id.clone(),
                processing_fee: o.processing_fee_minor.map(|m| self.money(m)),
            },
            parts: self.parts.iter().map(|p| self.part_view(p)).collect(),
            refunds: self.refunds.iter().map(|r| self.refund_view(r)).collect(),
            disputes: self
                .disputes
                .iter()
                .map(|d| DisputeView {
                    id: d.id.clone(),
                    amount: self.money(d.amount_minor),
                    fee: self.money(d.fee_minor),
                    provider_status: d.provider_status.clone(),
                    outcome: d.outcome.clone(),
                    evidence_due_by: d.evidence_due_by.map(rfc3339),
                })
                .collect(),
            disputed: self.disputed(),
            late_payment_refund_id: o.late_payment_refund_id.clone(),
            expires_at: rfc3339(o.expires_at),
            paid_at: o.paid_at.map(rfc3339),
            created_at: rfc3339(o.created_at),
        })
    }

    /// One shop's view of its part.
    pub fn seller_view(&self, shop_id: &str) -> Result<Option<SellerOrderView>, AppError> {
        let Some(part) = self.parts.iter().find(|p| p.shop_id == shop_id) else {
            return Ok(None);
        };
        Ok(Some(SellerOrderView {
            order_id: self.order.id.clone(),
            order_status: self.status,
            shipping: self.shipping()?,
            part: self.part_view(part),
            disputed: self.disputed(),
            created_at: rfc3339(self.order.created_at),
            paid_at: self.order.paid_at.map(rfc3339),
        }))
    }
}

/// Where a part stands for its buyer: the order's status, or how much of
/// the part came back.
fn buyer_part_status(order: OrderStatus, part: &PartRow) -> &'static str {
    match order {
        OrderStatus::Paid if part.refunded_minor >= part.subtotal_minor => "refunded",
        OrderStatus::Paid if part.refunded_minor > 0 => "partially_refunded",
        other => other.as_str(),
    }
}

/// The order if `viewer` may see it whole: its buyer, or staff.
///
/// # Errors
/// 404 for anyone else, so order ids cannot be probed.
pub(crate) fn order_for(
    conn: &mut DbConnection,
    id: &str,
    viewer: &str,
    staff: bool,
) -> Result<OrderRecord, AppError> {
    if !has_id_shape(id, "ord") {
        return Err(order_not_found());
    }
    match load_order(conn, id)? {
        Some(record) if staff || record.order.buyer_user_id == viewer => Ok(record),
        _ => Err(order_not_found()),
    }
}

/// Which orders a list holds.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// A buyer's own orders only (buyers); `None` for staff.
    pub buyer_user_id: Option<String>,
    /// Staff search: the buyer's email (exact, case-insensitive).
    pub buyer_email: Option<String>,
    /// Staff search: orders with a part of this shop.
    pub shop_id: Option<String>,
    pub status: Option<OrderStatus>,
    /// Created at or after.
    pub created_after: Option<NaiveDateTime>,
    /// Created before (the last one seen: the next page).
    pub created_before: Option<NaiveDateTime>,
    /// Staff search: orders with a part of a shop whose name contains this
    /// (case-insensitive; ASCII only on SQLite).
    pub shop_name: Option<String>,
    /// Staff search: only orders with a part whose transfer to its shop is
    /// held (`hold_reason` set: a frozen, restricted or refused shop).
    pub held: bool,
    /// The next page after the last order seen, `(created_at, id)`: older
    /// orders, and orders of the same instant with a smaller id (no order is
    /// skipped when several share an instant).
    pub before_order: Option<(NaiveDateTime, String)>,
}

/// Most shops a shop-name search looks at.
pub const SHOP_NAME_MATCHES_MAX: i64 = 200;

diesel::define_sql_function! {
    /// SQL `lower()`: ASCII only on SQLite.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `text` as a `LIKE` pattern matching it anywhere, with `\` escaping the
/// pattern's own wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page of orders, newest first, by `filter`.
///
/// # Errors
/// A database failure.
pub fn list_orders(
    conn: &mut DbConnection,
    filter: &OrderFilter,
    limit: i64,
) -> Result<Vec<OrderView>, AppError> {
    let mut query = orders::table
        .select(orders::id)
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(limit.clamp(1, ORDERS_PAGE_MAX))
        .into_boxed();
    if let Some(buyer) = &filter.buyer_user_id {
        query = query.filter(orders::buyer_user_id.eq(buyer.clone()));
    }
    if let Some(email) = &filter.buyer_email {
        query = query.filter(orders::buyer_email.eq(email.trim().to_lowercase()));
    }
    if let Some(shop_id) = &filter.shop_id {
        query = query.filter(
            orders::id.eq_any(
                order_parts::table
                    .filter(order_parts::shop_id.eq(shop_id.clone()))
                    .select(order_parts::order_id),
            ),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(orders::status.eq(status.as_str()));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(orders::created_at.ge(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(orders::created_at.lt(before));
    }
    if let Some(name) = filter.shop_name.as_deref().filter(|n| !n.trim().is_empty()) {
        use crate::sellers::schema::shops;
        let shop_ids: Vec<String> = shops::table
            .filter(lower(shops::name).like(contains_pattern(name)).escape('\\'))
            .select(shops::id)
            .order(shops::id.asc())
            .limit(SHOP_NAME_MATCHES_MAX)
            .load(conn)?;
        query = query.filter(
            orders::id.eq_any(
                order_parts::table
                    .filter(order_parts::shop_id.eq_any(shop_ids))
                    .select(order_parts::order_id),
            ),
        );
    }
    if filter.held {
        query = query.filter(
            orders::id.eq_any(
                order_parts::table
                    .filter(order_parts::hold_reason.is_not_null())
                    .select(order_parts::order_id),
            ),
        );
    }
    if let Some((at, id)) = &filter.before_order {
        query = query.filter(
            orders::created_at
                .lt(*at)
                .or(orders::created_at.eq(*at).and(orders::id.lt(id.clone()))),
        );
    }
    let ids: Vec<String> = query.load(conn)?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(record) = load_order(conn, &id)? {
            views.push(record.view()?);
        }
    }
    Ok(views)
}

/// Where a part's parcels stand, as `order_parts.fulfilment_status` holds it.
pub const FULFILMENT_STATUSES: [&str; 5] = [
    "unfulfilled",
    "partially_shipped",
    "shipped",
    "delivered",
    "canceled",
];

/// `value` as one of [`FULFILMENT_STATUSES`] (`""`: no filter), or the 400
/// that names the query parameter `param`.
///
/// # Errors
/// `invalid_query` for any other value.
pub fn parse_fulfilment_status(value: &str, param: &str) -> Result<Option<&'static str>, AppError> {
    if value.is_empty() {
        return Ok(None);
    }
    FULFILMENT_STATUSES
        .into_iter()
        .find(|s| *s == value)
        .map(Some)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_query",
                format!("{param} is {}", FULFILMENT_STATUSES.join(", ")),
                Some(param.into()),
            )
        })
}

/// A shop's parts of orders, newest first, as its seller sees them; with
/// `fulfilment`, only the parts in that state (one of
/// [`FULFILMENT_STATUSES`]).
///
/// # Errors
/// A database failure.
pub fn list_shop_orders(
    conn: &mut DbConnection,
    shop_id: &str,
    fulfilment: Option<&str>,
    before: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<SellerOrderView>, AppError> {
    debug_assert!(fulfilment.is_none_or(|f| FULFILMENT_STATUSES.contains(&f)));
    let mut query = order_parts::table
        .filter(order_parts::shop_id.eq(shop_id.to_owned()))
        .select(order_parts::order_id)
        .order((order_parts::created_at.desc(), order_parts::id.desc()))
        .limit(limit.clamp(1, ORDERS_PAGE_MAX))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(order_parts::created_at.lt(before));
    }
    if let Some(status) = fulfilment {
        query = query.filter(order_parts::fulfilment_status.eq(status.to_owned()));
    }
    let ids: Vec<String> = query.load(conn)?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(view) = load_order(conn, &id)?
            .map(|record| record.seller_view(shop_id))
            .transpose()?
            .flatten()
        {
            views.push(view);
        }
    }
    Ok(views)
}

/// Shop `shop_id`'s part of order `order_id`, as its seller sees it. The
/// caller has checked the shop is the viewer's.
///
/// # Errors
/// 404 when the order has no part of the shop, so ids cannot be probed.
pub fn shop_order(
    conn: &mut DbConnection,
    shop_id: &str,
    order_id: &str,
) -> Result<SellerOrderView, AppError> {
    if !has_id_shape(order_id, "ord") {
        return Err(order_not_found());
    }
    load_order(conn, order_id)?
        .map(|record| record.seller_view(shop_id))
        .transpose()?
        .flatten()
        .ok_or_else(order_not_found)
}

/// Orders by id, for callers that already hold the ids (sweeps).
pub(crate) fn ids_where_status(
    conn: &mut DbConnection,
    status: OrderStatus,
    expiring_by: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<String>, AppError> {
    let mut query = orders::table
        .filter(orders::status.eq(status.as_str()))
        .select(orders::id)
        .order(orders::expires_at.asc())
        .limit(limit)
        .into_boxed();
    if let Some(by) = expiring_by {
        query = query.filter(orders::expires_at.le(by));
    }
    Ok(query.load(conn)?)
}

/// What a shop was charged on its paid orders, per currency: platform fees
/// and the processing fees its fee rule made it bear (each part's subtotal −
/// seller amount), and dispute fees recovered from it (unless the dispute was
/// won, which gives them back).
///
/// # Errors
/// A database failure.
pub fn fees_charged(
    conn: &mut DbConnection,
    shop_id: &str,
) -> Result<std::collections::BTreeMap<String, i64>, AppError> {
    let parts: Vec<(String, i64, i64)> = order_parts::table
        .inner_join(orders::table)
        .filter(order_parts::shop_id.eq(shop_id))
        .filter(orders::status.eq(OrderStatus::Paid.as_str()))
        .select((
            orders::currency,
            order_parts::subtotal_minor,
            order_parts::seller_amount_minor,
        ))
        .load(conn)?;
    let recoveries: Vec<(String, String, String, String, i64)> = part_recoveries::table
        .inner_join(order_parts::table.inner_join(orders::table))
        .filter(order_parts::shop_id.eq(shop_id))
        .filter(part_recoveries::cause_kind.eq_any(["dispute_fee", "dispute_won"]))
        .select((
            orders::currency,
            part_recoveries::part_id,
            part_recoveries::cause_kind,
            part_recoveries::cause_id,
            part_recoveries::seller_minor,
        ))
        .load(conn)?;
    let won = |part: &str, dispute: &str| {
        recoveries
            .iter()
            .any(|(_, p, kind, d, _)| p == part && d == dispute && kind == "dispute_won")
    };
    let dispute_fees: Vec<(String, i64)> = recoveries
        .iter()
        .filter(|(_, part, kind, dispute, _)| kind == "dispute_fee" && !won(part, dispute))
        .map(|(currency, _, _, _, fee)| (currency.clone(), *fee))
        .collect();
    let mut fees = std::collections::BTreeMap::new();
    for (currency, subtotal, seller_amount) in parts {
        *fees.entry(currency).or_insert(0) += subtotal - seller_amount;
    }
    for (currency, fee) in dispute_fees {
        *fees.entry(currency).or_insert(0) += fee;
    }
    Ok(fees)
}

/// What refunds gave back of the fees a shop was charged, per currency: for
/// each succeeded refund of one of its parts, the refunded amount the seller
/// did not give back (the platform fee returned in proportion, and a processing
/// fee the platform bears on refunds).
///
/// # Errors
/// A database failure.
pub fn fees_refunded(
    conn: &mut DbConnection,
    shop_id: &str,
) -> Result<std::collections::BTreeMap<String, i64>, AppError> {
    let rows: Vec<(String, i64, i64)> = refund_parts::table
        .inner_join(refunds::table)
        .inner_join(order_parts::table.on(order_parts::id.eq(refund_parts::part_id)))
        .inner_join(orders::table.on(orders::id.eq(order_parts::order_id)))
        .filter(order_parts::shop_id.eq(shop_id))
        .filter(refunds::status.eq("succeeded"))
        .select((
            orders::currency,
            refund_parts::amount_minor,
            refund_parts::seller_portion_minor,
        ))
        .load(conn)?;
    let mut fees = std::collections::BTreeMap::new();
    for (currency, amount, seller_portion) in rows {
        *fees.entry(currency).or_insert(0) += amount - seller_portion;
    }
    Ok(fees)
}
