//! Carts, checkout, and everything that happens to an order's money afterwards.
//!
//! - [`cart`]: one cart per buyer, lines from any number of shops.
//! - [`checkout`]: the cart becomes an order (one part per shop, each priced
//!   with the fee rule in force, stock reserved atomically) and one
//!   PaymentIntent on the platform account with `transfer_group` = order id.
//! - [`pay`]: a buyer confirms the order's payment with a card (again after a
//!   decline).
//! - [`payment`]: applying the intent's state (paid, failed, cancelled) and
//!   expiring unpaid orders.
//! - [`settlement`]: moving each seller's share to its connected account —
//!   transfers with `source_transaction` = the charge, reversals when money
//!   is taken back — converging on what the seller is owed.
//! - [`refunds`] and [`disputes`]: what they take back from whom;
//!   [`provider_refunds`]: refunds as the provider reports them (ours
//!   confirmed, ones made outside Bazaar booked against the platform).
//! - [`split`]: the pure arithmetic of all of these.
//! - `emails`: what the buyer and each seller are told, queued with each fact.
//! - [`sweeper`]: the background pass that finishes what requests could not.
//!
//! Provider events reach it through [`payment::apply_intent`] and
//! [`disputes::sync_dispute`] (see `webhooks`); `POST /v1/orders/{id}/sync` and
//! `POST /v1/disputes/{id}/sync` do the same on demand, for a missed event,
//! through [`sync`] (which the console's buttons call too).

pub mod attention;
pub mod books;
pub mod cart;
pub mod checkout;
pub mod disputes;
mod emails;
pub(crate) mod events;
mod http;
pub mod model;
pub mod pay;
pub mod payment;
pub mod privacy;
pub mod provider_refunds;
pub mod refunds;
pub mod release;
pub mod reports;
pub mod schema;
pub mod settlement;
pub mod split;
pub mod store;
mod sweep_each;
pub mod sweeper;
pub mod sync;

use diesel::prelude::*;

pub use checkout::{checkout, Buyer, CheckoutOutcome};
pub use http::routes;
pub(crate) use http::{fees_csv_answer, orders_csv_answer};
pub use model::{CheckoutRequest, OrderStatus, OrderView, RefundRequest, Shipping};

use crate::db::DbConnection;
use crate::error::AppError;

/// Puts every unit of an unpaid order back into stock.
pub(crate) fn release_order_stock(conn: &mut DbConnection, order_id: &str) -> Result<(), AppError> {
    use schema::order_lines;
    let lines: Vec<(String, i64)> = order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .select((order_lines::product_id, order_lines::quantity))
        .load(conn)?;
    for (product_id, quantity) in lines {
        crate::catalog::release_stock(conn, &product_id, quantity)?;
    }
    Ok(())
}
