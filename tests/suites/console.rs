//! Test binary `console`: the operator console and operator reports.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../operator_reports.rs"]
mod operator_reports;
#[path = "../operator_roles.rs"]
mod operator_roles;
#[path = "../ops_home_operations.rs"]
mod ops_home_operations;
#[path = "../ops_money.rs"]
mod ops_money;
#[path = "../ops_orders.rs"]
mod ops_orders;
#[path = "../ops_roles.rs"]
mod ops_roles;
#[path = "../ops_shops_fees.rs"]
mod ops_shops_fees;
#[path = "../ops_users.rs"]
mod ops_users;
