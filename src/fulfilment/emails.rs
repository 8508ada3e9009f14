//! The emails fulfilment facts cause, queued (through the outbox) in the
//! transaction of each fact.

use crate::db::DbConnection;
use crate::error::AppError;

/// The buyer: a parcel left, with its tracking link.
pub(crate) fn part_shipped(_conn: &mut DbConnection, _shipment_id: &str) -> Result<(), AppError> {
    Ok(())
}

/// The buyer: the part arrived (or counts as arrived).
pub(crate) fn part_delivered(_conn: &mut DbConnection, _part_id: &str) -> Result<(), AppError> {
    Ok(())
}

/// The buyer and the seller: a part was cancelled before shipping, and why.
pub(crate) fn part_canceled(_conn: &mut DbConnection, _part_id: &str) -> Result<(), AppError> {
    Ok(())
}

/// The seller: a part passed its ship-by date unshipped.
pub(crate) fn part_late(_conn: &mut DbConnection, _part_id: &str) -> Result<(), AppError> {
    Ok(())
}

/// A return changed: requested (the seller, and the buyer's receipt),
/// approved (with the return address), refused (with the reason) or received
/// (the buyer).
pub(crate) fn return_changed(_conn: &mut DbConnection, _return_id: &str) -> Result<(), AppError> {
    Ok(())
}
