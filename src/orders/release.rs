//! When a seller's share may leave the platform. Until a part is released its
//! settlement holds the share (it stays in the seller's `payable`), so a
//! refund or dispute before release takes from what is held and no transfer
//! has to be reversed. Releasing only marks the part; its settlement then
//! sends what is left, once, like any other transfer.

use diesel::prelude::*;

use super::schema::order_parts;
use super::store::{self, PartRow};
use crate::config::ReleasePolicy;
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// What just happened to a part's parcels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// Every unit left.
    Shipped,
    /// Everything arrived (or counts as arrived).
    Delivered,
}

/// Whether `milestone` releases a part sold under `policy`.
pub fn releases(policy: ReleasePolicy, milestone: Milestone) -> bool {
    match policy {
        ReleasePolicy::OnPayment => true,
        ReleasePolicy::OnShipment => true,
        ReleasePolicy::OnDelivery => milestone == Milestone::Delivered,
    }
}

/// The part's release policy as stored.
///
/// # Errors
/// A stored value the code does not know (a corrupt row).
pub(crate) fn policy_of(part: &PartRow) -> Result<ReleasePolicy, AppError> {
    ReleasePolicy::parse(&part.release_policy).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "part {} release policy {:?}",
            part.id,
            part.release_policy
        ))
    })
}

/// Releases the part at `now` if `milestone` meets its policy and it is not
/// released yet; marks it for settlement. Call it in the milestone's write
/// transaction. Returns whether this call released it.
///
/// # Errors
/// A database failure.
pub(crate) fn on_milestone(
    conn: &mut DbConnection,
    part: &PartRow,
    milestone: Milestone,
    now: chrono::NaiveDateTime,
) -> Result<bool, AppError> {
    if part.released_at.is_some() || !releases(policy_of(part)?, milestone) {
        return Ok(false);
    }
    let released = diesel::update(
        order_parts::table
            .find(&part.id)
            .filter(order_parts::released_at.is_null()),
    )
    .set((
        order_parts::released_at.eq(now),
        order_parts::needs_settlement.eq(true),
        order_parts::updated_at.eq(db::now()),
    ))
    .execute(conn)?;
    Ok(released == 1)
}

/// What the platform holds for a shop, per currency: for each paid part not
/// released yet, what its seller is owed and has not received.
///
/// # Errors
/// A database failure.
pub fn held_for_shop(
    conn: &mut DbConnection,
    shop_id: &str,
) -> Result<Vec<(String, i64)>, AppError> {
    use super::schema::{orders, part_movements, part_recoveries};
    let parts: Vec<(PartRow, String)> = order_parts::table
        .inner_join(orders::table)
        .filter(order_parts::shop_id.eq(shop_id))
        .filter(order_parts::released_at.is_null())
        .filter(orders::status.eq(super::OrderStatus::Paid.as_str()))
        .select((PartRow::as_select(), orders::currency))
        .load(conn)?;
    let ids: Vec<&str> = parts.iter().map(|(p, _)| p.id.as_str()).collect();
    let recoveries = part_recoveries::table
        .filter(part_recoveries::part_id.eq_any(&ids))
        .select(store::RecoveryRow::as_select())
        .load(conn)?;
    let movements = part_movements::table
        .filter(part_movements::part_id.eq_any(&ids))
        .select(store::MovementRow::as_select())
        .load(conn)?;
    let mut held = std::collections::BTreeMap::<String, i64>::new();
    for (part, currency) in &parts {
        let balance = store::part_balance(part, &recoveries, &movements);
        *held.entry(currency.clone()).or_default() +=
            (balance.target() - balance.transferred).max(0);
    }
    Ok(held.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_releases_at_its_milestone() {
        use Milestone::{Delivered, Shipped};
        use ReleasePolicy::{OnDelivery, OnPayment, OnShipment};
        assert!(releases(OnPayment, Shipped));
        assert!(releases(OnShipment, Shipped));
        assert!(releases(OnShipment, Delivered));
        assert!(!releases(OnDelivery, Shipped));
        assert!(releases(OnDelivery, Delivered));
    }
}
