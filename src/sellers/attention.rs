//! What the console's home counts about shops.

use diesel::prelude::*;

use super::schema::shops;
use crate::db::DbConnection;
use crate::error::AppError;

/// How many shops that are not frozen are in the provider's onboarding
/// `status` (`pending`, `restricted`, …): the shops a status search finds.
///
/// # Errors
/// A database failure.
pub fn count_in_status(conn: &mut DbConnection, status: &str) -> Result<i64, AppError> {
    Ok(shops::table
        .filter(shops::frozen.eq(false))
        .filter(shops::onboarding_status.eq(status))
        .count()
        .get_result(conn)?)
}
