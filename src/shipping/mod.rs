//! What a shop charges to ship and how it takes things back: shipping rates by
//! destination, priced per part at checkout, and the shop's returns policy.
//! Depends on shops only; orders price with it, fulfilment reads the policy.
//!
//! - [`model`]: rates and policies as validated types, and the request shapes.
//! - [`quote()`]: the pure rule that prices one part (no database).
//! - [`store`]: reading and replacing a shop's set; quoting a cart's parts.
//! - `http`: `GET`/`PUT /v1/shops/{id}/shipping`, and the public read.

mod http;
pub mod model;
mod quote;
pub mod schema;
pub mod store;

pub use http::routes;
pub use model::{Destination, ShippingRate, ShopShipping, HANDLING_DAYS_DEFAULT};
pub use quote::{quote, Quote};
pub use store::{quote_parts, rates_of_shops, shop_shipping, PartToShip};

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::AppError;

/// Days a buyer may ask to return delivered lines when the shop set nothing.
pub const RETURN_WINDOW_DAYS_DEFAULT: i32 = 30;

/// A shop's returns policy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ReturnPolicy {
    /// Days after delivery a buyer may ask to return lines (0: no returns).
    pub window_days: i32,
    /// Whether a received return also refunds the part's shipping.
    pub refunds_shipping: bool,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        Self {
            window_days: RETURN_WINDOW_DAYS_DEFAULT,
            refunds_shipping: false,
        }
    }
}

/// The shop's returns policy (the defaults when it set none).
///
/// # Errors
/// A database failure.
pub fn return_policy(conn: &mut DbConnection, shop_id: &str) -> Result<ReturnPolicy, AppError> {
    use schema::shop_return_policies as p;
    let stored: Option<(i32, bool)> = p::table
        .find(shop_id)
        .select((p::window_days, p::refunds_shipping))
        .first(conn)
        .optional()?;
    Ok(
        stored.map_or_else(ReturnPolicy::default, |(window_days, refunds_shipping)| {
            ReturnPolicy {
                window_days,
                refunds_shipping,
            }
        }),
    )
}
