// The shared test harness and the helpers per area, included by every test
// binary's root (each is compiled into each binary; a binary uses a part).

#[path = "../catalog_support/mod.rs"]
mod catalog_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../orders_support/mod.rs"]
mod orders_support;
#[path = "../sandbox_support/mod.rs"]
mod sandbox_support;
#[path = "../smtp_support/mod.rs"]
mod smtp_support;
#[path = "../web_support/mod.rs"]
mod web_support;
