//! What the console's home counts about payouts.

use diesel::prelude::*;

use super::schema::payouts;
use crate::db::DbConnection;
use crate::error::AppError;

/// How many payouts failed (the list `GET /v1/payouts?status=failed` answers).
///
/// # Errors
/// A database failure.
pub fn failed_count(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(payouts::table
        .filter(payouts::status.eq("failed"))
        .count()
        .get_result(conn)?)
}
