//! Fee rules and their versions; computing a fee is a pure function.
//!
//! A rule is scoped to the platform default, a category or one shop (most specific
//! wins: shop > category > platform). Its terms live in immutable versions, each
//! effective from a timestamp; an order part stores the version id it was priced
//! with, so past orders never change. [`fee_for`] prices a part with a version and
//! touches no database; [`rule_in_force`] finds the version that applies.

mod http;
pub mod manage;
mod model;
pub mod schema;
mod store;

pub use http::routes;
pub use model::{
    fee_for, FeeBreakdown, FeeError, FeeRuleVersion, FeeScope, FeeTerms, ProcessingFeePayer,
    AMOUNT_MINOR_MAX, PERCENTAGE_SCALE_MAX,
};
pub use store::{
    create_rule, find_version, get_rule, list_rules, new_version, retire_rule, rule_in_force,
    FeeRule, ScopeJson,
};
