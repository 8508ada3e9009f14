//! Shipping a part's units in one or more parcels, and delivery.
//!
//! A part's state follows its lines: `unfulfilled` until a unit ships,
//! `partially_shipped` while units are left (units refunded before shipping
//! are not waited for), `shipped` once none are, `delivered` once every
//! parcel arrived. Each change is one write transaction, serialised per part,
//! with its audit row, its email and, when the part's release policy is met,
//! the release of the seller's share.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::{shipment_lines, shipments};
use super::{emails, part_for, require_paid, Actor, PartOf, Standing, TRACKING_FIELD_CHARS_MAX};
use crate::db::{self, rfc3339, DbConnection, DbPool};
use crate::error::AppError;
use crate::events::types::EventType;
use crate::orders::release::{self, Milestone};
use crate::orders::schema::{order_lines, order_parts};
use crate::payments::Provider;

/// Most lines one shipment request lists.
const SHIPMENT_LINES_MAX: usize = 50;

/// One line of a shipment request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipLine {
    pub line_id: String,
    pub quantity: i64,
}

/// `POST /v1/orders/{id}/parts/{part_id}/shipments`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    /// 1 to 100 characters, e.g. `UPS`.
    pub carrier: String,
    /// 1 to 100 characters.
    pub tracking_number: String,
    /// An `http` or `https` link where the buyer follows the parcel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// The units in this parcel; without it, every unit not shipped yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<ShipLine>>,
}

/// One parcel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShipmentView {
    pub id: String,
    pub order_id: String,
    pub part_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: Option<String>,
    /// `shipped` or `delivered`.
    pub status: String,
    pub shipped_at: String,
    pub delivered_at: Option<String>,
    pub lines: Vec<ShipLine>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = shipments)]
struct ShipmentRow {
    id: String,
    order_id: String,
    part_id: String,
    carrier: String,
    tracking_number: String,
    tracking_url: Option<String>,
    status: String,
    shipped_at: NaiveDateTime,
    delivered_at: Option<NaiveDateTime>,
    created_by: String,
}

fn conflict(code: &'static str, message: String) -> AppError {
    AppError::Conflict { code, message }
}

/// The part's lines: `(id, quantity, refunded, shipped)`.
fn lines_of(
    conn: &mut DbConnection,
    part_id: &str,
) -> Result<Vec<(String, i64, i64, i64)>, AppError> {
    Ok(order_lines::table
        .filter(order_lines::part_id.eq(part_id))
        .order(order_lines::position.asc())
        .select((
            order_lines::id,
            order_lines::quantity,
            order_lines::refunded_quantity,
            order_lines::shipped_quantity,
        ))
        .load(conn)?)
}

/// Units of a line still to ship: neither shipped nor refunded.
fn unshipped(quantity: i64, refunded: i64, shipped: i64) -> i64 {
    (quantity - refunded - shipped).max(0)
}

/// The part's state from its lines and parcels.
fn status_from(lines: &[(String, i64, i64, i64)], parcels_in_transit: bool) -> &'static str {
    let shipped: i64 = lines.iter().map(|l| l.3).sum();
    let left: i64 = lines.iter().map(|l| unshipped(l.1, l.2, l.3)).sum();
    if shipped == 0 {
        "unfulfilled"
    } else if left > 0 {
        "partially_shipped"
    } else if parcels_in_transit {
        "shipped"
    } else {
        "delivered"
    }
}

fn load_shipments(
    conn: &mut DbConnection,
    part_ids: &[String],
) -> Result<Vec<ShipmentView>, AppError> {
    let rows: Vec<ShipmentRow> = shipments::table
        .filter(shipments::part_id.eq_any(part_ids))
        .order((shipments::shipped_at.asc(), shipments::id.asc()))
        .select(ShipmentRow::as_select())
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let lines: Vec<(String, String, i64)> = shipment_lines::table
        .filter(shipment_lines::shipment_id.eq_any(&ids))
        .select((
            shipment_lines::shipment_id,
            shipment_lines::line_id,
            shipment_lines::quantity,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| ShipmentView {
            lines: lines
                .iter()
                .filter(|(shipment, _, _)| *shipment == row.id)
                .map(|(_, line_id, quantity)| ShipLine {
                    line_id: line_id.clone(),
                    quantity: *quantity,
                })
                .collect(),
            id: row.id,
            order_id: row.order_id,
            part_id: row.part_id,
            carrier: row.carrier,
            tracking_number: row.tracking_number,
            tracking_url: row.tracking_url,
            status: row.status,
            shipped_at: rfc3339(row.shipped_at),
            delivered_at: row.delivered_at.map(rfc3339),
        })
        .collect())
}

/// The parcels of an order that `actor` may see: all of them for its buyer
/// and staff, a seller's own parts' for a seller.
///
/// # Errors
/// 404 for an order the actor has no part in.
pub fn shipments_of_order(
    conn: &mut DbConnection,
    order_id: &str,
    actor: &Actor,
) -> Result<Vec<ShipmentView>, AppError> {
    let parts: Vec<(String, String, String)> = order_parts::table
        .inner_join(crate::orders::schema::orders::table)
        .filter(order_parts::order_id.eq(order_id))
        .select((
            order_parts::id,
            order_parts::shop_id,
            crate::orders::schema::orders::buyer_user_id,
        ))
        .load(conn)?;
    let visible: Vec<String> = parts
        .iter()
        .filter(|(_, shop_id, buyer)| match &actor.standing {
            Standing::Staff => true,
            Standing::Buyer => *buyer == actor.user_id,
            Standing::Seller(shops) => shops.contains(shop_id),
        })
        .map(|(id, _, _)| id.clone())
        .collect();
    if visible.is_empty() {
        return Err(AppError::NotFound { resource: "order" });
    }
    load_shipments(conn, &visible)
}

/// What a ship request asks for, checked against the part: `(line, units)`.
fn units_to_ship(
    request: &ShipRequest,
    lines: &[(String, i64, i64, i64)],
) -> Result<Vec<(String, i64)>, AppError> {
    let Some(asked) = &request.lines else {
        let all: Vec<(String, i64)> = lines
            .iter()
            .map(|(id, quantity, refunded, shipped)| {
                (id.clone(), unshipped(*quantity, *refunded, *shipped))
            })
            .filter(|(_, units)| *units > 0)
            .collect();
        if all.is_empty() {
            return Err(conflict(
                "already_shipped",
                "every unit of this part has shipped (or was refunded); nothing is left to ship"
                    .into(),
            ));
        }
        return Ok(all);
    };
    if asked.is_empty() || asked.len() > SHIPMENT_LINES_MAX {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!(
                "lines lists 1 to {SHIPMENT_LINES_MAX} lines; leave it out to ship every unit left"
            ),
            Some("lines".into()),
        ));
    }
    let mut units = Vec::with_capacity(asked.len());
    for (i, line) in asked.iter().enumerate() {
        let Some((_, quantity, refunded, shipped)) = lines.iter().find(|l| l.0 == line.line_id)
        else {
            return Err(AppError::unprocessable(
                "unknown_line",
                format!("line {} is not a line of this part", line.line_id),
                Some(format!("lines[{i}].line_id")),
            ));
        };
        if units.iter().any(|(id, _)| *id == line.line_id) {
            return Err(AppError::unprocessable(
                "invalid_value",
                "a line is listed twice",
                Some(format!("lines[{i}].line_id")),
            ));
        }
        let left = unshipped(*quantity, *refunded, *shipped);
        if line.quantity < 1 || line.quantity > left {
            let code = if line.quantity < 1 {
                "invalid_value"
            } else {
                "exceeds_unshipped"
            };
            return Err(AppError::unprocessable(
                code,
                format!(
                    "line {} has {left} unit(s) left to ship; quantity is 1 to {left}, {} asked for",
                    line.line_id, line.quantity
                ),
                Some(format!("lines[{i}].quantity")),
            ));
        }
        units.push((line.line_id.clone(), line.quantity));
    }
    Ok(units)
}

/// Ships units of a part (every unit left, without `lines`) in one parcel.
///
/// # Errors
/// 404 for a part the actor may not act on; 409 `order_not_paid`,
/// `part_canceled`, `already_shipped`; 422 `invalid_value`,
/// `invalid_tracking_url`, `unknown_line`, `exceeds_unshipped` — nothing written.
pub fn ship(
    conn: &mut DbConnection,
    order_id: &str,
    part_id: &str,
    actor: &Actor,
    request: &ShipRequest,
    now: NaiveDateTime,
) -> Result<ShipmentView, AppError> {
    let carrier = super::text_field("carrier", &request.carrier, TRACKING_FIELD_CHARS_MAX)?;
    let tracking_number = super::text_field(
        "tracking_number",
        &request.tracking_number,
        TRACKING_FIELD_CHARS_MAX,
    )?;
    let tracking_url = request
        .tracking_url
        .as_deref()
        .map(|url| super::tracking_url("tracking_url", url))
        .transpose()?;
    db::write_transaction(conn, |conn| {
        db::serialize_on(conn, &format!("fulfilment:{part_id}"))?;
        let PartOf { part, .. } = {
            let found = part_for(conn, order_id, part_id, actor)?;
            require_paid(&found)?;
            found
        };
        if part.fulfilment_status == "canceled" {
            return Err(conflict(
                "part_canceled",
                "this part was cancelled; nothing of it ships".into(),
            ));
        }
        let lines = lines_of(conn, part_id)?;
        let units = units_to_ship(request, &lines)?;
        let shipment_id = crate::orders::store::new_id("shp");
        diesel::insert_into(shipments::table)
            .values(&ShipmentRow {
                id: shipment_id.clone(),
                order_id: order_id.to_owned(),
                part_id: part_id.to_owned(),
                carrier: carrier.clone(),
                tracking_number: tracking_number.clone(),
                tracking_url: tracking_url.clone(),
                status: "shipped".into(),
                shipped_at: now,
                delivered_at: None,
                created_by: actor.user_id.clone(),
            })
            .execute(conn)?;
        for (line_id, quantity) in &units {
            diesel::insert_into(shipment_lines::table)
                .values((
                    shipment_lines::shipment_id.eq(&shipment_id),
                    shipment_lines::line_id.eq(line_id),
                    shipment_lines::quantity.eq(quantity),
                ))
                .execute(conn)?;
            diesel::update(order_lines::table.find(line_id))
                .set(order_lines::shipped_quantity.eq(order_lines::shipped_quantity + quantity))
                .execute(conn)?;
        }
        let lines = lines_of(conn, part_id)?;
        let status = status_from(&lines, true);
        let fully_shipped = status == "shipped";
        diesel::update(order_parts::table.find(part_id))
            .set((
                order_parts::fulfilment_status.eq(status),
                order_parts::shipped_at.eq(fully_shipped.then_some(now)),
                order_parts::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        let released =
            fully_shipped && release::on_milestone(conn, &part, Milestone::Shipped, now)?;
        crate::auth::record_audit(
            conn,
            actor
                .audit("part.ship", part_id)
                .before(serde_json::json!({"fulfilment_status": part.fulfilment_status}))
                .after(serde_json::json!({
                    "fulfilment_status": status,
                    "shipment_id": shipment_id,
                    "units": units.iter().map(|(line, q)| serde_json::json!({"line_id": line, "quantity": q})).collect::<Vec<_>>(),
                    "released": released,
                })),
        )?;
        emails::part_shipped(conn, &shipment_id)?;
        if fully_shipped && part.fulfilment_status != "shipped" {
            announce(conn, order_id, part_id, EventType::PartShipped)?;
        }
        let mut views = load_shipments(conn, &[part_id.to_owned()])?;
        let view = views
            .iter()
            .position(|v| v.id == shipment_id)
            .map(|i| views.swap_remove(i))
            .expect("the shipment just written");
        Ok(view)
    })
}

/// Records `kind` about the part: staff see the order, the part's shop its
/// own view of it.
pub(super) fn announce(
    conn: &mut DbConnection,
    order_id: &str,
    part_id: &str,
    kind: EventType,
) -> Result<(), AppError> {
    crate::orders::events::emit_order(
        conn,
        order_id,
        kind,
        crate::orders::events::Seen::ByPartsShops(&[part_id.to_owned()]),
    )
}

/// Sends a part's share if shipping or delivery just released it. The fact
/// is recorded either way: a provider that is down leaves the part marked,
/// and the orders sweep sends it.
async fn settle_released(pool: &DbPool, provider: &dyn Provider, part_id: &str) {
    if let Err(error) = crate::orders::settlement::settle_part(pool, provider, part_id).await {
        tracing::warn!(%error, part_id, "released share not sent yet; the sweep retries");
    }
}

/// [`ship`], then the part's share sent if shipping released it: what the
/// API and the seller's pages do when a seller ships.
///
/// # Errors
/// Those of [`ship`]; the share's transfer never fails the shipment.
pub async fn ship_and_settle(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    part_id: &str,
    actor: Actor,
    request: ShipRequest,
    now: NaiveDateTime,
) -> Result<ShipmentView, AppError> {
    let shipment = {
        let (order_id, part_id) = (order_id.to_owned(), part_id.to_owned());
        db::run(pool, move |conn| {
            ship(conn, &order_id, &part_id, &actor, &request, now)
        })
        .await?
    };
    settle_released(pool, provider, part_id).await;
    Ok(shipment)
}

/// [`deliver`] by `actor`, then the part's share sent if delivery released
/// it; the part's parcels as they are now.
///
/// # Errors
/// Those of [`deliver`].
pub async fn deliver_and_settle(
    pool: &DbPool,
    provider: &dyn Provider,
    order_id: &str,
    part_id: &str,
    actor: Actor,
    now: NaiveDateTime,
) -> Result<Vec<ShipmentView>, AppError> {
    let parcels = {
        let (order_id, part_id) = (order_id.to_owned(), part_id.to_owned());
        db::run(pool, move |conn| {
            deliver(conn, &order_id, &part_id, Some(&actor), now)?;
            let all = shipments_of_order(conn, &order_id, &actor)?;
            Ok(all.into_iter().filter(|s| s.part_id == part_id).collect())
        })
        .await?
    };
    settle_released(pool, provider, part_id).await;
    Ok(parcels)
}

/// Marks every parcel of the part that is on its way as delivered; once all
/// units shipped and arrived, the part is delivered (and released under
/// `on_delivery`). `actor` `None` is the sweep counting it as delivered.
///
/// # Errors
/// 404 for a part the actor may not see; 409 `order_not_paid`,
/// `part_canceled`, `not_shipped`, `already_delivered`.
pub fn deliver(
    conn: &mut DbConnection,
    order_id: &str,
    part_id: &str,
    actor: Option<&Actor>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    db::write_transaction(conn, |conn| {
        db::serialize_on(conn, &format!("fulfilment:{part_id}"))?;
        let found = match actor {
            Some(actor) => part_for(conn, order_id, part_id, actor)?,
            None => part_for(
                conn,
                order_id,
                part_id,
                &Actor {
                    user_id: String::new(),
                    standing: Standing::Staff,
                    context: crate::auth::RequestContext::default(),
                },
            )?,
        };
        require_paid(&found)?;
        let part = found.part;
        match part.fulfilment_status.as_str() {
            "canceled" => {
                return Err(conflict(
                    "part_canceled",
                    "this part was cancelled; it is not delivered".into(),
                ))
            }
            "unfulfilled" => {
                return Err(conflict(
                    "not_shipped",
                    "nothing of this part has shipped yet; it cannot be delivered".into(),
                ))
            }
            "delivered" => {
                return Err(conflict(
                    "already_delivered",
                    "this part was already delivered".into(),
                ))
            }
            _ => {}
        }
        let delivered_parcels = diesel::update(
            shipments::table
                .filter(shipments::part_id.eq(part_id))
                .filter(shipments::status.eq("shipped")),
        )
        .set((
            shipments::status.eq("delivered"),
            shipments::delivered_at.eq(now),
        ))
        .execute(conn)?;
        if delivered_parcels == 0 {
            return Err(conflict(
                "already_delivered",
                "every parcel of this part has arrived; the rest has not shipped yet".into(),
            ));
        }
        let lines = lines_of(conn, part_id)?;
        let status = status_from(&lines, false);
        let delivered = status == "delivered";
        let by = actor.map_or("automatic", Actor::delivered_by);
        if delivered {
            diesel::update(order_parts::table.find(part_id))
                .set((
                    order_parts::fulfilment_status.eq(status),
                    order_parts::delivered_at.eq(now),
                    order_parts::delivered_by.eq(by),
                    order_parts::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
        }
        let released = delivered && release::on_milestone(conn, &part, Milestone::Delivered, now)?;
        let entry = match actor {
            Some(actor) => actor.audit("part.deliver", part_id),
            None => crate::auth::AuditEntry::new("part.deliver", part_id),
        };
        crate::auth::record_audit(
            conn,
            entry
                .before(serde_json::json!({"fulfilment_status": part.fulfilment_status}))
                .after(serde_json::json!({
                    "fulfilment_status": if delivered { status } else { part.fulfilment_status.as_str() },
                    "parcels_delivered": delivered_parcels,
                    "delivered_by": by,
                    "released": released,
                })),
        )?;
        if delivered {
            emails::part_delivered(conn, part_id)?;
            announce(conn, order_id, part_id, EventType::PartDelivered)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, quantity: i64, refunded: i64, shipped: i64) -> (String, i64, i64, i64) {
        (id.into(), quantity, refunded, shipped)
    }

    #[test]
    fn a_part_state_follows_its_units() {
        let none = [line("a", 2, 0, 0), line("b", 1, 0, 0)];
        assert_eq!(status_from(&none, true), "unfulfilled");
        let some = [line("a", 2, 0, 1), line("b", 1, 0, 0)];
        assert_eq!(status_from(&some, true), "partially_shipped");
        // A unit refunded before shipping is not waited for.
        let rest_refunded = [line("a", 2, 1, 1), line("b", 1, 1, 0)];
        assert_eq!(status_from(&rest_refunded, true), "shipped");
        assert_eq!(status_from(&rest_refunded, false), "delivered");
    }

    fn request(lines: Option<Vec<(&str, i64)>>) -> ShipRequest {
        ShipRequest {
            carrier: "UPS".into(),
            tracking_number: "1Z".into(),
            tracking_url: None,
            lines: lines.map(|l| {
                l.into_iter()
                    .map(|(id, quantity)| ShipLine {
                        line_id: id.into(),
                        quantity,
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn shipping_asks_for_units_that_are_left() {
        let lines = [line("a", 3, 1, 1), line("b", 1, 0, 1)];
        assert_eq!(
            units_to_ship(&request(None), &lines).unwrap(),
            vec![("a".to_owned(), 1)]
        );
        assert_eq!(
            units_to_ship(&request(Some(vec![("a", 2)])), &lines)
                .unwrap_err()
                .code(),
            "exceeds_unshipped"
        );
        assert_eq!(
            units_to_ship(&request(Some(vec![("b", 1)])), &lines)
                .unwrap_err()
                .code(),
            "exceeds_unshipped"
        );
        assert_eq!(
            units_to_ship(&request(Some(vec![("z", 1)])), &lines)
                .unwrap_err()
                .code(),
            "unknown_line"
        );
        assert_eq!(
            units_to_ship(&request(Some(vec![("a", 1), ("a", 1)])), &lines)
                .unwrap_err()
                .code(),
            "invalid_value"
        );
        let done = [line("a", 3, 1, 2)];
        assert_eq!(
            units_to_ship(&request(None), &done).unwrap_err().code(),
            "already_shipped"
        );
    }
}
