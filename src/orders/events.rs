//! The events an order's life emits, built from the same views as the API's
//! answers about it: staff get the whole order, each shop concerned only its
//! own part (never another seller's, never the buyer's email).
//!
//! Every function here records in the caller's transaction: call it next to
//! the state change it tells of, once that change is known to have happened.

use serde::Serialize;
use serde_json::Value;

use super::store::{self, MovementRow, OrderRecord};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::events::outbox::{self, NewEvent};
use crate::events::types::EventType;
use crate::money::Money;

/// A payload as JSON; a view that does not serialize is a bug.
pub(crate) fn payload<T: Serialize>(view: &T) -> Result<Value, AppError> {
    serde_json::to_value(view)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("event payload does not serialize: {e}")))
}

/// Which of the order's shops see an order event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seen<'a> {
    /// Every shop with a part in the order.
    ByEveryShop,
    /// Only the shops of these parts (by part id).
    ByPartsShops(&'a [String]),
}

fn order_event(
    record: &OrderRecord,
    kind: EventType,
    seen: Seen<'_>,
) -> Result<NewEvent, AppError> {
    let mut event = NewEvent::new(kind, payload(&record.view()?)?).order(&record.order.id);
    for part in &record.parts {
        let concerned = match seen {
            Seen::ByEveryShop => true,
            Seen::ByPartsShops(part_ids) => part_ids.contains(&part.id),
        };
        if !concerned {
            continue;
        }
        if let Some(view) = record.seller_view(&part.shop_id)? {
            event = event.seen_by(&part.shop_id, payload(&view)?);
        }
    }
    Ok(event)
}

/// Records `kind` about the order as it stands now, seen by `seen`'s shops.
///
/// # Errors
/// An unknown order; a database failure.
pub(crate) fn emit_order(
    conn: &mut DbConnection,
    order_id: &str,
    kind: EventType,
    seen: Seen<'_>,
) -> Result<(), AppError> {
    let record = store::load_order(conn, order_id)?.ok_or_else(store::order_not_found)?;
    outbox::emit(conn, order_event(&record, kind, seen)?)?;
    Ok(())
}

/// What a transfer or reversal event tells of the movement itself.
#[derive(Debug, Serialize)]
struct MovementPayload<'a> {
    id: &'a str,
    /// `transfer` or `reversal`.
    kind: &'a str,
    amount: Money,
    /// The provider's transfer or reversal.
    provider_id: &'a str,
    /// For a reversal: the movement (transfer) it takes back from.
    reverses_id: Option<&'a str>,
}

/// Records that a part's transfer or reversal went through: its shop (and
/// staff) see the part's settlement as the API shows it now, and the movement.
///
/// # Errors
/// An unknown order or part; a database failure.
pub(crate) fn emit_movement(
    conn: &mut DbConnection,
    order_id: &str,
    movement: &MovementRow,
    provider_id: &str,
) -> Result<(), AppError> {
    let kind = if movement.kind == "reversal" {
        EventType::PartTransferReversed
    } else {
        EventType::PartTransferSent
    };
    let record = store::load_order(conn, order_id)?.ok_or_else(store::order_not_found)?;
    let view = record.view()?;
    let part = view
        .parts
        .iter()
        .find(|p| p.id == movement.part_id)
        .ok_or(AppError::NotFound { resource: "part" })?;
    let data = serde_json::json!({
        "order_id": order_id,
        "part_id": part.id,
        "shop_id": part.shop_id,
        "settlement": payload(&part.settlement)?,
        "movement": payload(&MovementPayload {
            id: &movement.id,
            kind: &movement.kind,
            amount: Money::new(movement.amount_minor, record.currency),
            provider_id,
            reverses_id: movement.reverses_id.as_deref(),
        })?,
    });
    outbox::emit(
        conn,
        NewEvent::new(kind, data)
            .order(order_id)
            .shop(&part.shop_id),
    )?;
    Ok(())
}
