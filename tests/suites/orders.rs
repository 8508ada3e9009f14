//! Test binary `orders`: checkout, orders, fees and the money properties.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../backup_restore.rs"]
mod backup_restore;
#[path = "../crash_serve.rs"]
mod crash_serve;
#[path = "../failover.rs"]
mod failover;
#[path = "../fees_api.rs"]
mod fees_api;
#[path = "../fees_math.rs"]
mod fees_math;
#[path = "../money_determinism.rs"]
mod money_determinism;
#[path = "../money_policy.rs"]
mod money_policy;
#[path = "../money_policy_properties.rs"]
mod money_policy_properties;
#[path = "../money_properties.rs"]
mod money_properties;
#[path = "../orders_checkout.rs"]
mod orders_checkout;
#[path = "../orders_money.rs"]
mod orders_money;
#[path = "../orders_races.rs"]
mod orders_races;
#[path = "../scale_out.rs"]
mod scale_out;
