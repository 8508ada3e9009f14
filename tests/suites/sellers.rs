//! Test binary `sellers`: the seller workspace and shops.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../seller_money_pages.rs"]
mod seller_money_pages;
#[path = "../seller_notifications.rs"]
mod seller_notifications;
#[path = "../seller_orders_pages.rs"]
mod seller_orders_pages;
#[path = "../seller_security_pages.rs"]
mod seller_security_pages;
#[path = "../seller_workspace.rs"]
mod seller_workspace;
#[path = "../sellers_shops.rs"]
mod sellers_shops;
#[path = "../sellers_state.rs"]
mod sellers_state;
