//! What happened in the marketplace, told to the systems around it.
//!
//! A domain function records an event in the same transaction as the fact
//! ([`outbox::emit`]): a fact rolled back tells nothing, a fact committed
//! tells exactly once. Events carry a global sequence number; integrators
//! read them in that order from the feed ([`feed`]) or receive them as signed
//! webhooks. Staff see every event; a seller sees the events of its own shops,
//! each in that shop's view (its own part of an order, never another
//! seller's or the buyer's private data).

pub mod delivery;
pub mod endpoints;
pub mod endpoints_http;
pub mod feed;
pub mod http;
pub mod outbox;
pub mod retention;
pub mod schema;
pub mod signing;
pub mod types;
