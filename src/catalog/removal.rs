//! Taking a product away: deleted when nothing refers to it, archived when
//! it was ever ordered (an order line keeps its product id for refunds,
//! restocking and reports, so that row must stay).

use diesel::prelude::*;
use serde::Serialize;

use super::cache;
use super::schema::products;
use super::store::product_for;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::orders::schema::{cart_lines, order_lines};

/// What [`remove_product`] did, so a page can tell the seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// The product is gone, and with it every cart line holding it.
    Deleted,
    /// The product was ordered before: it is inactive with `archived_at`
    /// set, and comes back with `active: true`.
    Archived,
}

impl Removal {
    /// The name in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Archived => "archived",
        }
    }
}

/// Deletes a product `viewer` may manage when no order line refers to it,
/// and archives it otherwise. Carts holding a deleted product lose that line
/// (buyers' carts then show what can still be bought).
///
/// # Errors
/// 404 for an unknown product or one of another seller's shop.
#[tracing::instrument(skip(conn))]
pub fn remove_product(
    conn: &mut DbConnection,
    product_id: &str,
    viewer: &str,
    staff: bool,
) -> Result<Removal, AppError> {
    let removal = db::write_transaction(conn, |conn| {
        let product = product_for(conn, product_id, viewer, staff)?;
        let ordered: i64 = order_lines::table
            .filter(order_lines::product_id.eq(product_id))
            .count()
            .get_result(conn)?;
        if ordered == 0 {
            // A savepoint: on PostgreSQL a checkout may insert an order line
            // (or a buyer a cart line) after the count above; the foreign key
            // then refuses the delete, and the product is archived instead.
            let deleted = db::write_transaction(conn, |conn| {
                diesel::delete(cart_lines::table.filter(cart_lines::product_id.eq(product_id)))
                    .execute(conn)?;
                diesel::delete(products::table.find(product_id)).execute(conn)
            });
            match deleted {
                Ok(1) => return Ok(Removal::Deleted),
                Ok(other) => {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "deleting product {product_id} removed {other} rows"
                    )))
                }
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                )) => {}
                Err(other) => return Err(other.into()),
            }
        }
        let now = db::now();
        diesel::update(products::table.find(product_id))
            .set((
                products::active.eq(false),
                // Archiving twice keeps the first date.
                products::archived_at.eq(product.archived_at.unwrap_or(now)),
                products::updated_at.eq(now),
            ))
            .execute(conn)?;
        // A delete has no event type: a deleted product was never ordered,
        // and integrators learn of it by its absence from the catalog.
        if product.active || product.archived_at.is_none() {
            let archived = super::store::find_product(conn, product_id)?
                .ok_or_else(super::store::product_not_found)?;
            super::store::emit_product_written(conn, product.stock, &archived)?;
        }
        Ok(Removal::Archived)
    });
    cache::invalidate(product_id);
    removal
}
