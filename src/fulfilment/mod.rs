//! After the sale: each part's parcels (shipments with tracking), delivery
//! (by the seller, the buyer, or automatically), cancellations before
//! shipping and returns after delivery.
//!
//! - [`shipments`]: ship some or all units of a part, mark it delivered;
//!   the part's state (`unfulfilled → partially_shipped → shipped →
//!   delivered`) follows its lines' shipped units.
//! - [`cancel`]: a part cancelled before it shipped is refunded in full
//!   (shipping included) and restocked through the refund path.
//! - `returns`: a buyer's return of delivered lines, refunded when received.
//! - [`sweep`]: deadlines by the provider's clock — late parts, parts counted
//!   as delivered `release_after_days` after shipment, cancellations whose
//!   refund is still to send.
//!
//! Money moves only through `orders`: refunds through its refund path, and a
//! seller's share through its settlement, which holds the share until this
//! module releases the part ([`crate::orders::release`]). Orders never call
//! back into this module, so the dependency runs one way.

pub mod cancel;
mod emails;
mod http;
pub mod returns;
pub mod returns_http;
pub mod schema;
pub mod shipments;
pub mod sweep;

use diesel::prelude::*;

pub use http::routes;

use crate::auth::{Caller, RequestContext, Role, UserId};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::orders::schema::{order_parts, orders};

/// Longest carrier name and tracking number.
pub const TRACKING_FIELD_CHARS_MAX: usize = 100;
/// Longest tracking URL.
pub const TRACKING_URL_CHARS_MAX: usize = 2000;
/// Longest cancellation reason.
pub const REASON_CHARS_MAX: usize = 500;

/// Who acts on a part, as the request proved it.
#[derive(Debug, Clone)]
pub enum Standing {
    /// A seller (or its API key) owning these shops.
    Seller(Vec<String>),
    /// A buyer: only their own orders.
    Buyer,
    /// Operators and support.
    Staff,
}

/// A person acting on a part, and where the request came from (for the audit).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub standing: Standing,
    pub context: RequestContext,
}

impl Actor {
    /// The name a part records for who delivered it.
    fn delivered_by(&self) -> &'static str {
        match self.standing {
            Standing::Seller(_) => "seller",
            Standing::Buyer => "buyer",
            Standing::Staff => "staff",
        }
    }

    fn audit(&self, action: &str, subject: &str) -> crate::auth::AuditEntry {
        crate::auth::AuditEntry::new(action, subject)
            .actor(&UserId(self.user_id.clone()))
            .context(&self.context)
    }
}

/// Who `caller` is to a part, from its role: a seller carries its shops.
/// The API and the seller's pages build their actor here, so both are
/// held to the same ownership checks.
///
/// # Errors
/// A database failure.
pub async fn actor_of(
    pool: &DbPool,
    caller: Caller,
    context: RequestContext,
) -> Result<Actor, AppError> {
    let standing = match caller.role {
        Role::Seller => {
            let owner = caller.user_id.0.clone();
            let own = db::run(pool, move |conn| {
                crate::sellers::shops::list_shops(conn, Some(&owner))
            })
            .await?;
            Standing::Seller(own.into_iter().map(|s| s.id).collect())
        }
        Role::Buyer => Standing::Buyer,
        Role::Operator | Role::Finance | Role::Support => Standing::Staff,
    };
    Ok(Actor {
        user_id: caller.user_id.0,
        standing,
        context,
    })
}

/// A part and what the checks need of its order.
#[derive(Debug, Clone)]
pub(crate) struct PartOf {
    pub part: crate::orders::store::PartRow,
    pub order_status: String,
}

fn part_not_found() -> AppError {
    AppError::NotFound {
        resource: "order part",
    }
}

/// The part `part_id` of order `order_id` if `actor` may see it: its buyer,
/// a seller owning its shop, or staff. 404 otherwise, so ids cannot be probed.
pub(crate) fn part_for(
    conn: &mut DbConnection,
    order_id: &str,
    part_id: &str,
    actor: &Actor,
) -> Result<PartOf, AppError> {
    let found: Option<(crate::orders::store::PartRow, String, String)> = order_parts::table
        .inner_join(orders::table)
        .filter(order_parts::id.eq(part_id))
        .filter(order_parts::order_id.eq(order_id))
        .select((
            crate::orders::store::PartRow::as_select(),
            orders::buyer_user_id,
            orders::status,
        ))
        .first(conn)
        .optional()?;
    let (part, buyer_user_id, order_status) = found.ok_or_else(part_not_found)?;
    let may_see = match &actor.standing {
        Standing::Staff => true,
        Standing::Buyer => buyer_user_id == actor.user_id,
        Standing::Seller(shops) => shops.contains(&part.shop_id),
    };
    if !may_see {
        return Err(part_not_found());
    }
    Ok(PartOf { part, order_status })
}

/// 409 unless the order is paid.
fn require_paid(part: &PartOf) -> Result<(), AppError> {
    if part.order_status == crate::orders::OrderStatus::Paid.as_str() {
        Ok(())
    } else {
        Err(AppError::Conflict {
            code: "order_not_paid",
            message: format!(
                "only paid orders are fulfilled; this one is {}",
                part.order_status
            ),
        })
    }
}

/// A trimmed single-line text field of 1..=`max` characters.
pub(crate) fn text_field(param: &str, value: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!("{param} is 1 to {max} characters"),
            Some(param.to_owned()),
        ));
    }
    if let Some(c) = crate::http::text::display_unfit(value, crate::http::text::Lines::Single) {
        return Err(AppError::unprocessable(
            "invalid_value",
            crate::http::text::unfit_message(param, c),
            Some(param.to_owned()),
        ));
    }
    Ok(value.to_owned())
}

/// A tracking link: an absolute `http` or `https` URL with a host.
pub(crate) fn tracking_url(param: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let refused = || {
        AppError::unprocessable(
            "invalid_tracking_url",
            format!(
                "{param} is an http(s) URL of at most {TRACKING_URL_CHARS_MAX} characters, e.g. https://carrier.example/track/123"
            ),
            Some(param.to_owned()),
        )
    };
    if value.chars().count() > TRACKING_URL_CHARS_MAX {
        return Err(refused());
    }
    let parsed = url::Url::parse(value).map_err(|_| refused())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(refused());
    }
    if crate::http::text::display_unfit(value, crate::http::text::Lines::Single).is_some() {
        return Err(refused());
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_urls_are_http_or_https_with_a_host() {
        assert!(tracking_url("u", "https://carrier.example/t/1").is_ok());
        assert!(tracking_url("u", "http://carrier.example/t?n=1").is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://carrier.example/t",
            "data:text/html,hi",
            "carrier.example/t",
            "https://",
            "",
        ] {
            assert_eq!(
                tracking_url("u", bad).unwrap_err().code(),
                "invalid_tracking_url",
                "{bad}"
            );
        }
        let long = format!(
            "https://carrier.example/{}",
            "a".repeat(TRACKING_URL_CHARS_MAX)
        );
        assert!(tracking_url("u", &long).is_err());
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(text_field("c", "  UPS ", 10).unwrap(), "UPS");
        assert!(text_field("c", "   ", 10).is_err());
        assert!(text_field("c", "a\u{0}b", 10).is_err());
        assert!(text_field("c", &"x".repeat(11), 10).is_err());
    }
}
