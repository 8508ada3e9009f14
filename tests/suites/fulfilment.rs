//! Test binary `fulfilment`: fulfilment, returns, payouts and the ledger.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../fulfilment_flow.rs"]
mod fulfilment_flow;
#[path = "../fulfilment_races.rs"]
mod fulfilment_races;
#[path = "../fulfilment_returns.rs"]
mod fulfilment_returns;
#[path = "../ledger_adjustments.rs"]
mod ledger_adjustments;
#[path = "../ledger_chaos.rs"]
mod ledger_chaos;
#[path = "../ledger_reconcile.rs"]
mod ledger_reconcile;
#[path = "../payouts_flow.rs"]
mod payouts_flow;
#[path = "../payouts_statements.rs"]
mod payouts_statements;
#[path = "../simulation.rs"]
mod simulation;
