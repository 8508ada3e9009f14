//! Test binary `events`: the events feed, outgoing webhooks and the provider's incoming webhooks.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../events_feed.rs"]
mod events_feed;
#[path = "../events_order.rs"]
mod events_order;
#[path = "../events_orders.rs"]
mod events_orders;
#[path = "../webhooks_delivery.rs"]
mod webhooks_delivery;
#[path = "../webhooks_ingest.rs"]
mod webhooks_ingest;
#[path = "../webhooks_out.rs"]
mod webhooks_out;
#[path = "../webhooks_payloads.rs"]
mod webhooks_payloads;
