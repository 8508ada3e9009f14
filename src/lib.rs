//! Bazaar: a multi-party marketplace payments core.
//!
//! The crate is organised by capability (see README, "Architecture"); this
//! library is what the `bazaar` binary and the integration tests share.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod fees;
pub mod fulfilment;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod jobs;
pub mod ledger;
pub mod media;
pub mod money;
pub mod notify;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod reconcile;
pub mod sandbox;
pub mod sellers;
pub mod shipping;
pub mod telemetry;
pub mod web;
pub mod webhooks;
