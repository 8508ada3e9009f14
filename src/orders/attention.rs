//! What the console's home counts about orders: those with a share held,
//! and disputes not decided yet.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{disputes, order_parts, orders};
use crate::db::DbConnection;
use crate::error::AppError;

/// Most open disputes the home page lists.
pub const OPEN_DISPUTES_SHOWN_MAX: i64 = 20;

/// How many orders have a part whose transfer to its shop is held
/// (`hold_reason` set: a frozen, restricted or refused shop): the orders
/// the staff search with `held=true` finds.
///
/// # Errors
/// A database failure.
pub fn held_orders_count(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(orders::table
        .filter(
            orders::id.eq_any(
                order_parts::table
                    .filter(order_parts::hold_reason.is_not_null())
                    .select(order_parts::order_id),
            ),
        )
        .count()
        .get_result(conn)?)
}

/// A dispute the provider has not decided yet.
#[derive(Debug, Clone, Queryable)]
pub struct OpenDispute {
    pub id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// The provider's status (`needs_response`, `under_review`, …).
    pub provider_status: String,
    pub opened_at: NaiveDateTime,
    /// When the provider wants the platform's evidence, if it said.
    pub evidence_due_by: Option<NaiveDateTime>,
}

/// How many disputes are open, and the `limit` whose evidence is due
/// soonest (those without a due date last, oldest first).
///
/// # Errors
/// A database failure.
pub fn open_disputes(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<(i64, Vec<OpenDispute>), AppError> {
    let count = disputes::table
        .filter(disputes::outcome.eq("open"))
        .count()
        .get_result(conn)?;
    let oldest = disputes::table
        .inner_join(orders::table.on(orders::id.eq(disputes::order_id)))
        .filter(disputes::outcome.eq("open"))
        // `IS NULL` first: NULLS LAST is not portable to SQLite's diesel.
        .order((
            disputes::evidence_due_by.is_null().asc(),
            disputes::evidence_due_by.asc(),
            disputes::created_at.asc(),
            disputes::id.asc(),
        ))
        .limit(limit.clamp(1, OPEN_DISPUTES_SHOWN_MAX))
        .select((
            disputes::id,
            disputes::order_id,
            disputes::amount_minor,
            orders::currency,
            disputes::provider_status,
            disputes::created_at,
            disputes::evidence_due_by,
        ))
        .load(conn)?;
    Ok((count, oldest))
}
