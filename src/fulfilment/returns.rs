//! Returns: a buyer sends delivered units of one part back, and is refunded
//! through the refund path when the seller receives them.
//!
//! `requested → approved → shipped_back → received`, or `requested →
//! refused`; a return may also be received straight from `approved` (a
//! parcel handed over without tracking). The buyer requests and sends
//! tracking; the part's seller approves (with the address to send to),
//! refuses and receives; staff (operators, support) may take either side.
//! Each change is one write transaction with its audit row and its email.
//!
//! Receiving refunds the return's lines (and, under the shop's policy, what
//! is left of the part's shipping) under the key `return:{id}`, before the
//! return is marked received: a receive retried after a crash finds the same
//! refund, and two receives at once share one refund and one of them is
//! refused. See `docs/returns.md`.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::schema::{return_lines, returns, shipment_lines, shipments};
use super::{
    emails, part_for, text_field, tracking_url, Actor, PartOf, Standing, TRACKING_FIELD_CHARS_MAX,
};
use crate::db::{self, rfc3339, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::http::text::{display_text, Lines};
use crate::money::{Currency, Money};
use crate::orders::model::{RefundLineRequest, RefundRequest};
use crate::orders::refunds::{self, Refunder};
use crate::orders::schema::{order_lines, order_parts, orders, refunds as refund_rows};
use crate::orders::store::{self, LineRow};
use crate::payments::Provider;

/// Longest reason for a return, or for refusing one.
pub const REASON_CHARS_MAX: usize = 500;
/// Longest return address (several lines).
pub const RETURN_ADDRESS_CHARS_MAX: usize = 500;
/// Most lines one return lists.
pub const RETURN_LINES_MAX: usize = 50;
/// Most returns one list call answers.
pub const RETURNS_PAGE_MAX: i64 = 100;
/// A return's id is `ret_` + 32 hex digits.
const ID_PREFIX: &str = "ret";

/// Where a return stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// The buyer asked; the seller decides.
    Requested,
    /// The seller gave the address to send the units to.
    Approved,
    /// The seller said no (final).
    Refused,
    /// The buyer sent the units back, with tracking.
    ShippedBack,
    /// The seller has the units; the refund was made (final).
    Received,
}

impl ReturnStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Requested,
        Self::Approved,
        Self::Refused,
        Self::ShippedBack,
        Self::Received,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Refused => "refused",
            Self::ShippedBack => "shipped_back",
            Self::Received => "received",
        }
    }

    /// Parses a stored or queried name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

fn conflict(code: &'static str, message: String) -> AppError {
    AppError::Conflict { code, message }
}

fn not_found() -> AppError {
    AppError::NotFound { resource: "return" }
}

/// One line of a return request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineRequest {
    /// A line of the order (`oln_…`).
    pub line_id: String,
    /// Units to send back: at most those delivered and neither refunded nor
    /// in another return.
    pub quantity: i64,
}

/// `POST /v1/orders/{id}/returns`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The part the lines belong to; derived from the lines when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_id: Option<String>,
    /// 1 to 50 lines, all of one part.
    pub lines: Vec<ReturnLineRequest>,
    /// 1 to 500 characters, one line.
    pub reason: String,
}

/// A return request, checked in shape (quantities are checked against the
/// order when it is recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturn {
    pub part_id: Option<String>,
    /// `(line_id, quantity)`, as listed.
    pub lines: Vec<(String, i64)>,
    pub reason: String,
}

impl ReturnRequest {
    /// Checks the request's shape.
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field.
    pub fn parse(&self) -> Result<NewReturn, AppError> {
        if self.lines.is_empty() || self.lines.len() > RETURN_LINES_MAX {
            return Err(invalid(
                "lines",
                format!("lines lists 1 to {RETURN_LINES_MAX} lines"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            if !(1..=crate::catalog::QUANTITY_MAX).contains(&line.quantity) {
                return Err(invalid(
                    &format!("lines[{i}].quantity"),
                    format!("quantity is 1 to {}", crate::catalog::QUANTITY_MAX),
                ));
            }
            if !seen.insert(line.line_id.as_str()) {
                return Err(invalid(
                    &format!("lines[{i}].line_id"),
                    "a line is listed twice",
                ));
            }
        }
        let reason = display_text("reason", &self.reason, 1, REASON_CHARS_MAX, Lines::Single)?;
        Ok(NewReturn {
            part_id: self.part_id.clone(),
            lines: self
                .lines
                .iter()
                .map(|l| (l.line_id.clone(), l.quantity))
                .collect(),
            reason,
        })
    }
}

/// `POST /v1/returns/{id}/approve`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Where the buyer sends the units: 1 to 500 characters, several lines allowed.
    pub return_address: String,
}

impl ApproveRequest {
    /// The checked address (CRLF kept as LF).
    ///
    /// # Errors
    /// 422 `invalid_value`, param `return_address`.
    pub fn parse(&self) -> Result<String, AppError> {
        display_text(
            "return_address",
            &self.return_address,
            1,
            RETURN_ADDRESS_CHARS_MAX,
            Lines::Multi,
        )
    }
}

/// `POST /v1/returns/{id}/refuse`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseRequest {
    /// Told to the buyer: 1 to 500 characters, one line.
    pub reason: String,
}

impl RefuseRequest {
    /// The checked reason.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `reason`.
    pub fn parse(&self) -> Result<String, AppError> {
        display_text("reason", &self.reason, 1, REASON_CHARS_MAX, Lines::Single)
    }
}

/// `POST /v1/returns/{id}/tracking`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingRequest {
    /// 1 to 100 characters, e.g. `UPS`.
    pub carrier: String,
    /// 1 to 100 characters.
    pub tracking_number: String,
    /// An `http` or `https` link of at most 2,000 characters (422
    /// `invalid_tracking_url` otherwise).
    #[serde(default)]
    pub tracking_url: Option<String>,
}

/// How the returned parcel travels, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: Option<String>,
}

impl TrackingRequest {
    /// The checked tracking (an empty URL counts as none).
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field, or `invalid_tracking_url`.
    pub fn parse(&self) -> Result<Tracking, AppError> {
        Ok(Tracking {
            carrier: text_field("carrier", &self.carrier, TRACKING_FIELD_CHARS_MAX)?,
            tracking_number: text_field(
                "tracking_number",
                &self.tracking_number,
                TRACKING_FIELD_CHARS_MAX,
            )?,
            tracking_url: self
                .tracking_url
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(|url| tracking_url("tracking_url", url))
                .transpose()?,
        })
    }
}

/// `POST /v1/returns/{id}/receive`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRequest {
    /// Put the returned units back into stock.
    pub restock: bool,
}

/// Units of one line in a return.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnLineView {
    pub line_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub amount: Money,
}

/// The refund a received return caused.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnRefundView {
    pub id: String,
    /// The lines' amount, plus what was left of the part's shipping when the
    /// shop's policy refunds it.
    pub amount: Money,
    /// `pending` (the provider was unreachable; the sweep sends it),
    /// `succeeded` or `failed`.
    pub status: String,
}

/// A return, as its buyer, the part's seller and staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnView {
    pub id: String,
    pub order_id: String,
    pub part_id: String,
    pub shop_id: String,
    pub status: ReturnStatus,
    /// The buyer's reason.
    pub reason: String,
    /// The seller's reason, once refused.
    pub refusal_reason: Option<String>,
    /// Where to send the units, once approved.
    pub return_address: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    /// Whether the units went back into stock (set when received).
    pub restock: bool,
    pub lines: Vec<ReturnLineView>,
    /// The lines at their unit prices (the refund may add shipping).
    pub amount: Money,
    /// Set when received.
    pub refund: Option<ReturnRefundView>,
    pub created_at: String,
    pub updated_at: String,
}

/// A return and whether it answers an earlier request under the same key.
#[derive(Debug)]
pub struct ReturnOutcome {
    pub view: ReturnView,
    pub replayed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = returns)]
struct ReturnRow {
    id: String,
    order_id: String,
    part_id: String,
    status: String,
    reason: String,
    refusal_reason: Option<String>,
    return_address: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    restock: bool,
    refund_id: Option<String>,
    requested_by: String,
    decided_by: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = return_lines)]
struct ReturnLineRow {
    return_id: String,
    line_id: String,
    quantity: i64,
}

/// The return's id under an Idempotency-Key: the same order, requester and
/// key always name the same return, so a retry finds it.
fn return_id_for(order_id: &str, requester: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("return\n{order_id}\n{requester}\n{key}").as_bytes());
    format!("{ID_PREFIX}_{}", &hex::encode(digest)[..32])
}

/// The refund's Idempotency-Key: one refund per return, however often
/// receiving it is retried.
fn refund_key(return_id: &str) -> String {
    format!("return:{return_id}")
}

/// Units of a line a new return may still ask for: what was delivered, less
/// what was refunded other than through returns (units refunded before
/// shipping were never delivered, hence the `min`), less what returns
/// already hold (open or received).
fn units_left(
    quantity: i64,
    delivered: i64,
    refunded: i64,
    refunded_by_returns: i64,
    held_by_returns: i64,
) -> i64 {
    let refunded_otherwise = refunded - refunded_by_returns;
    assert!(
        refunded_otherwise >= 0,
        "a line's refunded units include its received returns' refunds"
    );
    assert!(
        delivered <= quantity,
        "no more units delivered than ordered"
    );
    (delivered.min(quantity - refunded_otherwise) - held_by_returns).max(0)
}

/// 409 unless the return window is open at `now`.
fn window_open(
    window_days: i32,
    delivered_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if window_days <= 0 {
        return Err(conflict(
            "returns_not_accepted",
            "this shop does not take returns".into(),
        ));
    }
    let closes = delivered_at + chrono::Duration::days(i64::from(window_days));
    if now > closes {
        return Err(conflict(
            "return_window_closed",
            format!(
                "returns to this shop are accepted for {window_days} days after delivery; the window closed at {}",
                rfc3339(closes)
            ),
        ));
    }
    Ok(())
}

/// 409 `return_state` unless the return is in one of `allowed`.
fn require_status(row: &ReturnRow, allowed: &[ReturnStatus], step: &str) -> Result<(), AppError> {
    if allowed.iter().any(|s| s.as_str() == row.status) {
        return Ok(());
    }
    let wanted: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(conflict(
        "return_state",
        format!(
            "the return is {}; {step} needs it {}",
            row.status,
            wanted.join(" or ")
        ),
    ))
}

/// Which side of a return a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buyer,
    Seller,
}

/// 403 unless the actor takes `side` (staff take either).
fn require_side(actor: &Actor, side: Side) -> Result<(), AppError> {
    match (&actor.standing, side) {
        (Standing::Staff, _)
        | (Standing::Buyer, Side::Buyer)
        | (Standing::Seller(_), Side::Seller) => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn find_row(conn: &mut DbConnection, id: &str) -> Result<Option<ReturnRow>, AppError> {
    Ok(returns::table
        .find(id)
        .select(ReturnRow::as_select())
        .first(conn)
        .optional()?)
}

/// The return and its part if `actor` may see it: the order's buyer, a seller
/// of the part's shop, or staff. 404 for anyone else, so ids cannot be probed.
fn return_for(
    conn: &mut DbConnection,
    id: &str,
    actor: &Actor,
) -> Result<(ReturnRow, PartOf), AppError> {
    if !store::has_id_shape(id, ID_PREFIX) {
        return Err(not_found());
    }
    let row = find_row(conn, id)?.ok_or_else(not_found)?;
    match part_for(conn, &row.order_id, &row.part_id, actor) {
        Ok(part) => Ok((row, part)),
        Err(AppError::NotFound { .. }) => Err(not_found()),
        Err(other) => Err(other),
    }
}

/// 409 `return_state` when the conditional update found the return moved on.
fn moved_on(conn: &mut DbConnection, id: &str, updated: usize) -> Result<(), AppError> {
    if updated == 1 {
        return Ok(());
    }
    let status = find_row(conn, id)?.map_or_else(|| "gone".to_owned(), |row| row.status);
    Err(conflict(
        "return_state",
        format!("the return changed meanwhile; it is {status}"),
    ))
}

/// What returns of the part may still ask for, per line id.
fn returnable(
    conn: &mut DbConnection,
    part_id: &str,
    lines: &[LineRow],
) -> Result<HashMap<String, i64>, AppError> {
    let delivered: Vec<(String, i64)> = shipment_lines::table
        .inner_join(shipments::table)
        .filter(shipments::part_id.eq(part_id))
        .filter(shipments::status.eq("delivered"))
        .select((shipment_lines::line_id, shipment_lines::quantity))
        .load(conn)?;
    let held: Vec<(String, i64, String, Option<String>)> = return_lines::table
        .inner_join(returns::table)
        .filter(returns::part_id.eq(part_id))
        .filter(returns::status.ne(ReturnStatus::Refused.as_str()))
        .select((
            return_lines::line_id,
            return_lines::quantity,
            returns::status,
            returns::refund_id,
        ))
        .load(conn)?;
    let refund_ids: Vec<&str> = held.iter().filter_map(|h| h.3.as_deref()).collect();
    // A failed refund gave its units back to the line's refundable count.
    let failed: Vec<String> = refund_rows::table
        .filter(refund_rows::id.eq_any(&refund_ids))
        .filter(refund_rows::status.eq("failed"))
        .select(refund_rows::id)
        .load(conn)?;
    let mut left = HashMap::new();
    for line in lines.iter().filter(|l| l.part_id == part_id) {
        let delivered_units: i64 = delivered
            .iter()
            .filter(|(id, _)| *id == line.id)
            .map(|(_, q)| q)
            .sum();
        let of_line = held.iter().filter(|h| h.0 == line.id);
        let held_units: i64 = of_line.clone().map(|h| h.1).sum();
        let refunded_by_returns: i64 = of_line
            .filter(|h| h.2 == ReturnStatus::Received.as_str())
            .filter(|h| h.3.as_ref().is_some_and(|id| !failed.contains(id)))
            .map(|h| h.1)
            .sum();
        left.insert(
            line.id.clone(),
            units_left(
                line.quantity,
                delivered_units,
                line.refunded_quantity,
                refunded_by_returns,
                held_units,
            ),
        );
    }
    Ok(left)
}

/// Whether a stored return is what `request` asks for (a replay).
fn same_request(
    conn: &mut DbConnection,
    row: &ReturnRow,
    request: &NewReturn,
) -> Result<bool, AppError> {
    let mut stored: Vec<(String, i64)> = return_lines::table
        .filter(return_lines::return_id.eq(&row.id))
        .select((return_lines::line_id, return_lines::quantity))
        .load(conn)?;
    stored.sort();
    let mut asked = request.lines.clone();
    asked.sort();
    Ok(stored == asked
        && row.reason == request.reason
        && request.part_id.as_ref().is_none_or(|p| *p == row.part_id))
}

/// Records a buyer's return of delivered units of one part, judged at `now`
/// (the provider's clock). The same `key` from the same requester answers
/// the same return.
///
/// # Errors
/// 404 for an order the actor may not see; 422 `unknown_line`,
/// `unknown_part`, `return_lines_span_parts`, `return_exceeds_delivered`;
/// 409 `order_disputed`, `not_delivered`, `returns_not_accepted`,
/// `return_window_closed`, `idempotency_key_reused`.
#[tracing::instrument(skip(conn, actor, request))]
pub fn request_return(
    conn: &mut DbConnection,
    order_id: &str,
    actor: &Actor,
    key: &str,
    request: &NewReturn,
    now: NaiveDateTime,
) -> Result<ReturnOutcome, AppError> {
    if !store::has_id_shape(order_id, "ord") {
        return Err(store::order_not_found());
    }
    require_side(actor, Side::Buyer)?;
    let id = return_id_for(order_id, &actor.user_id, key);
    let replayed = db::write_transaction(conn, |conn| {
        // Returns of one order are judged against each other's units.
        db::serialize_on(conn, &format!("returns:{order_id}"))?;
        let staff = matches!(actor.standing, Standing::Staff);
        let record = store::order_for(conn, order_id, &actor.user_id, staff)?;
        if let Some(existing) = find_row(conn, &id)? {
            return if same_request(conn, &existing, request)? {
                Ok(true)
            } else {
                Err(conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different return; use a new key".into(),
                ))
            };
        }
        let mut part_id = match &request.part_id {
            Some(asked) if !record.parts.iter().any(|p| p.id == *asked) => {
                return Err(AppError::unprocessable(
                    "unknown_part",
                    format!("part {asked} is not a part of this order"),
                    Some("part_id".into()),
                ))
            }
            asked => asked.clone(),
        };
        let mut asked = Vec::with_capacity(request.lines.len());
        for (i, (line_id, quantity)) in request.lines.iter().enumerate() {
            let line = record
                .lines
                .iter()
                .find(|l| l.id == *line_id)
                .ok_or_else(|| {
                    AppError::unprocessable(
                        "unknown_line",
                        format!("line {line_id} is not a line of this order"),
                        Some(format!("lines[{i}].line_id")),
                    )
                })?;
            match &part_id {
                None => part_id = Some(line.part_id.clone()),
                Some(part) if *part != line.part_id => {
                    return Err(AppError::unprocessable(
                        "return_lines_span_parts",
                        format!(
                            "line {line_id} belongs to another shop's part; one return holds lines of one part ({part})"
                        ),
                        Some(format!("lines[{i}].line_id")),
                    ))
                }
                Some(_) => {}
            }
            asked.push((i, line, *quantity));
        }
        let part = record
            .parts
            .iter()
            .find(|p| part_id.as_deref() == Some(p.id.as_str()))
            .expect("a return's lines name a part of the order");
        if record.disputes.iter().any(|d| d.outcome != "won") {
            return Err(conflict(
                "order_disputed",
                "the order's payment is disputed; the dispute decides what the buyer gets back"
                    .into(),
            ));
        }
        let delivered_at = part
            .delivered_at
            .filter(|_| part.fulfilment_status == "delivered")
            .ok_or_else(|| {
                conflict(
                    "not_delivered",
                    format!(
                        "only delivered parts are returned; this one is {}",
                        part.fulfilment_status
                    ),
                )
            })?;
        let policy = crate::shipping::return_policy(conn, &part.shop_id)?;
        window_open(policy.window_days, delivered_at, now)?;
        let left = returnable(conn, &part.id, &record.lines)?;
        for (i, line, quantity) in &asked {
            let units = left.get(&line.id).copied().unwrap_or(0);
            if *quantity > units {
                return Err(AppError::unprocessable(
                    "return_exceeds_delivered",
                    format!(
                        "line {} has {units} delivered unit(s) that are neither refunded nor in another return; {quantity} asked for",
                        line.id
                    ),
                    Some(format!("lines[{i}].quantity")),
                ));
            }
        }
        let at = db::now();
        diesel::insert_into(returns::table)
            .values(&ReturnRow {
                id: id.clone(),
                order_id: order_id.to_owned(),
                part_id: part.id.clone(),
                status: ReturnStatus::Requested.as_str().into(),
                reason: request.reason.clone(),
                refusal_reason: None,
                return_address: None,
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                restock: false,
                refund_id: None,
                requested_by: actor.user_id.clone(),
                decided_by: None,
                created_at: at,
                updated_at: at,
            })
            .execute(conn)?;
        for (_, line, quantity) in &asked {
            diesel::insert_into(return_lines::table)
                .values(&ReturnLineRow {
                    return_id: id.clone(),
                    line_id: line.id.clone(),
                    quantity: *quantity,
                })
                .execute(conn)?;
        }
        let lines: Vec<_> = asked
            .iter()
            .map(
                |(_, line, quantity)| serde_json::json!({"line_id": line.id, "quantity": quantity}),
            )
            .collect();
        crate::auth::record_audit(
            conn,
            actor.audit("return.request", &id).after(serde_json::json!({
                "status": ReturnStatus::Requested.as_str(),
                "order_id": order_id,
                "part_id": part.id,
                "lines": lines,
            })),
        )?;
        emails::return_changed(conn, &id)?;
        announce(conn, &id, EventType::ReturnRequested)?;
        Ok(false)
    })?;
    Ok(ReturnOutcome {
        view: view_of(conn, &id)?,
        replayed,
    })
}

/// One step of a return's life.
struct Step<'a> {
    /// Whose step it is (staff take either side's).
    side: Side,
    /// The statuses it is taken from.
    from: &'a [ReturnStatus],
    /// For the 409: "approving needs it requested".
    doing: &'a str,
    /// The audit action.
    action: &'a str,
    /// The audit row's state after.
    after: serde_json::Value,
}

/// What the audit log keeps of a return before a step.
fn audited_state(row: &ReturnRow) -> serde_json::Value {
    serde_json::json!({
        "status": row.status,
        "return_address": row.return_address,
        "carrier": row.carrier,
        "tracking_number": row.tracking_number,
        "tracking_url": row.tracking_url,
        "refund_id": row.refund_id,
    })
}

/// Takes `step` in one write transaction: who may and from where checked,
/// `update` (the row's change, conditional on its status being the one read)
/// applied, the audit row and the email written.
fn take_step(
    conn: &mut DbConnection,
    return_id: &str,
    actor: &Actor,
    step: Step<'_>,
    update: impl FnOnce(&mut DbConnection, &ReturnRow) -> QueryResult<usize>,
) -> Result<ReturnView, AppError> {
    db::write_transaction(conn, |conn| {
        let (row, _) = return_for(conn, return_id, actor)?;
        require_side(actor, step.side)?;
        require_status(&row, step.from, step.doing)?;
        let updated = update(conn, &row)?;
        moved_on(conn, &row.id, updated)?;
        let now_status = find_row(conn, &row.id)?.map(|r| r.status);
        // A step that keeps the status (a tracking corrected) tells nobody.
        let kind = match now_status.as_deref().and_then(ReturnStatus::parse) {
            _ if now_status.as_deref() == Some(row.status.as_str()) => None,
            Some(ReturnStatus::Approved) => Some(EventType::ReturnApproved),
            Some(ReturnStatus::Refused) => Some(EventType::ReturnRefused),
            Some(ReturnStatus::ShippedBack) => Some(EventType::ReturnShippedBack),
            Some(ReturnStatus::Received) => Some(EventType::ReturnReceived),
            _ => None,
        };
        if let Some(kind) = kind {
            announce(conn, &row.id, kind)?;
        }
        crate::auth::record_audit(
            conn,
            actor
                .audit(step.action, &row.id)
                .before(audited_state(&row))
                .after(step.after),
        )?;
        emails::return_changed(conn, &row.id)
    })?;
    view_of(conn, return_id)
}

/// Records `kind` about the return, as the API answers about it, seen by its
/// shop.
fn announce(conn: &mut DbConnection, return_id: &str, kind: EventType) -> Result<(), AppError> {
    use crate::events::outbox::{self, NewEvent};
    let view = view_of(conn, return_id)?;
    let data = crate::orders::events::payload(&view)?;
    outbox::emit(
        conn,
        NewEvent::new(kind, data)
            .order(&view.order_id)
            .shop(&view.shop_id),
    )?;
    Ok(())
}

/// The return's row while its status is still the one read.
type Still<'a> = diesel::dsl::Filter<
    diesel::dsl::Find<returns::table, &'a str>,
    diesel::dsl::Eq<returns::status, &'a str>,
>;

/// The row of `row`'s return, while its status is still the one read: an
/// update through it touches nothing if another request moved the return on.
fn still(row: &ReturnRow) -> Still<'_> {
    returns::table
        .find(row.id.as_str())
        .filter(returns::status.eq(row.status.as_str()))
}

/// The seller (or staff) accepts the return and says where to send it.
///
/// # Errors
/// 404 for a return the actor may not see; 403 for a buyer; 409 `return_state`.
pub fn approve(
    conn: &mut DbConnection,
    return_id: &str,
    actor: &Actor,
    return_address: &str,
) -> Result<ReturnView, AppError> {
    let step = Step {
        side: Side::Seller,
        from: &[ReturnStatus::Requested],
        doing: "approving",
        action: "return.approve",
        after: serde_json::json!({
            "status": ReturnStatus::Approved.as_str(),
            "return_address": return_address,
        }),
    };
    take_step(conn, return_id, actor, step, |conn, row| {
        diesel::update(still(row))
            .set((
                returns::status.eq(ReturnStatus::Approved.as_str()),
                returns::return_address.eq(return_address),
                returns::decided_by.eq(&actor.user_id),
                returns::updated_at.eq(db::now()),
            ))
            .execute(conn)
    })
}

/// The seller (or staff) refuses the return, saying why.
///
/// # Errors
/// 404 for a return the actor may not see; 403 for a buyer; 409 `return_state`.
pub fn refuse(
    conn: &mut DbConnection,
    return_id: &str,
    actor: &Actor,
    reason: &str,
) -> Result<ReturnView, AppError> {
    let step = Step {
        side: Side::Seller,
        from: &[ReturnStatus::Requested],
        doing: "refusing",
        action: "return.refuse",
        after: serde_json::json!({
            "status": ReturnStatus::Refused.as_str(),
            "refusal_reason": reason,
        }),
    };
    take_step(conn, return_id, actor, step, |conn, row| {
        diesel::update(still(row))
            .set((
                returns::status.eq(ReturnStatus::Refused.as_str()),
                returns::refusal_reason.eq(reason),
                returns::decided_by.eq(&actor.user_id),
                returns::updated_at.eq(db::now()),
            ))
            .execute(conn)
    })
}

/// The buyer (or staff) says how the units travel back; sent again while
/// `shipped_back`, it corrects the tracking.
///
/// # Errors
/// 404 for a return the actor may not see; 403 for a seller; 409 `return_state`.
pub fn add_tracking(
    conn: &mut DbConnection,
    return_id: &str,
    actor: &Actor,
    tracking: &Tracking,
) -> Result<ReturnView, AppError> {
    let step = Step {
        side: Side::Buyer,
        from: &[ReturnStatus::Approved, ReturnStatus::ShippedBack],
        doing: "sending tracking",
        action: "return.tracking",
        after: serde_json::json!({
            "status": ReturnStatus::ShippedBack.as_str(),
            "carrier": tracking.carrier,
            "tracking_number": tracking.tracking_number,
            "tracking_url": tracking.tracking_url,
        }),
    };
    take_step(conn, return_id, actor, step, |conn, row| {
        diesel::update(still(row))
            .set((
                returns::status.eq(ReturnStatus::ShippedBack.as_str()),
                returns::carrier.eq(&tracking.carrier),
                returns::tracking_number.eq(&tracking.tracking_number),
                returns::tracking_url.eq(&tracking.tracking_url),
                returns::updated_at.eq(db::now()),
            ))
            .execute(conn)
    })
}

/// The statuses a return is received from.
const RECEIVABLE: &[ReturnStatus] = &[ReturnStatus::Approved, ReturnStatus::ShippedBack];

/// The seller (or staff) has the units back: the buyer is refunded the
/// return's lines (and, under the shop's policy, what is left of the part's
/// shipping) through the refund path, and the return is `received` with that
/// refund. A provider that is unreachable leaves the refund `pending` (the
/// sweep sends it); one that refuses leaves it `failed`, shown on the return.
///
/// # Errors
/// 404 for a return the actor may not see; 403 for a buyer; 409
/// `return_state` (a second receive among them: it never refunds twice); the
/// refund path's refusals (`order_disputed`, `refund_exceeds_remaining`…),
/// with nothing changed.
#[tracing::instrument(skip(pool, provider, actor))]
pub async fn receive(
    pool: &DbPool,
    provider: &dyn Provider,
    return_id: &str,
    actor: Actor,
    restock: bool,
) -> Result<ReturnView, AppError> {
    let (row, shop_id, lines, policy) = {
        let (id, actor) = (return_id.to_owned(), actor.clone());
        db::run(pool, move |conn| {
            let (row, part) = return_for(conn, &id, &actor)?;
            require_side(&actor, Side::Seller)?;
            require_status(&row, RECEIVABLE, "receiving")?;
            let lines: Vec<(String, i64)> = return_lines::table
                .inner_join(order_lines::table)
                .filter(return_lines::return_id.eq(&id))
                .order(order_lines::position.asc())
                .select((return_lines::line_id, return_lines::quantity))
                .load(conn)?;
            let policy = crate::shipping::return_policy(conn, &part.part.shop_id)?;
            Ok((row, part.part.shop_id, lines, policy))
        })
        .await?
    };
    let request = RefundRequest {
        lines: Some(
            lines
                .into_iter()
                .map(|(line_id, quantity)| RefundLineRequest { line_id, quantity })
                .collect(),
        ),
        part_id: None,
        amount_minor: None,
        restock,
        shipping: policy.refunds_shipping,
        reason: Some(format!("return {}", row.id)),
    };
    let refunder = Refunder {
        user_id: actor.user_id.clone(),
        shops: match actor.standing {
            Standing::Staff => None,
            _ => Some(vec![shop_id]),
        },
        context: actor.context.clone(),
    };
    let key = refund_key(&row.id);
    let refunded = refunds::refund(
        pool,
        provider,
        &row.order_id,
        refunder,
        key.clone(),
        request,
    )
    .await;
    // Whatever the answer, a refund stored under the key was reserved: the
    // return is received with it (a provider's refusal shows on it as failed).
    let stored: Option<(String, bool)> = {
        let order_id = row.order_id.clone();
        db::run(pool, move |conn| {
            Ok(refund_rows::table
                .filter(refund_rows::order_id.eq(&order_id))
                .filter(refund_rows::idempotency_key.eq(&key))
                .select((refund_rows::id, refund_rows::restock))
                .first(conn)
                .optional()?)
        })
        .await?
    };
    let Some((refund_id, restocked)) = stored else {
        return Err(refunded.err().unwrap_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "return {}: refund answered, none stored",
                row.id
            ))
        }));
    };
    if let Err(error) = &refunded {
        tracing::warn!(%error, return_id, refund_id = %refund_id, "return received; its refund did not succeed");
    }
    let id = row.id.clone();
    db::run(pool, move |conn| {
        let step = Step {
            side: Side::Seller,
            from: RECEIVABLE,
            doing: "receiving",
            action: "return.receive",
            after: serde_json::json!({
                "status": ReturnStatus::Received.as_str(),
                "restock": restocked,
                "refund_id": refund_id,
            }),
        };
        take_step(conn, &id, &actor, step, |conn, row| {
            diesel::update(still(row))
                .set((
                    returns::status.eq(ReturnStatus::Received.as_str()),
                    returns::restock.eq(restocked),
                    returns::refund_id.eq(&refund_id),
                    returns::updated_at.eq(db::now()),
                ))
                .execute(conn)
        })
    })
    .await
}

/// A return, if `actor` may see it.
///
/// # Errors
/// 404 for anyone but the order's buyer, the part's seller and staff.
pub fn get_return(
    conn: &mut DbConnection,
    return_id: &str,
    actor: &Actor,
) -> Result<ReturnView, AppError> {
    let (row, _) = return_for(conn, return_id, actor)?;
    Ok(views_of(conn, vec![row])?.remove(0))
}

/// Every return of an order, oldest first, without asking who looks: for
/// views that already checked (the order's own view embeds them).
///
/// # Errors
/// A database failure.
pub fn returns_of_order(
    conn: &mut DbConnection,
    order_id: &str,
) -> Result<Vec<ReturnView>, AppError> {
    let rows: Vec<ReturnRow> = returns::table
        .filter(returns::order_id.eq(order_id))
        .order((returns::created_at.asc(), returns::id.asc()))
        .select(ReturnRow::as_select())
        .load(conn)?;
    views_of(conn, rows)
}

/// The returns of an order `actor` may see: all for its buyer and staff, its
/// own part's for a seller.
///
/// # Errors
/// 404 for an order the actor has no part in.
pub fn returns_of_order_for(
    conn: &mut DbConnection,
    order_id: &str,
    actor: &Actor,
) -> Result<Vec<ReturnView>, AppError> {
    if !store::has_id_shape(order_id, "ord") {
        return Err(store::order_not_found());
    }
    let all = match &actor.standing {
        Standing::Staff => store::order_for(conn, order_id, &actor.user_id, true).map(|_| ()),
        Standing::Buyer => store::order_for(conn, order_id, &actor.user_id, false).map(|_| ()),
        Standing::Seller(shops) => {
            let own = store::parts_of(conn, order_id)?
                .iter()
                .any(|p| shops.contains(&p.shop_id));
            if own {
                Ok(())
            } else {
                Err(store::order_not_found())
            }
        }
    };
    all?;
    let mut views = returns_of_order(conn, order_id)?;
    if let Standing::Seller(shops) = &actor.standing {
        views.retain(|r| shops.contains(&r.shop_id));
    }
    Ok(views)
}

/// Which returns a list holds.
#[derive(Debug, Clone, Default)]
pub struct ReturnFilter {
    pub status: Option<ReturnStatus>,
    /// Returns of this shop's parts.
    pub shop_id: Option<String>,
    /// Created before (the last one seen: the next page).
    pub created_before: Option<NaiveDateTime>,
}

/// A page of returns, newest first: staff see every return, a seller its
/// shops', a buyer their orders'.
///
/// # Errors
/// 404 `shop` when a seller names a shop not theirs.
pub fn list_returns(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &ReturnFilter,
    limit: i64,
) -> Result<Vec<ReturnView>, AppError> {
    let mut query = returns::table
        .select(ReturnRow::as_select())
        .order((returns::created_at.desc(), returns::id.desc()))
        .limit(limit.clamp(1, RETURNS_PAGE_MAX))
        .into_boxed();
    match &actor.standing {
        Standing::Staff => {}
        Standing::Seller(shops) => {
            if filter.shop_id.as_ref().is_some_and(|s| !shops.contains(s)) {
                return Err(AppError::NotFound { resource: "shop" });
            }
            query = query.filter(
                returns::part_id.eq_any(
                    order_parts::table
                        .filter(order_parts::shop_id.eq_any(shops.clone()))
                        .select(order_parts::id),
                ),
            );
        }
        Standing::Buyer => {
            query = query.filter(
                returns::order_id.eq_any(
                    orders::table
                        .filter(orders::buyer_user_id.eq(actor.user_id.clone()))
                        .select(orders::id),
                ),
            );
        }
    }
    if let Some(shop_id) = &filter.shop_id {
        query = query.filter(
            returns::part_id.eq_any(
                order_parts::table
                    .filter(order_parts::shop_id.eq(shop_id.clone()))
                    .select(order_parts::id),
            ),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(returns::status.eq(status.as_str()));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(returns::created_at.lt(before));
    }
    let rows = query.load(conn)?;
    views_of(conn, rows)
}

fn view_of(conn: &mut DbConnection, id: &str) -> Result<ReturnView, AppError> {
    let row = find_row(conn, id)?.ok_or_else(not_found)?;
    Ok(views_of(conn, vec![row])?.remove(0))
}

/// The views of `rows`, in their order, with their lines, parts and refunds.
fn views_of(conn: &mut DbConnection, rows: Vec<ReturnRow>) -> Result<Vec<ReturnView>, AppError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let part_ids: Vec<&str> = rows.iter().map(|r| r.part_id.as_str()).collect();
    let refund_ids: Vec<&str> = rows.iter().filter_map(|r| r.refund_id.as_deref()).collect();
    let lines: Vec<(String, String, i64, String, String, i64)> = return_lines::table
        .inner_join(order_lines::table)
        .filter(return_lines::return_id.eq_any(&ids))
        .order(order_lines::position.asc())
        .select((
            return_lines::return_id,
            return_lines::line_id,
            return_lines::quantity,
            order_lines::sku,
            order_lines::title,
            order_lines::unit_price_minor,
        ))
        .load(conn)?;
    let parts: HashMap<String, (String, String)> = order_parts::table
        .inner_join(orders::table)
        .filter(order_parts::id.eq_any(&part_ids))
        .select((order_parts::id, order_parts::shop_id, orders::currency))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, shop, currency)| (id, (shop, currency)))
        .collect();
    let refunds: HashMap<String, (i64, String)> = refund_rows::table
        .filter(refund_rows::id.eq_any(&refund_ids))
        .select((
            refund_rows::id,
            refund_rows::amount_minor,
            refund_rows::status,
        ))
        .load::<(String, i64, String)>(conn)?
        .into_iter()
        .map(|(id, amount, status)| (id, (amount, status)))
        .collect();
    rows.into_iter()
        .map(|row| {
            let corrupt = |what: &str| {
                AppError::Internal(anyhow::anyhow!("return {} has an invalid {what}", row.id))
            };
            let (shop_id, currency) = parts.get(&row.part_id).ok_or_else(|| corrupt("part"))?;
            let currency = Currency::parse(currency).map_err(|_| corrupt("currency"))?;
            let status = ReturnStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?;
            let lines: Vec<ReturnLineView> = lines
                .iter()
                .filter(|l| l.0 == row.id)
                .map(
                    |(_, line_id, quantity, sku, title, unit_price)| ReturnLineView {
                        line_id: line_id.clone(),
                        sku: sku.clone(),
                        title: title.clone(),
                        unit_price: Money::new(*unit_price, currency),
                        quantity: *quantity,
                        amount: Money::new(unit_price * quantity, currency),
                    },
                )
                .collect();
            let refund = match &row.refund_id {
                None => None,
                Some(id) => {
                    let (amount, status) = refunds.get(id).ok_or_else(|| corrupt("refund"))?;
                    Some(ReturnRefundView {
                        id: id.clone(),
                        amount: Money::new(*amount, currency),
                        status: status.clone(),
                    })
                }
            };
            Ok(ReturnView {
                amount: Money::new(lines.iter().map(|l| l.amount.minor).sum(), currency),
                lines,
                refund,
                shop_id: shop_id.clone(),
                status,
                id: row.id,
                order_id: row.order_id,
                part_id: row.part_id,
                reason: row.reason,
                refusal_reason: row.refusal_reason,
                return_address: row.return_address,
                carrier: row.carrier,
                tracking_number: row.tracking_number,
                tracking_url: row.tracking_url,
                restock: row.restock,
                created_at: rfc3339(row.created_at),
                updated_at: rfc3339(row.updated_at),
            })
        })
        .collect()
}

/// The buyer's returns still under way (requested, approved or shipped back).
///
/// # Errors
/// Database errors.
pub fn buyer_returns_open(conn: &mut DbConnection, user_id: &str) -> Result<i64, AppError> {
    let order_ids: Vec<String> = orders::table
        .filter(orders::buyer_user_id.eq(user_id))
        .select(orders::id)
        .load(conn)?;
    let open = [
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::ShippedBack,
    ]
    .map(ReturnStatus::as_str);
    Ok(returns::table
        .filter(returns::order_id.eq_any(&order_ids))
        .filter(returns::status.eq_any(open))
        .count()
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, day)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn request(lines: &[(&str, i64)], reason: &str) -> ReturnRequest {
        ReturnRequest {
            part_id: None,
            lines: lines
                .iter()
                .map(|(id, quantity)| ReturnLineRequest {
                    line_id: (*id).into(),
                    quantity: *quantity,
                })
                .collect(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_line_returns_what_was_delivered_and_is_not_refunded_or_held() {
        // 3 ordered, 3 delivered, nothing else: all 3.
        assert_eq!(units_left(3, 3, 0, 0, 0), 3);
        // One in an open return.
        assert_eq!(units_left(3, 3, 0, 0, 1), 2);
        // One received and refunded through its return: counted once.
        assert_eq!(units_left(3, 3, 1, 1, 1), 2);
        // One refunded directly by the seller after delivery.
        assert_eq!(units_left(3, 3, 1, 0, 0), 2);
        // One refunded before shipping, two shipped and delivered: both.
        assert_eq!(units_left(3, 2, 1, 0, 0), 2);
        // Nothing delivered.
        assert_eq!(units_left(3, 0, 0, 0, 0), 0);
        // Never negative.
        assert_eq!(units_left(2, 2, 2, 0, 1), 0);
    }

    #[test]
    #[should_panic(expected = "received returns' refunds")]
    fn refunds_by_returns_never_exceed_the_lines_refunds() {
        units_left(3, 3, 0, 1, 1);
    }

    #[test]
    fn the_window_counts_days_from_delivery_by_the_given_clock() {
        let delivered = at(1, 12);
        assert!(window_open(30, delivered, at(31, 12)).is_ok());
        assert_eq!(
            window_open(30, delivered, at(31, 13)).unwrap_err().code(),
            "return_window_closed"
        );
        assert_eq!(
            window_open(0, delivered, at(1, 12)).unwrap_err().code(),
            "returns_not_accepted"
        );
    }

    #[test]
    fn requests_are_checked_in_shape() {
        let parsed = request(&[("oln_1", 2)], "  too small  ").parse().unwrap();
        assert_eq!(parsed.reason, "too small");
        assert_eq!(parsed.lines, vec![("oln_1".to_owned(), 2)]);
        let error = request(&[], "x").parse().unwrap_err();
        assert_eq!(error.param(), Some("lines"));
        let error = request(&[("oln_1", 0)], "x").parse().unwrap_err();
        assert_eq!(error.param(), Some("lines[0].quantity"));
        let error = request(&[("oln_1", 1), ("oln_1", 1)], "x")
            .parse()
            .unwrap_err();
        assert_eq!(error.param(), Some("lines[1].line_id"));
        for reason in ["", "   ", "bad\u{7}", "two\nlines", "\u{202E}evil"] {
            let error = request(&[("oln_1", 1)], reason).parse().unwrap_err();
            assert_eq!(error.param(), Some("reason"), "{reason:?}");
        }
        let long = "x".repeat(REASON_CHARS_MAX + 1);
        assert!(request(&[("oln_1", 1)], &long).parse().is_err());
        assert!(request(&[("oln_1", 1)], &long[1..]).parse().is_ok());
    }

    #[test]
    fn addresses_span_lines_and_tracking_links_are_web_links() {
        let approve = ApproveRequest {
            return_address: "Returns desk\r\n1 Dock Rd\r\nPortland".into(),
        };
        assert_eq!(
            approve.parse().unwrap(),
            "Returns desk\n1 Dock Rd\nPortland"
        );
        let empty = ApproveRequest {
            return_address: " ".into(),
        };
        assert_eq!(empty.parse().unwrap_err().param(), Some("return_address"));
        let tracking = |url: Option<&str>| TrackingRequest {
            carrier: " UPS ".into(),
            tracking_number: "1Z999".into(),
            tracking_url: url.map(str::to_owned),
        };
        assert_eq!(tracking(None).parse().unwrap().carrier, "UPS");
        assert_eq!(tracking(Some("")).parse().unwrap().tracking_url, None);
        assert!(tracking(Some("https://ups.example/t/1Z999"))
            .parse()
            .is_ok());
        for bad in ["javascript:alert(1)", "ftp://ups.example/t"] {
            assert_eq!(
                tracking(Some(bad)).parse().unwrap_err().code(),
                "invalid_tracking_url"
            );
        }
    }

    #[test]
    fn one_key_names_one_return_per_order_and_requester() {
        let id = return_id_for("ord_1", "usr_1", "k");
        assert!(store::has_id_shape(&id, ID_PREFIX));
        assert_eq!(id, return_id_for("ord_1", "usr_1", "k"));
        assert_ne!(id, return_id_for("ord_1", "usr_1", "k2"));
        assert_ne!(id, return_id_for("ord_2", "usr_1", "k"));
        assert_ne!(id, return_id_for("ord_1", "usr_2", "k"));
        assert_eq!(refund_key(&id), format!("return:{id}"));
    }
}
